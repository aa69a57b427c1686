"""The spider of a knowledge-base source: one feed (a URL, or a file in the home) -> records.

The feed is one fetched resource whose documents are its records, so the store's versioning
does the rest: an unchanged record makes no new version, a changed one does (and approved
answers citing it go stale), and a record gone from the feed is deleted. A URL feed is fetched
through Scrapy like any page (politeness, retries, conditional requests, the offsite guard),
with `Authorization: Bearer $<auth_env>` when the source names a variable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import scrapy
from scrapy.http import Request, Response
from twisted.python.failure import Failure

from muni_crawl.config import CrawlSettings
from muni_crawl.crawl.feeds import FeedError, detect_format, read_feed, record_document
from muni_crawl.crawl.reachability import NetworkFailures
from muni_crawl.errors import CrawlError
from muni_crawl.sources import SourceSpec
from muni_crawl.store import PageStore
from muni_crawl.types import Document

log = logging.getLogger(__name__)

FEED_READER_VERSION = 2  # bump when records are turned into documents differently


def feed_credentials(spec: SourceSpec) -> dict[str, str]:
    """The Authorization header the source asks for; CrawlError naming the variable if unset."""
    if not spec.auth_env:
        return {}
    token = os.environ.get(spec.auth_env, "").strip()
    if not token:
        raise CrawlError(
            spec.name,
            f"the environment variable {spec.auth_env} is not set (auth_env in"
            f" {spec.path.name}): the feed's token is read from it",
        )
    return {"Authorization": f"Bearer {token}"}


class FeedSpider(scrapy.Spider):
    """Reads one knowledge-base feed into the store."""

    name = "muni_crawl_feed"

    def __init__(
        self,
        spec: SourceSpec,
        store: PageStore,
        run_id: int,
        settings: CrawlSettings,
        progress: bool = True,
        municipalities: Mapping[int, str] | None = None,
        home: Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.store = store
        self.run_id = run_id
        self.allowed_domains = list(spec.allowed_hosts)
        self.municipalities = dict(municipalities or {})
        self.home = home or Path.cwd()
        self.headers = feed_credentials(spec)
        self.max_records = spec.max_pages or settings.max_pages
        self.capped = False
        self.counts: Counter[str] = Counter()
        self.notes: list[str] = []
        self.network = NetworkFailures(settings.download_timeout)  # see the worker: unreachable

    @property
    def feed_url(self) -> str:
        """The feed's address: its URL, or `kb://<source>/<path>` for a file in the home."""
        feed = self.spec.feed or ""
        return feed if "://" in feed else f"kb://{self.spec.name}/{feed.lstrip('/')}"

    async def start(self) -> AsyncIterator[Request]:
        feed = self.spec.feed or ""
        if "://" not in feed:
            self._read_file(self.home / feed)
            return
        headers = dict(self.headers)
        state = self.store.resource_states(self.spec.name).get(feed)
        if state is not None and state.extractor_version == FEED_READER_VERSION:
            if state.etag:
                headers["If-None-Match"] = state.etag
            if state.last_modified:
                headers["If-Modified-Since"] = state.last_modified
        yield Request(
            feed,
            headers=headers,
            callback=self.parse_feed,
            errback=self.on_error,
            dont_filter=True,
            meta={"handle_httpstatus_list": [304, 401, 403, 404, 410]},
        )

    def _read_file(self, path: Path) -> None:
        try:
            body = path.read_bytes()
        except OSError as exc:
            self._fail(self.feed_url, f"cannot read the feed file {path}: {exc.strerror or exc}")
            return
        self._store(self.feed_url, body, http_status=200, name=path.name, headers={})

    def parse_feed(self, response: Response) -> None:
        url = response.request.url if response.request is not None else response.url
        if response.status == 304:
            self.store.record_seen(self.run_id, self.spec.name, url, counter="not_modified")
            return
        if response.status in (401, 403):
            hint = f" (check {self.spec.auth_env})" if self.spec.auth_env else " (set auth_env)"
            self._fail(url, f"the feed refused us: HTTP {response.status}{hint}")
            return
        if response.status >= 400:
            self._fail(url, f"the feed answered HTTP {response.status}")
            return
        headers = {
            "etag": _header(response, "ETag"),
            "last_modified": _header(response, "Last-Modified"),
        }
        self._store(url, response.body, response.status, url, headers)

    def _store(
        self, url: str, body: bytes, http_status: int, name: str, headers: dict[str, str | None]
    ) -> None:
        try:
            read = read_feed(
                body, detect_format(body, self.spec.feed_format, name), self.spec.fields
            )
        except FeedError as exc:
            self._fail(url, f"the feed cannot be read: {exc}")
            return
        documents: list[Document] = []
        used: set[str] = set()
        elsewhere = 0
        for record in read.records:
            if record.municipality_code and record.municipality_code not in self.municipalities:
                elsewhere += 1  # another municipality's fact: never stored for these tenants
                continue
            document = record_document(self.feed_url, record)
            if document.url in used:  # two facts citing one page: one citable unit each
                suffix = hashlib.sha256(f"{record.row}:{record.title}".encode()).hexdigest()[:12]
                document = _with_url(document, f"{document.url.split('#')[0]}#record-{suffix}")
            used.add(document.url)
            documents.append(document)
        if len(documents) > self.max_records:
            self.capped = True  # the run is then incomplete: nothing else is deleted
            self.notes.append(f"{len(documents)} records, only the first {self.max_records} kept")
            documents = documents[: self.max_records]
        self.counts["records"] = len(documents)
        if elsewhere:
            self.notes.append(f"{elsewhere} record(s) for municipalities this source does not feed")
        if read.malformed:
            rows = ", ".join(f"row {row}: {why}" for row, why in read.malformed[:5])
            more = f" and {len(read.malformed) - 5} more" if len(read.malformed) > 5 else ""
            self.notes.append(f"{len(read.malformed)} malformed record(s) skipped ({rows}{more})")
            log.warning("%s: %s", self.spec.name, self.notes[-1])
        signature = json.dumps(
            [sorted(self.municipalities), self.spec.fields or {}, FEED_READER_VERSION]
        )
        self.store.record_fetch(
            self.run_id,
            self.spec.name,
            url,
            http_status=http_status,
            content_type="application/x-knowledge-base",
            etag=headers.get("etag"),
            last_modified=headers.get("last_modified"),
            depth=0,
            links=[],
            documents=documents,
            raw_fingerprint=hashlib.sha256(body + signature.encode()).hexdigest(),
            extractor_version=FEED_READER_VERSION,
        )

    def on_error(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        url = request.url if request is not None else self.feed_url
        self.network.note(failure, url)
        self._fail(url, f"{failure.type.__name__ if failure.type else 'error'}: {failure.value}")

    def _fail(self, url: str, error: str) -> None:
        log.error("%s: %s", self.spec.name, error)
        self.notes.append(error)
        self.store.record_failure(self.run_id, self.spec.name, url, error)


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _with_url(document: Document, url: str) -> Document:
    from dataclasses import replace

    return replace(document, url=url)
