"""The crawl benchmark's anchors: three minimal Scrapy spiders that crawl the same site as ours.

Why it exists: a pages-per-minute figure means little on its own (it depends on the machine,
its load and the server). What it costs to be muni_crawl is the gap to what Scrapy itself
does on the same site, served the same way, in the same run. benchmarks/crawl.py runs these
spiders between our own crawls and prints each of our figures beside its anchor:

- "bare": start URLs, sitemaps announced in robots.txt, then every link (Scrapy's
  LinkExtractor, as ours uses); nothing is parsed beyond the links. It keeps each page's
  validators (ETag, Last-Modified) and links in memory and writes them out at the end, for:
- "trafilatura": the same, and the text of every page extracted with trafilatura with the
  options muni_crawl.extract uses (markdown, tables, recall over precision, no metadata);
- "etag": the unchanged re-crawl: every page requested with If-None-Match and
  If-Modified-Since from the bare run's responses; a 304 has no body, so its links come from
  the bare run's, as ours come from the store.

The Scrapy settings (robots.txt, concurrency, delay, AutoThrottle, retries, timeouts, reactor)
are our crawl worker's for the same source (muni_crawl.crawl.worker.scrapy_settings), less our
own components (offsite guard, retry backoff, resolver) and tuning (CONCURRENT_ITEMS), so
politeness is not the difference and the anchors stay Scrapy as it comes.
Each run is a fresh Python process, as our crawl worker is (Scrapy's reactor cannot restart):
the wall time and CPU seconds include process and Scrapy start-up, as ours do.

This file runs as the child process (`python benchmarks/crawl_anchors.py MODE ...`) and
imports nothing of muni_crawl there; `run_anchor` and `anchor_config` are the parent's side.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Request, Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

if TYPE_CHECKING:
    from muni_crawl import Settings

MODES = ("bare", "trafilatura", "etag")
LABELS = {
    "bare": "scrapy bare",
    "trafilatura": "scrapy + trafilatura",
    "etag": "scrapy ETag re-crawl",
}
# settings of our worker that are our own components or tuning, not politeness or limits: a
# bare spider keeps Scrapy's defaults there (CONCURRENT_ITEMS: see worker.scrapy_settings)
OWN_SETTINGS = frozenset(
    {
        "BOT_NAME",
        "DOWNLOADER_MIDDLEWARES",
        "TWISTED_DNS_RESOLVER",
        "LOG_INSTALL_ROOT_HANDLER",
        "CONCURRENT_ITEMS",
    }
)
CHILD_TIMEOUT_S = 1800.0


# -- the child: one crawl -------------------------------------------------------------------------


class AnchorSpider(scrapy.Spider):
    """Follows robots.txt sitemaps and links; optionally extracts text or sends validators."""

    name = "anchor"

    def __init__(
        self,
        start_urls: Sequence[str],
        allowed_domains: Sequence[str],
        mode: str,
        validators: Mapping[str, Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.start_urls = list(start_urls)
        self.allowed_domains = list(allowed_domains)  # read by Scrapy's offsite middleware
        self.mode = mode
        self.validators = dict(validators or {})  # url -> etag, last_modified, links
        self.state: dict[str, dict[str, Any]] = {}  # what a re-crawl of this run needs
        self.counts: Counter[str] = Counter()
        self.links = LinkExtractor(unique=True)

    async def start(self) -> AsyncIterator[Request]:
        for url in self.start_urls:
            parts = urlsplit(url)
            yield Request(
                f"{parts.scheme}://{parts.netloc}/robots.txt",
                callback=self.parse_robots,
                errback=self.robots_missing,
                dont_filter=True,
                priority=20,
            )
            yield self.page_request(url)

    def page_request(self, url: str) -> Request:
        headers: dict[str, str] = {}
        known = self.validators.get(url)
        if known is not None:
            if known.get("etag"):
                headers["If-None-Match"] = known["etag"]
            if known.get("last_modified"):
                headers["If-Modified-Since"] = known["last_modified"]
        return Request(
            url,
            headers=headers,
            callback=self.parse_page,
            errback=self.page_failed,
            meta={"handle_httpstatus_list": [304]},
        )

    def parse_robots(self, response: Response) -> Iterator[Request]:
        for url in sitemap_urls_from_robots(response.body, base_url=response.url):
            yield Request(url, callback=self.parse_sitemap, errback=self.page_failed)

    def robots_missing(self, failure: Any) -> None:
        return  # no robots.txt: no sitemaps to discover

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
        sitemap = Sitemap(response.body)
        for entry in sitemap:
            if sitemap.type == "sitemapindex":
                yield Request(entry["loc"], callback=self.parse_sitemap, errback=self.page_failed)
            else:
                yield self.page_request(entry["loc"])

    def parse_page(self, response: Response) -> Iterator[Request]:
        url = response.request.url if response.request is not None else response.url
        if response.status == 304:
            self.counts["not_modified"] += 1
            links = list(self.validators.get(url, {}).get("links", []))
        elif not isinstance(response, TextResponse):
            self.counts["fetched"] += 1  # not HTML: nothing to follow
            return
        else:
            self.counts["fetched"] += 1
            links = [link.url for link in self.links.extract_links(response)]
            if self.mode == "trafilatura" and self._extract(response):
                self.counts["extracted"] += 1
            if self.mode == "bare":
                self.state[url] = {
                    "etag": _header(response, "ETag"),
                    "last_modified": _header(response, "Last-Modified"),
                    "links": links,
                }
        for link in links:
            yield self.page_request(link)

    def _extract(self, response: TextResponse) -> bool:
        """The page's main text as markdown, as muni_crawl.extract asks trafilatura for it."""
        import trafilatura

        text = trafilatura.extract(
            response.text,
            url=response.url,
            output_format="markdown",
            include_tables=True,
            include_comments=False,
            favor_recall=True,
            with_metadata=False,
        )
        return bool(text and text.strip())

    def page_failed(self, failure: Any) -> None:
        self.counts["failed"] += 1
        if self.counts["failed"] <= 3:
            request = getattr(failure, "request", None)
            where = request.url if request is not None else "?"
            print(f"anchor: {where}: {failure.value!r}", file=sys.stderr)


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def crawl(
    mode: str,
    start_urls: Sequence[str],
    allowed_domains: Sequence[str],
    settings: Mapping[str, Any],
    state_in: Path | None = None,
    state_out: Path | None = None,
) -> dict[str, Any]:
    """One anchor crawl in this process (which must not have run a reactor); its counts."""
    from scrapy.crawler import CrawlerProcess

    if mode not in MODES:
        raise ValueError(f"unknown anchor mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode == "etag" and state_in is None:
        raise ValueError("the etag anchor needs the bare run's state (--state-in)")
    validators = json.loads(state_in.read_text(encoding="utf-8")) if state_in else {}
    process = CrawlerProcess(dict(settings))
    crawler = process.create_crawler(AnchorSpider)
    process.crawl(
        crawler,
        start_urls=start_urls,
        allowed_domains=allowed_domains,
        mode=mode,
        validators=validators,
    )
    process.start()
    spider = crawler.spider
    if not isinstance(spider, AnchorSpider):
        raise RuntimeError("the anchor spider never started")
    if state_out is not None:
        state_out.write_text(json.dumps(spider.state), encoding="utf-8")
    counts = spider.counts
    return {
        "mode": mode,
        "fetched": counts["fetched"],
        "not_modified": counts["not_modified"],
        "extracted": counts["extracted"],
        "failed": counts["failed"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One anchor crawl; prints its counts as JSON.")
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--start-url", action="append", required=True)
    parser.add_argument("--allowed-domain", action="append", default=[])
    parser.add_argument("--settings-json", required=True, help="Scrapy settings, as JSON")
    parser.add_argument("--state-in", type=Path, help="validators and links of a first run")
    parser.add_argument("--state-out", type=Path, help="write this run's validators and links")
    args = parser.parse_args(argv)
    summary = crawl(
        args.mode,
        args.start_url,
        args.allowed_domain,
        json.loads(args.settings_json),
        state_in=args.state_in,
        state_out=args.state_out,
    )
    print(json.dumps(summary))
    return 0


# -- the parent: settings, one measured run ------------------------------------------------------


@dataclass(frozen=True)
class AnchorConfig:
    """What an anchor crawls, and how: our source's start URLs and domains, our politeness."""

    start_urls: tuple[str, ...]
    allowed_domains: tuple[str, ...]
    scrapy_settings: Mapping[str, Any]


def anchor_config(settings: Settings, source: str) -> AnchorConfig:
    """The anchors' view of `source`: its start URLs and domains, and the Scrapy settings our
    crawl worker would use for it, less our own components."""
    from muni_crawl.crawl.worker import scrapy_settings
    from muni_crawl.home import Home

    spec = Home.of(settings).registry.source(source)
    ours = scrapy_settings(spec, settings.crawl)
    shared = {
        key: value
        for key, value in ours.items()
        if key not in OWN_SETTINGS and not key.startswith("MUNI_CRAWL")
    }
    shared["BOT_NAME"] = "anchor"
    return AnchorConfig(tuple(spec.start_urls), tuple(spec.allowed_hosts), shared)


class ChildrenPeakRss:
    """The peak resident memory (VmHWM) of this process's children while the block runs; a
    child's own children (our crawl worker's page analysis helper) are added to it, so pages
    they share after the fork are counted twice: an upper bound.

    ru_maxrss of RUSAGE_CHILDREN is the maximum over every child so far, so once an anchor has
    run it no longer says what our crawl worker used. This reads each child's own high-water
    mark from /proc instead: children are looked for every `scan_s` seconds (until one is
    found, then less often) and their VmHWM read every `poll_s`. Memory taken in a child's
    last `poll_s` goes unseen. `peak_mib` is None where /proc has no VmHWM (not Linux).
    """

    def __init__(self, poll_s: float = 0.05, scan_s: float = 0.25) -> None:
        self.poll_s = poll_s
        self.scan_s = scan_s
        self.peak_kib = 0
        self._children: set[int] = set()
        self._grandchildren: dict[int, set[int]] = {}  # by child
        self._helper_peaks: dict[int, int] = {}  # KiB, by grandchild
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="peak-rss", daemon=True)

    @property
    def peak_mib(self) -> float | None:
        return self.peak_kib / 1024 if self.peak_kib else None

    def __enter__(self) -> ChildrenPeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _helpers_kib(self, pid: int) -> int:
        """The peaks of a child's own children so far (an exited one keeps its last peak)."""
        total = 0
        for helper in self._grandchildren.get(pid, ()):
            high = _high_water_kib(helper)
            if high is not None:
                self._helper_peaks[helper] = max(self._helper_peaks.get(helper, 0), high)
            total += self._helper_peaks.get(helper, 0)
        return total

    def _watch(self) -> None:
        last_scan = float("-inf")
        while True:
            now = time.monotonic()
            if now - last_scan >= (self.scan_s * 8 if self._children else self.scan_s):
                self._children |= _child_pids()
                for pid in self._children:
                    self._grandchildren[pid] = self._grandchildren.get(pid, set()) | _child_pids(
                        pid
                    )
                last_scan = now
            for pid in list(self._children):
                if not _has_exec(pid):
                    continue  # still this process's copy (fork) or memory (vfork)
                high = _high_water_kib(pid)
                if high is None:
                    self._children.discard(pid)  # it has exited
                    continue
                helpers = self._helpers_kib(pid)
                self.peak_kib = max(self.peak_kib, high + helpers)
            if self._stop.wait(self.poll_s):
                return


def _child_pids(parent: int | None = None) -> set[int]:
    """Processes whose parent is `parent` (default: this one); a scan of /proc, empty where
    there is none."""
    me = f"PPid:\t{os.getpid() if parent is None else parent}\n"
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if me in (entry / "status").read_text(encoding="ascii", errors="replace"):
                found.add(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def _has_exec(pid: int) -> bool:
    """Whether a child runs its own program yet: until exec its command line is ours."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() != _OWN_CMDLINE
    except OSError:
        return False


_OWN_CMDLINE = Path("/proc/self/cmdline").read_bytes() if Path("/proc/self").exists() else b""


def _high_water_kib(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None  # a zombie has no memory left to report


@dataclass
class AnchorRow:
    """One anchor crawl: wall time and CPU of its process, and what it fetched."""

    name: str
    mode: str
    fetched: int
    not_modified: int
    extracted: int
    failed: int
    wall_s: float
    cpu_s: float
    peak_rss_mib: float | None  # None where it cannot be read (see ChildrenPeakRss)

    @property
    def seen(self) -> int:
        return self.fetched + self.not_modified

    @property
    def pages_per_minute(self) -> float | None:
        return self.seen / (self.wall_s / 60) if self.wall_s > 0 else None


def run_anchor(
    mode: str,
    config: AnchorConfig,
    *,
    state_in: Path | None = None,
    state_out: Path | None = None,
) -> AnchorRow:
    """Run one anchor crawl in a fresh process; wall time and CPU as our crawl's are measured
    (from this process, start-up included)."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        mode,
        "--settings-json",
        json.dumps(dict(config.scrapy_settings)),
    ]
    for url in config.start_urls:
        command += ["--start-url", url]
    for domain in config.allowed_domains:
        command += ["--allowed-domain", domain]
    if state_in is not None:
        command += ["--state-in", str(state_in)]
    if state_out is not None:
        command += ["--state-out", str(state_out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with ChildrenPeakRss() as memory:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"{mode} anchor crawl failed (exit {done.returncode}): {done.stderr.strip()[-1000:]}"
        )
    summary = json.loads(lines[-1])
    return AnchorRow(
        name=LABELS[mode],
        mode=mode,
        fetched=int(summary["fetched"]),
        not_modified=int(summary["not_modified"]),
        extracted=int(summary["extracted"]),
        failed=int(summary["failed"]),
        wall_s=wall,
        cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        peak_rss_mib=memory.peak_mib,
    )


def anchor_problems(row: AnchorRow, pages: int) -> list[str]:
    """What shows an anchor did not do its job on a site of `pages` pages (empty if it did)."""
    problems = []
    if row.failed:
        problems.append(f"{row.name}: {row.failed} requests failed")
    if row.mode == "etag":
        if row.not_modified < pages:
            problems.append(f"{row.name}: {row.not_modified} of {pages} pages answered 304")
        if row.fetched:
            problems.append(f"{row.name}: {row.fetched} pages downloaded again, expected none")
    elif row.fetched < pages:
        problems.append(f"{row.name}: fetched {row.fetched} of {pages} pages")
    if row.mode == "trafilatura" and row.extracted < row.fetched:
        problems.append(f"{row.name}: text extracted from {row.extracted} of {row.fetched} pages")
    return problems


if __name__ == "__main__":
    sys.exit(main())
