"""The Scrapy spider that crawls one website politely and incrementally into the store.

It reads the sources that are crawled page by page (municipal sites, national agencies);
borger.dk's service and knowledge-base feeds have spiders of their own (article_spider,
feed_spider) that store into the same tables. Requests are normalised and
deduplicated here, with the crawl-trap guards (depth, page cap, query variants, loops).
Links, sitemap entries and canonical URLs outside the source are dropped here; requests that
leave it anyway (redirects, meta refreshes) are refused by the offsite guard before they are
sent, and counted here as "offsite". What is stored is the final URL, checked again.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots
from twisted.python.failure import Failure

from muni_crawl.config import CrawlSettings
from muni_crawl.crawl.analysis import PageAnalyser, UrlFilter
from muni_crawl.crawl.middleware import OffsiteRefused
from muni_crawl.crawl.reachability import NetworkFailures
from muni_crawl.extract import EXTRACTOR_VERSION
from muni_crawl.sources import SourceSpec
from muni_crawl.store import PageStore, ResourceState
from muni_crawl.urls import looks_like_trap, normalise_url, path_key

log = logging.getLogger(__name__)

GONE_STATUSES = (404, 410)


class SourceSpider(scrapy.Spider):
    """Crawls one SourceSpec: sitemaps (with lastmod) first, then links from the start URLs."""

    name = "muni_crawl"

    def __init__(
        self,
        spec: SourceSpec,
        store: PageStore,
        run_id: int,
        settings: CrawlSettings,
        progress: bool = True,
        analyser: PageAnalyser | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.store = store
        self.run_id = run_id
        self.conf = settings
        # read by Scrapy's offsite filter, which the worker replaces with OffsiteGuardMiddleware
        self.allowed_domains = list(spec.allowed_hosts)
        self.known: dict[str, ResourceState] = store.resource_states(spec.name)
        self.max_pages = spec.max_pages or settings.max_pages
        self.max_depth = spec.max_depth if spec.max_depth is not None else settings.max_depth
        self.scheduled: set[str] = set()
        self.stored: set[str] = set()  # final URLs stored this run, redirect targets included
        self.start_urls_normalised = frozenset(normalise_url(u) for u in spec.start_urls)
        self.query_variants: Counter[str] = Counter()
        self.capped = False
        self.counts: Counter[str] = Counter()
        # why requests got no answer at all (the worker's `unreachable`), and the first errors
        self.network = NetworkFailures(settings.download_timeout)
        self.first_failures: list[str] = []
        self.show_progress = progress
        self._last_progress = 0.0
        # links of pages not downloaded this run (304, sitemap skip), followed from the store
        self._pending_links: list[tuple[tuple[str, ...], int]] = []
        self.url_allowed = analyser.allowed if analyser else UrlFilter(spec)
        # extraction, links and fingerprint of each page: here, or in a helper process
        self.analyser = analyser or PageAnalyser(self.url_allowed, helper=False)

    # -- scheduling ---------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        sitemaps = list(self.spec.sitemaps)
        if not sitemaps:
            for url in self.spec.start_urls:  # discover sitemaps announced in robots.txt
                parts = urlsplit(url)
                yield Request(
                    f"{parts.scheme}://{parts.netloc}/robots.txt",
                    callback=self.parse_robots,
                    errback=self.on_sitemap_error,
                    dont_filter=True,
                    priority=20,
                    meta={"dont_retry": True},
                )
        for url in sitemaps:
            yield self._sitemap_request(url)
        for url in self.spec.start_urls:
            request = self.page_request(url, depth=0)
            if request is not None:
                yield request

    def _sitemap_request(self, url: str) -> Request:
        return Request(url, callback=self.parse_sitemap, errback=self.on_sitemap_error, priority=10)

    def page_request(self, url: str, depth: int, lastmod: str | None = None) -> Request | None:
        """A request for a page, or None when the guards or the sitemap's lastmod say skip it."""
        url = normalise_url(url)
        if url in self.scheduled or not self.url_allowed(url) or looks_like_trap(url):
            return None
        if depth > self.max_depth:
            return None
        if "?" in url:
            key = path_key(url)
            if self.query_variants[key] >= self.conf.max_query_variants:
                return None
            self.query_variants[key] += 1
        if len(self.scheduled) >= self.max_pages:
            self.capped = True
            return None
        self.scheduled.add(url)
        state = self.known.get(url)
        if state is not None and state.extractor_version != EXTRACTOR_VERSION:
            state = None  # stored by an older extractor: fetch it whole and extract again
        if (
            state is not None
            and state.status == "live"
            and _not_newer(lastmod, state.last_fetched_at, self.conf.sitemap_trust_days)
        ):
            # the sitemap says it has not changed since we fetched it: no request at all
            self.store.record_seen(self.run_id, self.spec.name, url, counter="skipped")
            self.counts["skipped"] += 1
            self._defer_links(state, depth)
            return None
        headers: dict[str, str] = {}
        if state is not None and state.status == "live":
            if state.etag:
                headers["If-None-Match"] = state.etag
            if state.last_modified:
                headers["If-Modified-Since"] = state.last_modified
        return Request(
            url,
            headers=headers,
            callback=self.parse_page,
            errback=self.on_page_error,
            dont_filter=True,  # we deduplicate ourselves; this lets redirect loops surface
            meta={"mc_depth": depth, "handle_httpstatus_list": [304, *GONE_STATUSES]},
        )

    def _defer_links(self, state: ResourceState, depth: int) -> None:
        # links of a page we did not download are followed from what we stored last time
        self._pending_links.append((state.links, depth + 1))

    def _drain_pending(self) -> Iterator[Request]:
        pending, self._pending_links = self._pending_links, []
        for links, depth in pending:
            for link in links:
                request = self.page_request(link, depth)
                if request is not None:
                    yield request

    # -- callbacks ----------------------------------------------------------------------------

    def parse_robots(self, response: Response) -> Iterator[Request]:
        for url in sitemap_urls_from_robots(response.body, base_url=response.url):
            if self.url_allowed(normalise_url(url)):
                yield self._sitemap_request(url)

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
        try:
            sitemap = Sitemap(response.body)
        except Exception as exc:  # lxml raises several types on junk
            self._fail(response.url, f"unreadable sitemap: {exc}")
            return
        if sitemap.type == "sitemapindex":
            for entry in sitemap:
                if self.url_allowed(normalise_url(entry["loc"])):
                    yield self._sitemap_request(entry["loc"])
            return
        for entry in sitemap:
            request = self.page_request(entry["loc"], depth=0, lastmod=entry.get("lastmod"))
            if request is not None:
                yield request
        yield from self._drain_pending()

    async def parse_page(self, response: Response) -> AsyncIterator[Request]:
        depth = int(response.meta.get("mc_depth", 0))
        url = normalise_url(response.url)  # after redirects: the URL that answered
        request_url = normalise_url(response.request.url) if response.request else url
        if not self.url_allowed(url):
            # the guard let it through on host and port; include/exclude still apply
            refused = OffsiteRefused(url, "outside the source's include/exclude patterns")
            log.info("%s: not stored: %s", self.spec.name, refused)
            self._refused(refused, response.request)
            return
        if url in self.stored:
            return  # a second way (a redirect) to a page already stored this run
        if response.status == 304:
            self.store.record_seen(self.run_id, self.spec.name, request_url, counter="not_modified")
            self.counts["not_modified"] += 1
            state = self.known.get(request_url)
            if state is not None:
                self._defer_links(state, depth)
            for queued in self._drain_pending():
                yield queued
            self._progress()
            return
        if response.status in GONE_STATUSES:
            self.store.record_gone(self.run_id, self.spec.name, request_url, response.status)
            self.counts["gone"] += 1
            self._progress()
            return
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1")
        # the canonical URL, extraction, links and fingerprint (muni_crawl.crawl.analysis)
        analysis = await self.analyser.analyse(response, url, content_type)
        if analysis.crash is not None:
            log.error("unexpected extraction error on %s\n%s", url, analysis.crash.rstrip())
        if analysis.failure is not None:
            self._fail(url, analysis.failure)
            return
        if url in self.stored:
            return  # stored while this page was analysed (another redirect to it)
        self.store.record_fetch(
            self.run_id,
            self.spec.name,
            url,
            http_status=response.status,
            content_type=content_type.split(";")[0].strip() or "text/html",
            etag=_header(response, "ETag"),
            last_modified=_header(response, "Last-Modified"),
            depth=depth,
            links=list(analysis.links),
            documents=list(analysis.documents),
            raw_fingerprint=analysis.raw_fingerprint,
            extractor_version=EXTRACTOR_VERSION,
        )
        self.counts["fetched"] += 1
        self.stored.add(url)
        self.scheduled.add(url)  # a redirect target counts as seen
        self._progress()
        for link in analysis.links:
            request = self.page_request(link, depth + 1)
            if request is not None:
                yield request
        for queued in self._drain_pending():
            yield queued

    # -- errors -------------------------------------------------------------------------------

    def on_page_error(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        url = normalise_url(request.url) if request is not None else "?"
        if isinstance(failure.value, OffsiteRefused):
            self._refused(failure.value, request)
            return
        if isinstance(failure.value, IgnoreRequest) and "robots" in str(failure.value).lower():
            self.counts["robots"] += 1
            log.debug("robots.txt forbids %s", url)
            return
        self.network.note(failure)
        self._fail(url, _describe(failure))

    def on_sitemap_error(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        if isinstance(failure.value, OffsiteRefused):
            self._refused(failure.value, request)
            return
        if url.endswith("/robots.txt"):
            return  # no robots.txt: nothing to discover
        self.network.note(failure)
        self._fail(url, "sitemap: " + _describe(failure))

    def _refused(self, refused: OffsiteRefused, request: Request | None = None) -> None:
        """Count a refusal (already logged); a start URL that leads away fails the crawl."""
        self.counts["offsite"] += 1
        chain = request.meta.get("redirect_urls", []) if request is not None else []
        first = normalise_url(chain[0]) if chain else None
        if first in self.start_urls_normalised:
            self._fail(first, f"start URL leads outside the source: {refused}")
        self._progress()

    def _fail(self, url: str, error: str) -> None:
        log.warning("%s: %s: %s", self.spec.name, url, error)
        if len(self.first_failures) < 3:
            self.first_failures.append(f"{url}: {error}")
        self.store.record_failure(self.run_id, self.spec.name, url, error)
        self.counts["failed"] += 1
        self._progress()

    def closed(self, reason: str) -> None:
        if self.counts["offsite"]:
            log.warning(
                "%s: %d off-site request(s) refused (redirects or meta refreshes leaving"
                " allowed_domains, or outside include/exclude); nothing from them was stored",
                self.spec.name,
                self.counts["offsite"],
            )

    def _progress(self) -> None:
        now = time.monotonic()
        if not self.show_progress or now - self._last_progress < 2.0:
            return
        self._last_progress = now
        c = self.counts
        print(
            f"{self.spec.name}: {c['fetched']} fetched, {c['not_modified'] + c['skipped']}"
            f" not modified, {c['gone']} gone, {c['failed']} failed, {c['offsite']} off-site,"
            f" {len(self.scheduled)} queued",
            file=sys.stderr,
            flush=True,
        )


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _describe(failure: Failure) -> str:
    value = failure.value
    response = getattr(value, "response", None)
    if response is not None and getattr(response, "status", None):
        return f"HTTP {response.status}"
    return f"{type(value).__name__}: {value}".strip()[:300]


def _not_newer(lastmod: str | None, fetched_at: str | None, trust_days: float) -> bool:
    """True when a sitemap lastmod is no later than our last fetch, and that fetch is recent
    enough (trust_days) that a CMS forgetting to bump lastmod cannot hide a change for long."""
    if not lastmod or not fetched_at:
        return False
    try:
        modified = datetime.fromisoformat(lastmod.strip().replace("Z", "+00:00"))
        fetched = datetime.fromisoformat(fetched_at)
    except ValueError:
        return False
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    if (datetime.now(UTC) - fetched).total_seconds() > trust_days * 86400:
        return False
    return modified <= fetched
