"""The spider of a borger_dk source: borger.dk's ArticleExport service -> national and local text.

1. The catalogue (GetAllArticles) lists every article with its LastUpdated. An article whose
   LastUpdated, tenant set and reader version are those stored is not fetched again: an
   unchanged service costs one request.
2. Each changed article's national text comes from GetArticleByID without a municipality
   (faults there are per article: "not exportable" and "not found" are counted, not failures).
3. Then, per tenant municipality, GetArticlesByIDs fetches that municipality's versions of the
   changed articles in batches; what differs from the national text is stored as that
   municipality's local page (see local_text). A batch the service refuses is retried article
   by article.
4. Each article is stored as one fetched resource whose documents are the national text and the
   local texts; versioning, deletions (an article gone from the catalogue) and the anomaly
   guard work as for a crawled site.

Every request is a SOAP POST through Scrapy (politeness, retries, the offsite guard); every
detail of the wire format is in article_export.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import scrapy
from scrapy.http import Request, Response
from twisted.python.failure import Failure

from muni_crawl.config import CrawlSettings
from muni_crawl.crawl import article_export as wire
from muni_crawl.crawl.local_text import local_document, national_document
from muni_crawl.crawl.reachability import NetworkFailures
from muni_crawl.sources import SourceSpec
from muni_crawl.store import PageStore, ResourceState
from muni_crawl.types import Document

log = logging.getLogger(__name__)

ARTICLE_READER_VERSION = 1  # bump when articles are turned into documents differently
BATCH = 25  # articles per GetArticlesByIDs request


@dataclass
class _Chunk:
    """Changed articles fetched together: national texts first, then each municipality's."""

    articles: dict[int, wire.ArticleDescription]
    national: dict[int, wire.Article] = field(default_factory=dict)
    local: dict[int, dict[int, wire.Article]] = field(default_factory=dict)  # code -> id -> art
    waiting: int = 0


