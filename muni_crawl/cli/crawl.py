"""`muni-crawl crawl`: crawl sources into the store and print one summary per source."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from muni_crawl.cli.common import (
    EXIT_FAILURE,
    EXIT_LOCKED,
    EXIT_PARTIAL,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliContext,
    emit,
    format_option,
    pass_home,
)
from muni_crawl.crawl import STOP_SIGNALS
from muni_crawl.index import BuildResult
from muni_crawl.priority import yield_to_questions
from muni_crawl.refresh import refresh
from muni_crawl.types import CrawlSummary

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = [
    "source",
    "status",
    "fetched",
    "unchanged",
    "changed",
    "new",
    "deleted",
    "failed",
    "duration_s",
    "message",
]


@click.command()
@click.argument("sources", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Crawl every enabled source.")
@click.option("--due", is_flag=True, help="Crawl the sources whose schedule says they are due.")
@click.option("--no-index", is_flag=True, help="Do not re-index the affected tenants afterwards.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Sources crawled at once (default: the crawl_workers setting).",
)
@format_option("table", "json", "csv")
@pass_home
def crawl(
    ctx: CliContext,
    sources: tuple[str, ...],
    all_: bool,
    due: bool,
    no_index: bool,
    workers: int | None,
    fmt: str,
) -> None:
    """Crawl SOURCES (names of spiders/*.toml files) or --all, politely and incrementally.

    Unchanged pages (304, or the same text) store no new version. Afterwards the tenants whose
    sources changed are re-indexed (unless --no-index). --due crawls the sources whose
    `schedule` fired since their last successful crawl (for cron). Exit codes: 3 some sources
    or pages failed, or a source looked broken and was left as it was; 4 a source is already
    being crawled by another process; 5 a source did not answer at all (status unreachable:
    connection refused, DNS, TLS or a timeout; nothing stored as changed, nothing deleted)
    and nothing else went wrong; 1 nothing could be crawled; 143 (SIGTERM) or 130
    (SIGINT) the crawl was stopped cleanly by that signal and nothing was re-indexed. A tenant
    whose index another process is building is left to that build (or the next crawl).
    Several sources are crawled at once (--workers, or the crawl_workers setting), never two
    on one host; each line a worker writes to stderr then starts with its source's name. The
    command runs at a lower CPU priority (the bulk_nice setting), so that questions answered
    on the same machine keep their speed.

    Example: muni-crawl crawl example example-borger
    """
    if sum([bool(sources), all_, due]) != 1:
        raise click.UsageError("name one or more SOURCES, or use --all or --due")
    # before any worker or embedding thread exists: they inherit it (the bulk_nice setting)
    yield_to_questions(ctx.home.settings.index.bulk_nice)

    def announce(tenants: list[str]) -> None:
        if not ctx.quiet:
            click.echo(f"Re-indexing {', '.join(tenants)} ...", err=True)

    with stop_signals_recorded() as stopped:
        result = refresh(
            None if all_ or due else sources,
            home=ctx.home,
            due=due,
            reindex=not no_index,
            progress=not ctx.quiet,
            verbose=ctx.verbose,
            stopped=lambda: bool(stopped),
            on_reindex=announce,
            workers=workers,
        )
    if due and not result.crawls:
        if not ctx.silent:
            click.echo("No source is due.", err=True)
        return
    emit([summary_row(s) for s in result.crawls], SUMMARY_COLUMNS, fmt)
    for summary in result.crawls:
        log_summary(summary)
    if stopped:
        click.echo(f"Stopped by {signal.Signals(stopped[0]).name}; nothing re-indexed.", err=True)
        sys.exit(128 + stopped[0])
    report_indexes(result.indexes, echo=not ctx.silent and not ctx.verbose)
    sys.exit(exit_code(result.crawls))


def log_summary(summary: CrawlSummary) -> None:
    """One log line per source (the log file's record of each run): INFO when it went well,
    WARNING when partly, ERROR when the source failed, looked broken or did not answer."""
    level = {"ok": logging.INFO, "partial": logging.WARNING, "locked": logging.WARNING}.get(
        summary.status, logging.ERROR
    )
    log.log(
        level,
        "crawl %s: %s, %d fetched, %d new, %d changed, %d deleted, %d failed%s",
        summary.source,
        summary.status,
        summary.fetched,
        summary.new,
        summary.changed,
        summary.deleted,
        summary.failed,
        f": {summary.message}" if summary.message else "",
    )


def report_indexes(results: list[BuildResult], echo: bool = True) -> None:
    """Each re-index on stderr (stdout carries the crawl summary) unless `echo` is off (with
    --quiet, or -v, where the log line shows), and in the log."""
    for result in results:
        if result.status == "busy":
            # not a failure: that build, or the next crawl's re-index, takes these changes in
            line = (
                f"index {result.tenant}: not rebuilt here, {result.message};"
                " it or the next crawl picks up this crawl's changes"
            )
        else:
            line = (
                f"index {result.tenant}: {result.status}, {result.passages} passages,"
                f" {result.new_embeddings} new embeddings"
            )
        log.info("%s", line)
        if echo:
            click.echo(line, err=True)


@contextmanager
def stop_signals_recorded() -> Iterator[list[int]]:
    """Record SIGTERM/SIGINT instead of dying: run_crawl stops its worker cleanly and then
    hands the signal on to us, so the summaries are still printed before we exit."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, record) for signum in STOP_SIGNALS}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def summary_row(summary: CrawlSummary) -> dict[str, object]:
    row = summary.to_dict()
    row["unchanged"] = summary.unchanged
    row["duration_s"] = round(summary.duration_s, 1)
    return row


def exit_code(summaries: list[CrawlSummary]) -> int:
    """0 ok, 1 all failed, 3 partly failed (or an anomaly), 5 a source was unreachable (and
    nothing failed otherwise), 4 a source was locked (and nothing else went wrong)."""
    if not summaries:
        return EXIT_USAGE
    statuses = {s.status for s in summaries}
    if statuses == {"failed"}:
        return EXIT_FAILURE
    if statuses & {"failed", "partial", "anomaly"}:
        return EXIT_PARTIAL
    if "unreachable" in statuses:
        return EXIT_UNREACHABLE
    if "locked" in statuses:
        return EXIT_LOCKED
    return 0
