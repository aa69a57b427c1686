"""Crawling: run_crawl() starts one worker process per source and collects their summaries."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterable

from muni_crawl.config import Settings
from muni_crawl.errors import CrawlError
from muni_crawl.sites import load_registry
from muni_crawl.types import CrawlSummary

__all__ = ["crawl_one", "run_crawl"]

log = logging.getLogger(__name__)


def run_crawl(
    sources: Iterable[str] | None = None,
    *,
    settings: Settings | None = None,
    progress: bool = False,
    verbose: int = 0,
) -> list[CrawlSummary]:
    """Crawl the named sources (every enabled source when None), one after another.

    A source that fails does not stop the others: its summary has status 'failed' and a
    message. Unknown source names raise UnknownSourceError before anything is crawled.
    """
    settings = settings or Settings.load()
    registry = load_registry(settings.spiders_dir)
    if sources is None:
        names = [s.name for s in registry.sources.values() if s.enabled]
    else:
        names = list(dict.fromkeys(sources))
        for name in names:
            registry.source(name)
    summaries = []
    for name in names:
        try:
            summaries.append(crawl_one(name, settings=settings, progress=progress, verbose=verbose))
        except CrawlError as exc:
            log.error("%s", exc)
            summaries.append(CrawlSummary(source=name, run_id=0, status="failed", message=str(exc)))
    return summaries


def crawl_one(
    source: str, *, settings: Settings, progress: bool = False, verbose: int = 0
) -> CrawlSummary:
    """Crawl one source in a worker process and return its summary."""
    cmd = [
        sys.executable,
        "-m",
        "muni_crawl.crawl.worker",
        source,
        "--settings-json",
        settings.to_json(),
    ]
    if not progress:
        cmd.append("--quiet")
    cmd += ["-v"] * verbose
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise CrawlError(source, f"crawl worker exited with code {proc.returncode} and no summary")
    data = json.loads(lines[-1])
    if data.get("locked"):
        return CrawlSummary(source=source, run_id=0, status="locked", message=data["error"])
    if "error" in data:
        raise CrawlError(source, data["error"])
    return CrawlSummary(**data)
