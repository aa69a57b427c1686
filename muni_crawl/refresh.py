"""refresh(): the daily cycle as one call: crawl -> finalise -> mark stale -> re-index.

Cron (`muni-crawl crawl --due`), the CLI and the demo all run this. The crawl worker crawls
and finalises one source (its pages and versions); refresh then marks approved answers whose
cited pages changed as stale, and re-indexes the tenants whose sources changed (or whose
index is behind a crawl that changed their pages).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from muni_crawl.crawl import run_crawl
from muni_crawl.home import Home, HomeLike
from muni_crawl.index import BuildResult, affected_tenants, build_indexes
from muni_crawl.review import mark_stale
from muni_crawl.schedule import due_sources
from muni_crawl.types import CrawlSummary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh did: each source's crawl, the answers it made stale, each re-index."""

    crawls: list[CrawlSummary]
    stale_answers: list[str] = field(default_factory=list)
    indexes: list[BuildResult] = field(default_factory=list)
    stopped: bool = False  # a stop signal ended the crawl: nothing was re-indexed


def refresh(
    sources: Iterable[str] | None = None,
    *,
    home: HomeLike = None,
    due: bool = False,
    reindex: bool = True,
    progress: bool = False,
    verbose: int = 0,
    stopped: Callable[[], bool] = lambda: False,
    on_reindex: Callable[[list[str]], None] | None = None,
    workers: int | None = None,
) -> RefreshResult:
    """Crawl the named sources (every enabled one when None; with `due`, those whose
    schedule fired), mark stale approvals, and re-index the affected tenants.

    `stopped` is asked after the crawl (the CLI records stop signals): when it says so,
    nothing is re-indexed. A tenant whose index another process is building is left to that
    build (its result has status "busy"). `on_reindex` hears the tenants about to be built.
    `workers` overrides the crawl_workers setting (sources crawled at once).
    """
    home = Home.of(home)
    if due:
        with home.page_store() as store:
            names = [spec.name for spec in due_sources(home.registry, store)]
        if not names:
            return RefreshResult([])
        sources = names
    crawls = run_crawl(sources, home=home, progress=progress, verbose=verbose, workers=workers)
    stale: list[str] = []
    if any(s.status in ("ok", "partial") for s in crawls):  # finalised: pages may have changed
        with home.store() as store:
            stale = mark_stale(store, home.registry)
        if stale:
            log.warning("%d approved answer(s) became stale", len(stale))
    if stopped():
        return RefreshResult(crawls, stale, stopped=True)
    if not reindex:
        return RefreshResult(crawls, stale)
    tenants = affected_tenants(home, crawls)
    if not tenants:
        return RefreshResult(crawls, stale)
    if on_reindex is not None:
        on_reindex(tenants)
    results = build_indexes(tenants, home=home, skip_busy=True)
    return RefreshResult(crawls, stale, results)
