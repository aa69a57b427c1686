"""Crawling: run_crawl() runs one worker process per source, several at once, and collects
their summaries in the order of the names given.

Up to `crawl_workers` sources are crawled at the same time (see `worker_limit`), but never two
that share a host (muni_crawl.crawl.hosts): each host is throttled by one Scrapy crawl's own
delay and AutoThrottle, never by two at once. A source that fails does not stop the others.
Stop signals, worker deaths and stderr are handled by muni_crawl.crawl.supervisor: a
SIGTERM/SIGINT is forwarded to every running worker, and the sources not started yet are
reported as not crawled. With several workers at once, each line a worker writes to stderr
starts with its source's name, and a line per finished source says how it went.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from muni_crawl import logconfig
from muni_crawl.config import CrawlSettings, out_of_range, setting_metadata
from muni_crawl.crawl.hosts import share_a_host
from muni_crawl.crawl.supervisor import (
    STOP_SIGNALS,
    StopSignals,
    WorkerOutcome,
    WorkerProcess,
    tie_to_parent,
)
from muni_crawl.errors import ConfigError, CrawlError
from muni_crawl.home import Home, HomeLike
from muni_crawl.sources import SourceSpec
from muni_crawl.types import CrawlSummary

__all__ = ["STOP_SIGNALS", "crawl_one", "run_crawl", "tie_to_parent", "worker_limit"]

log = logging.getLogger(__name__)

# after a forwarded stop signal a worker may take its download timeout plus this long
STOP_GRACE_S = 15.0
MAX_CAUSE_CHARS = 300
POLL_S = 0.1  # how often the running workers are looked at
# the default number of workers, whatever the CPU count (see worker_limit)
MIN_DEFAULT_WORKERS = 2
MAX_DEFAULT_WORKERS = 8


def run_crawl(
    sources: Iterable[str] | None = None,
    *,
    home: HomeLike = None,
    progress: bool = False,
    verbose: int = 0,
    workers: int | None = None,
) -> list[CrawlSummary]:
    """Crawl the named sources (every enabled source when None), up to `workers` at once
    (default: the crawl_workers setting), and return one summary per source, in order.

    A source that fails does not stop the others: its summary has status 'failed' and a
    message. Unknown source names raise UnknownSourceError and a bad `workers` ConfigError
    before anything is crawled. SIGTERM or SIGINT stops the running sources cleanly and
    skips the rest (see muni_crawl.crawl.supervisor).
    """
    home = Home.of(home)
    # create or migrate the database once, before workers open it at the same moment
    home.page_store().close()
    registry = home.registry
    if sources is None:
        specs = [s for s in registry.sources.values() if s.enabled]
    else:
        specs = [registry.source(name) for name in dict.fromkeys(sources)]
    limit = worker_limit(home.settings.crawl, workers)
    with StopSignals() as stops:
        return _crawl_all(specs, home, limit, progress=progress, verbose=verbose, stops=stops)


def crawl_one(source: str, *, home: Home, progress: bool = False, verbose: int = 0) -> CrawlSummary:
    """Crawl one source in a worker process and return its summary (CrawlError if it failed
    without one)."""
    with StopSignals() as stops:
        worker = _start(source, home, progress=progress, verbose=verbose, stops=stops)
        try:
            outcome = worker.wait(POLL_S)
        except BaseException:
            worker.kill()
            raise
        return _summary(source, outcome, stops)


def worker_limit(settings: CrawlSettings, workers: int | None = None) -> int:
    """How many sources to crawl at once: `workers`, else the crawl_workers setting, else the
    CPU count, but at least 2 and at most 8.

    A crawl worker mostly waits: for the per-host delay (politeness, 0.5 s by default) and for
    the network. Its CPU goes on parsing and extracting pages, about 10 ms a page (projection
    benchmark, 2026-12-03), so even one core keeps two workers busy, and more cores extract for
    more workers. Past 8 the limit is memory (about 105 MiB per worker) and the one SQLite
    writer every worker shares, not CPU; raise it by hand on a large machine.
    """
    if workers is None:
        workers = settings.crawl_workers
    if workers is None:
        return max(MIN_DEFAULT_WORKERS, min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1))
    meta = setting_metadata("crawl_workers")
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise ConfigError(f"workers: expected a whole number, got {workers!r}")
    problem = out_of_range(meta, workers)
    if problem is not None:
        raise ConfigError(f"workers (crawl workers at once): {problem}")
    return workers


def _crawl_all(
    specs: list[SourceSpec],
    home: Home,
    limit: int,
    *,
    progress: bool,
    verbose: int,
    stops: StopSignals,
) -> list[CrawlSummary]:
    """Keep up to `limit` workers running, first come first started, skipping (for now) a
    source that shares a host with a running one; stop starting new ones on a stop signal."""
    together = min(limit, len(specs)) > 1
    pending = list(specs)
    running: list[tuple[SourceSpec, WorkerProcess]] = []
    done: dict[str, CrawlSummary] = {}
    try:
        while pending or running:
            if stops.received is not None:
                for spec in pending:
                    done[spec.name] = _failed(spec.name, f"not crawled: stopped by {stops.name}")
                pending.clear()
            for spec in list(pending):
                if len(running) >= limit:
                    break
                if any(share_a_host(spec, other) for other, _ in running):
                    continue
                pending.remove(spec)
                try:
                    label = spec.name if together else None
                    worker = _start(
                        spec.name, home, progress, verbose, stops, label=label, alone=not together
                    )
                except CrawlError as exc:
                    log.error("%s", exc)
                    done[spec.name] = _failed(spec.name, str(exc))
                    continue
                running.append((spec, worker))
            for spec, worker in list(running):
                outcome = worker.poll()
                if outcome is None:
                    continue
                running.remove((spec, worker))
                done[spec.name] = _settle(spec.name, outcome, stops)
                if together and progress:
                    _announce(done[spec.name], len(done), len(specs))
            if running:
                time.sleep(POLL_S)
    finally:
        for _, worker in running:  # an exception here: leave no worker behind
            worker.kill()
    return [done[spec.name] for spec in specs]


def _failed(source: str, message: str) -> CrawlSummary:
    return CrawlSummary(source=source, run_id=0, status="failed", message=message)


def _settle(source: str, outcome: WorkerOutcome, stops: StopSignals) -> CrawlSummary:
    """The worker's summary; a failed one (logged) when it left none or reported an error."""
    try:
        return _summary(source, outcome, stops)
    except CrawlError as exc:
        log.error("%s", exc)
        return _failed(source, str(exc))