class ArticleExportSpider(scrapy.Spider):
    """Reads one borger_dk source's articles through the ArticleExport service."""

    name = "muni_crawl_articles"

    def __init__(
        self,
        spec: SourceSpec,
        store: PageStore,
        run_id: int,
        settings: CrawlSettings,
        progress: bool = True,
        municipalities: Mapping[int, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.store = store
        self.run_id = run_id
        self.allowed_domains = list(spec.allowed_hosts)
        self.api = spec.api or ""
        self.municipalities = dict(sorted((municipalities or {}).items()))
        self.known: dict[str, ResourceState] = store.resource_states(spec.name)
        self.max_articles = spec.max_pages or settings.max_pages
        self.retries = settings.retries
        self.capped = False
        self.counts: Counter[str] = Counter()
        self.notes: list[str] = []
        self.network = NetworkFailures(settings.download_timeout)  # see the worker: unreachable
        # what a stored article was read with: a new tenant or reader version reads it again
        self.signature = hashlib.sha256(
            json.dumps([sorted(self.municipalities), ARTICLE_READER_VERSION]).encode()
        ).hexdigest()[:16]

    def _post(self, operation: str, callback: Any, meta: dict[str, Any], **params: Any) -> Request:
        # A SOAP fault comes with HTTP 500: it is the service's answer, read by the callback,
        # not retried. Network errors are retried by on_error (Scrapy's retry would also
        # repeat every fault).
        return Request(
            self.api,
            method="POST",
            body=wire.envelope(operation, **params),
            headers=wire.headers(operation),
            callback=callback,
            errback=self.on_error,
            dont_filter=True,  # the same URL for every operation
            meta={
                "attempt": 0,
                **meta,
                "operation": operation,
                "handle_httpstatus_list": [400, 500],
                "dont_retry": True,
            },
        )

    async def start(self) -> AsyncIterator[Request]:
        yield self._post("GetAllArticles", self.parse_catalogue, {})

    # -- 1. the catalogue ---------------------------------------------------------------------

    def parse_catalogue(self, response: Response) -> Any:
        try:
            catalogue = wire.parse_catalogue(response.body)
        except (wire.ServiceFault, wire.NotASoapReply) as exc:
            self._fail(self.api, f"the catalogue (GetAllArticles) failed: {exc}")
            return
        wanted = [d for d in catalogue if self.spec.wants_article(d.article_id, d.url)]
        if len(wanted) > self.max_articles:
            wanted, self.capped = wanted[: self.max_articles], True
        changed = []
        for description in wanted:
            state = self.known.get(description.url)
            if (
                state is not None
                and state.status == "live"
                and state.last_modified == description.last_updated
                and state.etag == self.signature
                and state.extractor_version == ARTICLE_READER_VERSION
            ):
                self.store.record_seen(
                    self.run_id, self.spec.name, description.url, counter="skipped"
                )
                continue
            changed.append(description)
        self.counts["catalogue"] = len(catalogue)
        for start in range(0, len(changed), BATCH):
            chunk = _Chunk({d.article_id: d for d in changed[start : start + BATCH]})
            chunk.waiting = len(chunk.articles)
            for article_id in chunk.articles:
                yield self._post(
                    "GetArticleByID",
                    self.parse_national,
                    {"chunk": chunk, "article_id": article_id},
                    articleID=article_id,
                )

    # -- 2. national texts --------------------------------------------------------------------

    def parse_national(self, response: Response) -> Any:
        chunk: _Chunk = response.meta["chunk"]
        article_id: int = response.meta["article_id"]
        description = chunk.articles[article_id]
        try:
            chunk.national[article_id] = wire.parse_article(response.body, None)
        except wire.ServiceFault as fault:
            self._article_fault(description, fault)
        except wire.NotASoapReply as exc:
            self._fail(description.url, f"article {article_id}: {exc}")
        chunk.waiting -= 1
        if chunk.waiting == 0:
            yield from self._local_requests(chunk)

    # -- 3. each municipality's versions -------------------------------------------------------

    def _local_requests(self, chunk: _Chunk) -> Any:
        ids = sorted(chunk.national)
        if not ids or not self.municipalities:
            self._record(chunk)
            return
        chunk.waiting = len(self.municipalities)
        for code in self.municipalities:
            yield self._post(
                "GetArticlesByIDs",
                self.parse_local_batch,
                {"chunk": chunk, "code": code},
                articleIDs=ids,
                municipalityCode=code,
            )

    def parse_local_batch(self, response: Response) -> Any:
        chunk: _Chunk = response.meta["chunk"]
        code: int = response.meta["code"]
        try:
            articles = wire.parse_articles(response.body, code)
        except (wire.ServiceFault, wire.NotASoapReply) as exc:
            # one article may spoil a batch: ask for this municipality's articles one by one
            log.info(
                "%s: batch for municipality %d refused (%s); one by one", self.spec.name, code, exc
            )
            ids = sorted(chunk.national)
            chunk.waiting += len(ids) - 1
            for article_id in ids:
                yield self._post(
                    "GetArticleByID",
                    self.parse_local_one,
                    {"chunk": chunk, "code": code},
                    articleID=article_id,
                    municipalityCode=code,
                )
            return
        chunk.local[code] = {a.article_id: a for a in articles if a.article_id in chunk.national}
        self._done_one(chunk)

    def parse_local_one(self, response: Response) -> None:
        chunk: _Chunk = response.meta["chunk"]
        code: int = response.meta["code"]
        try:
            article = wire.parse_article(response.body, code)
            chunk.local.setdefault(code, {})[article.article_id] = article
        except (wire.ServiceFault, wire.NotASoapReply) as exc:
            self.counts["local_faults"] += 1
            log.info("%s: municipality %d: %s", self.spec.name, code, exc)
        self._done_one(chunk)

    def _done_one(self, chunk: _Chunk) -> None:
        """One municipal reply (or failure) less to wait for; the last one stores the chunk."""
        chunk.waiting -= 1
        if chunk.waiting == 0:
            self._record(chunk)

    # -- 4. storing -----------------------------------------------------------------------------

    def _record(self, chunk: _Chunk) -> None:
        for article_id, national in sorted(chunk.national.items()):
            description = chunk.articles[article_id]
            documents: list[Document] = [national_document(national)]
            versions = [national.content]
            for code, name in self.municipalities.items():
                own = chunk.local.get(code, {}).get(article_id)
                if own is None:
                    continue
                versions.append(f"{code}:{own.header}:{own.content}")
                local = local_document(national, own, code, name)
                if local is not None:
                    documents.append(local)
            fingerprint = hashlib.sha256(
                "\n".join([self.signature, national.title, national.header, *versions]).encode()
            ).hexdigest()
            self.store.record_fetch(
                self.run_id,
                self.spec.name,
                description.url,
                http_status=200,
                content_type="application/soap+xml",
                etag=self.signature,
                last_modified=description.last_updated,
                depth=0,
                links=[],
                documents=documents,
                raw_fingerprint=fingerprint,
                extractor_version=ARTICLE_READER_VERSION,
            )
            self.counts["articles"] += 1
        chunk.national.clear()
        chunk.local.clear()

    def _article_fault(
        self, description: wire.ArticleDescription, fault: wire.ServiceFault
    ) -> None:
        if fault.per_article:
            # not exportable (any more) or gone: not stored, so a complete crawl deletes it
            self.counts["not_exportable"] += 1
            log.info("%s: article %d: %s", self.spec.name, description.article_id, fault)
            return
        self._fail(description.url, f"article {description.article_id}: {fault}")

    def on_error(self, failure: Failure) -> Any:
        """A request that failed for good (after retries): count it, and let its chunk go on."""
        request = getattr(failure, "request", None)
        meta = request.meta if request is not None else {}
        if request is not None and meta.get("attempt", 0) < self.retries and not _answered(failure):
            yield request.replace(meta={**meta, "attempt": meta.get("attempt", 0) + 1})
            return
        self.network.note(failure)
        chunk: _Chunk | None = meta.get("chunk")
        error = f"{failure.type.__name__ if failure.type else 'error'}: {failure.value}"
        if chunk is None:
            self._fail(self.api, f"the catalogue (GetAllArticles) failed: {error}")
            return
        if "code" not in meta:  # a national text
            self._fail(chunk.articles[meta["article_id"]].url, error)
            chunk.waiting -= 1
            if chunk.waiting == 0:
                yield from self._local_requests(chunk)
            return
        self.counts["local_faults"] += 1
        self._done_one(chunk)

    def _fail(self, url: str, error: str) -> None:
        log.error("%s: %s", self.spec.name, error)
        if len(self.notes) < 5:
            self.notes.append(error)
        self.store.record_failure(self.run_id, self.spec.name, url, error)

    def closed(self, reason: str) -> None:
        if self.counts["not_exportable"]:
            self.notes.append(
                f"{self.counts['not_exportable']} article(s) not exportable or not found"
            )
        if self.counts["local_faults"]:
            self.notes.append(
                f"{self.counts['local_faults']} municipal version(s) could not be read"
            )


def _answered(failure: Failure) -> bool:
    """The service answered (an HTTP error status): asking again would get the same answer."""
    from scrapy.spidermiddlewares.httperror import HttpError

    return isinstance(failure.value, HttpError)
