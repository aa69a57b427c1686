"""Crawl benchmark, many sources: how much do concurrent crawl workers save over one at a time?

Why it exists: a real municipal site takes about an hour to crawl at a polite per-host delay,
so forty of them one after another take over a day. A crawl worker spends nearly all of that
time waiting for its host's delay, so several workers side by side should divide the wall
time by about their number, CPU and memory permitting. This measures it without the network:
`sources` copies of a generated site (benchmarks/crawl.py's generator), each served on its own
port of 127.0.0.1 by the project's server and crawled as its own source with `delay` seconds
between requests to one host, once per worker count, each time into a fresh home (so every
run is a first crawl). AutoThrottle stays on, as in production; it never goes below the delay.

CPU seconds are those of all crawl worker processes of a run together; the peak RSS is the
largest single worker's (ru_maxrss of RUSAGE_CHILDREN, a maximum over all children so far).

Run it through benchmarks/crawl.py:

    python benchmarks/crawl.py --many            # 40 sources of 100 pages, 0.2 s delay
    python benchmarks/crawl.py --many --quick    # 8 sources of 25 pages
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    BENCH_TENANT,
    format_table,
    machine,
    scratch_dir,
    timed,
    write_bench_tenant,
)
from benchmarks.crawl import write_site
from muni_crawl import CrawlSummary, Settings, Store, run_crawl
from muni_crawl.crawl import worker_limit
from muni_crawl.example.server import RunningSite, serve


@dataclass
class ManyRow:
    """One crawl of every source with `workers` workers at once."""

    workers: int
    summaries: list[CrawlSummary]
    stored: int  # pages in the store afterwards, over all sources
    wall_s: float
    cpu_s: float
    peak_rss_mib: float

    @property
    def ok(self) -> int:
        return sum(1 for s in self.summaries if s.status == "ok")


@dataclass
class ManyResult:
    """The same sources crawled with each worker count, and what went wrong, if anything."""

    sources: int
    pages: int  # per source
    delay: float
    rows: list[ManyRow]
    problems: list[str]


def source_name(number: int) -> str:
    return f"{BENCH_TENANT}-{number:02d}"


def write_home(home: Path, sites: list[RunningSite], pages: int, delay: float) -> list[str]:
    """One source per served site, all feeding the bench tenant; returns their names."""
    spiders = write_bench_tenant(home)
    names = []
    for number, site in enumerate(sites, 1):
        name = source_name(number)
        (spiders / f"{name}.toml").write_text(
            'kind = "municipal"\n'
            f'tenants = ["{BENCH_TENANT}"]\n'
            f'start_urls = ["{site.url}/"]\n'
            f'allowed_domains = ["{site.url.split("/")[2]}"]\n'
            f"download_delay = {delay}\n"
            f"max_pages = {pages + 100}\n"
            "max_depth = 20\n",
            encoding="utf-8",
        )
        names.append(name)
    return names


def measured(home: Path, workers: int) -> ManyRow:
    """Crawl every source of `home` with `workers` workers at once."""
    settings = Settings.load(home)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    summaries, wall = timed(lambda: run_crawl(None, home=settings, workers=workers))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    with Store(settings.database) as store:
        stored = sum(len(store.pages(s.source)) for s in summaries)
    return ManyRow(workers, summaries, stored, wall, cpu, after.ru_maxrss / 1024)


def run(
    sources: int = 40,
    pages: int = 100,
    delay: float = 0.2,
    workers: list[int] | None = None,
    keep: bool = False,
) -> ManyResult:
    """Serve `sources` copies of a `pages`-page site and crawl them all once per worker count
    (default: 1, the crawl_workers default here, and 8)."""
    with scratch_dir("muni-crawl-bench-many-", keep=keep) as workdir:
        if workers is None:
            workers = sorted({1, worker_limit(Settings.load(workdir).crawl), 8})
        site_root = workdir / "site"
        site_root.mkdir()
        pages = write_site(site_root, pages)
        sites = [serve(site_root, name=source_name(n)) for n in range(1, sources + 1)]
        rows = []
        try:
            for count in workers:
                home = workdir / f"home-{count}"
                write_home(home, sites, pages, delay)
                print(
                    f"crawling {sources} sources of {pages} pages with {count} worker(s) ...",
                    file=sys.stderr,
                    flush=True,
                )
                rows.append(measured(home, count))
        finally:
            for site in sites:
                site.stop()
    problems = []
    for row in rows:
        failed = [f"{s.source}: {s.status} {s.message or ''}" for s in row.summaries]
        if row.ok < sources:
            problems.append(f"{row.workers} worker(s): not every source ok: {failed}")
        if row.stored < sources * pages:
            problems.append(
                f"{row.workers} worker(s): stored {row.stored} pages, expected {sources * pages}"
            )
    return ManyResult(sources, pages, delay, rows, problems)


def report(result: ManyResult) -> str:
    """A line on the run, then the table."""
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    first_line = (
        f"crawl benchmark, many sources: {result.sources} sources x {result.pages} pages,"
        f" {result.delay} s delay per host, 127.0.0.1, {when}, {machine()}"
    )
    return f"{first_line}\n{table(result.rows)}"


def table(rows: list[ManyRow]) -> str:
    header = (
        "workers",
        "wall s",
        "speed-up",
        "pages/min",
        "CPU s",
        "peak RSS MiB/worker",
        "sources ok",
        "pages stored",
    )
    base = rows[0].wall_s if rows else 0.0
    cells = [
        [
            str(row.workers),
            f"{row.wall_s:.1f}",
            f"{base / row.wall_s:.1f}x" if row.wall_s > 0 else "-",
            f"{row.stored / (row.wall_s / 60):.0f}" if row.wall_s > 0 else "-",
            f"{row.cpu_s:.1f}",
            f"{row.peak_rss_mib:.0f}",
            f"{row.ok}/{len(row.summaries)}",
            str(row.stored),
        ]
        for row in rows
    ]
    return format_table(header, cells)