def _announce(summary: CrawlSummary, finished: int, total: int) -> None:
    """One line on stderr per finished source, while others still run."""
    what = f"{summary.status}, {summary.fetched} fetched, {summary.failed} failed"
    if summary.status in ("failed", "locked", "unreachable") and summary.message:
        what = f"{summary.status}: {summary.message}"
    print(f"{summary.source}: {what} ({finished} of {total} done)", file=sys.stderr, flush=True)


def _start(
    source: str,
    home: Home,
    progress: bool,
    verbose: int,
    stops: StopSignals,
    *,
    label: str | None = None,
    alone: bool = True,
) -> WorkerProcess:
    cmd = [
        sys.executable,
        "-m",
        "muni_crawl.crawl.worker",
        source,
        "--settings-json",
        home.settings.to_json(),
        "--parent-pid",
        str(os.getpid()),
    ]
    if not progress:
        cmd.append("--quiet")
    cmd += ["-v"] * verbose
    if alone:  # the only crawl running: it may analyse pages beside its reactor
        cmd.append("--alone")
    cmd += logconfig.worker_arguments()  # log as this process does (the CLI's --log-* options)
    grace = home.settings.crawl.download_timeout + STOP_GRACE_S
    try:
        return WorkerProcess(cmd, stops, grace_s=grace, label=label)
    except OSError as exc:  # no process could be started (too many processes, no memory)
        raise CrawlError(source, f"cannot start a crawl worker: {exc}") from exc


def _summary(source: str, outcome: WorkerOutcome, stops: StopSignals) -> CrawlSummary:
    """The summary a worker printed, or CrawlError saying why there is none."""
    data = _last_json_line(outcome.stdout)
    if data is None:
        raise CrawlError(source, _death_message(outcome))
    if data.get("locked"):
        return CrawlSummary(source=source, run_id=0, status="locked", message=data["error"])
    if "error" in data:
        raise CrawlError(source, data["error"])
    summary = CrawlSummary(**data)
    if outcome.signalled:
        note = f"stopped by {stops.name}"
        summary = replace(
            summary, message=f"{note}; {summary.message}" if summary.message else note
        )
    return summary


def _last_json_line(stdout: str) -> dict[str, Any] | None:
    """The worker's summary: the last line of its stdout that is a JSON object."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return None


def _death_message(outcome: WorkerOutcome) -> str:
    """Why a worker left no summary, in one line an operator can act on."""
    if outcome.killed_after_grace:
        what = "crawl worker did not stop in time after a stop signal and was killed"
    elif outcome.returncode < 0:
        what = f"crawl worker was killed by {_signal_name(-outcome.returncode)}"
    else:
        what = f"crawl worker exited with code {outcome.returncode} and no summary"
    cause = crash_cause(outcome.stderr_tail)
    return f"{what}: {cause}" if cause else f"{what} (nothing on stderr)"


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


_TRACEBACK = "Traceback (most recent call last):"
# a Scrapy or logging line ("2025-01-01 10:00:00 [scrapy...]" or "WARNING name: ...")
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d|(DEBUG|INFO|WARNING|ERROR|CRITICAL) )")


def crash_cause(stderr: str) -> str:
    """The last exception of a traceback in `stderr` (its type and message, a multi-line
    message joined), else the last non-blank line; empty when there is nothing."""
    lines = [line.rsplit("\r", 1)[-1].rstrip() for line in stderr.splitlines()]
    start = max((i for i, line in enumerate(lines) if line.startswith(_TRACEBACK)), default=None)
    if start is not None:
        frames = start + 1
        while frames < len(lines) and (lines[frames].startswith(" ") or not lines[frames]):
            frames += 1
        message: list[str] = []
        for line in lines[frames:]:
            if not line.strip() or _LOG_LINE.match(line):
                break
            message.append(line.strip())
        if message:
            return _clip(" ".join(message))
    meaningful = [line.strip() for line in lines if line.strip()]
    return _clip(meaningful[-1]) if meaningful else ""


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CAUSE_CHARS else text[: MAX_CAUSE_CHARS - 1] + "…"
