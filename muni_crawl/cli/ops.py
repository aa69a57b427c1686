"""`muni-crawl status` and `muni-crawl schedule`: operations for an unattended server."""

from __future__ import annotations

import json
from pathlib import Path

import click

from muni_crawl.cli.common import CliContext, emit, pass_home
from muni_crawl.schedule import crontab_lines
from muni_crawl.status import status_report

SOURCE_COLUMNS = [
    "source",
    "last_status",
    "last_started",
    "last_finished",
    "pages_live",
    "pages_deleted",
    "errors_since_success",
    "next_due",
    "overdue",
]
TENANT_COLUMNS = [
    "tenant",
    "index_version",
    "index_age_hours",
    "passages",
    "documents",
    "pending_reviews",
    "stale_reviews",
]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON instead of tables.")
@pass_home
def status(ctx: CliContext, as_json: bool) -> None:
    """Per source: last crawl, pages, errors, next due; per tenant: index and review backlog.

    Sources overdue by their schedule are marked OVERDUE.

    Example: muni-crawl status --json
    """
    report = status_report(ctx.home)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    rows = [dict(row, overdue="OVERDUE" if row["overdue"] else "") for row in report["sources"]]
    click.echo("Sources:")
    emit(rows, SOURCE_COLUMNS, "table")
    click.echo("\nTenants:")
    emit(report["tenants"], TENANT_COLUMNS, "table")


@click.command()
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Log file (default: <home>/logs/muni-crawl.log).",
)
@pass_home
def schedule(ctx: CliContext, log_file: Path | None) -> None:
    """Print ready crontab lines: crawl what is due every 15 minutes, and a daily status file.

    Example: muni-crawl schedule >> mycrontab && crontab mycrontab
    """
    for line in crontab_lines(ctx.home.settings.home, log_file):
        click.echo(line)
