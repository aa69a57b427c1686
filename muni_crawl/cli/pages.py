"""`muni-crawl pages` and `muni-crawl runs`: what the crawls stored."""

from __future__ import annotations

import click

from muni_crawl.cli.common import CliContext, emit, format_option, limit_option, pass_home


@click.command()
@click.option("--source", help="Only pages of this source.")
@click.option("--deleted", is_flag=True, help="Include pages marked deleted.")
@click.option("--text", "with_text", is_flag=True, help="Include each page's stored text.")
@format_option("table", "json", "csv")
@pass_home
def pages(ctx: CliContext, source: str | None, deleted: bool, with_text: bool, fmt: str) -> None:
    """List stored pages at their current version.

    Example: muni-crawl pages --source example --format json
    """
    with ctx.home.store() as store:
        found = store.pages(source, include_deleted=deleted)
    rows = [
        {
            "source": p.source,
            "url": p.url,
            "scope": p.scope,
            "municipality": p.municipality_code,
            "status": p.status,
            "version": p.version,
            "title": p.title,
            "chars": len(p.text),
            **({"text": p.text} if with_text else {}),
        }
        for p in found
    ]
    columns = ["source", "url", "scope", "municipality", "status", "version", "title", "chars"]
    emit(rows, columns + (["text"] if with_text else []), fmt)


@click.command()
@click.option("--source", help="Only runs of this source.")
@limit_option(20, "recent runs")
@format_option("table", "json", "csv")
@pass_home
def runs(ctx: CliContext, source: str | None, limit: int, fmt: str) -> None:
    """List recent crawl runs with their counts.

    Example: muni-crawl runs --source example --limit 5
    """
    with ctx.home.store() as store:
        rows = [r.to_dict() for r in store.runs(source, limit)]
    columns = [
        "id",
        "source",
        "status",
        "started_at",
        "finished_at",
        "fetched",
        "not_modified",
        "skipped",
        "new",
        "changed",
        "unchanged",
        "deleted",
        "failed",
        "message",
    ]
    emit(rows, columns, fmt)
