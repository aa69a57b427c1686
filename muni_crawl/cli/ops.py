"""`muni-crawl status` and `muni-crawl schedule`: operations for an unattended server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from muni_crawl.cli.common import (
    EXIT_OK,
    EXIT_OVERDUE,
    EXIT_PARTIAL,
    EXIT_UNREACHABLE,
    CliContext,
    emit,
    pass_home,
)
from muni_crawl.schedule import crontab_lines
from muni_crawl.status import Problem, problems, status_report

# status: the exit code for the worst problem (failing, unreachable, overdue)
STATUS_EXIT_CODES = {
    "failing": EXIT_PARTIAL,
    "unreachable": EXIT_UNREACHABLE,
    "overdue": EXIT_OVERDUE,
}

SOURCE_COLUMNS = [
    "source",
    "last_status",
    "last_started",
    "last_finished",
    "pages_live",
    "pages_deleted",
    "errors_since_success",
    "next_due",
    "health",
]
TENANT_COLUMNS = [
    "tenant",
    "index_version",
    "index_age_hours",
    "passages",
    "documents",
    "pending_reviews",
    "stale_reviews",
    "unanswerable",
]
SHARED_COLUMNS = ["source", "index_version", "index_age_hours", "passages", "documents"]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON instead of tables.")
@pass_home
def status(ctx: CliContext, as_json: bool) -> None:
    """Per source: last crawl, pages, errors, next due; per tenant: index and review backlog;
    the shared indexes of national text.

    Each source's health is ok, failing (its last crawl failed, was an anomaly or died),
    unreachable (its last crawl got no answer), OVERDUE (its schedule fired over an hour ago,
    or it was never crawled) or disabled. For a monitor: every enabled source that is not ok
    is named on stderr, and the exit code says the worst: 3 failing, 5 unreachable, 6
    overdue, 0 all well (with --json too). A broken calibration.toml of the home's own
    (`muni-crawl calibrate --write`, edited by hand) is failing too.

    Example: muni-crawl status --json
    """
    report = status_report(ctx.home)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        rows = [
            dict(row, health="OVERDUE" if row["health"] == "overdue" else row["health"])
            for row in report["sources"]
        ]
        click.echo("Sources:")
        emit(rows, SOURCE_COLUMNS, "table")
        click.echo("\nTenants:")
        emit(report["tenants"], TENANT_COLUMNS, "table")
        if report["shared_indexes"]:
            click.echo("\nShared indexes (national text, searched beside every tenant's):")
            emit(report["shared_indexes"], SHARED_COLUMNS, "table")
        if report["calibration"]["file"]:
            click.echo(
                f"\nEvidence gate: this home's own calibration, {report['calibration']['file']}"
            )
    found = problems(report)
    for problem in found:
        click.echo(f"{problem.health}: {problem.source}: {problem.detail}", err=True)
    sys.exit(status_exit_code(found))


def status_exit_code(found: list[Problem]) -> int:
    """The code of the worst problem (problems() puts it first); 0 when there is none."""
    return STATUS_EXIT_CODES[found[0].health] if found else EXIT_OK


@click.command()
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Log file (default: <home>/logs/muni-crawl.log).",
)
@pass_home
def schedule(ctx: CliContext, log_file: Path | None) -> None:
    """Print ready crontab lines for the installed muni-crawl: crawl what is due, and a daily
    status file.

    One `crawl --due` line runs at every minute that an enabled source's schedule can fire
    (and at least hourly, to retry failures), so no source waits past its own schedule; the
    lines log to a rotating file (--log) with timestamps. Print them again after changing a
    schedule.

    Example: muni-crawl schedule >> mycrontab && crontab mycrontab
    """
    home = ctx.home
    for line in crontab_lines(home.settings.home, home.registry.sources.values(), log_file):
        click.echo(line)
