"""Downloader middlewares: the offsite guard, and exponential backoff before each retry."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urljoin, urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from w3lib.url import safe_url_string

from muni_crawl.offsite import OffsitePolicy

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

log = logging.getLogger(__name__)

# the Scrapy setting that carries the source's allowed_domains to the guard and the resolver
ALLOWED_DOMAINS_SETTING = "MUNI_CRAWL_ALLOWED_DOMAINS"
# before Scrapy's own offsite check (50) and robots.txt (100): nothing leaves unchecked
OFFSITE_GUARD_PRIORITY = 40
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


class RetryBackoffMiddleware:
    """Delays a retry by base * 2**(attempt-1) seconds, capped; first tries go at once."""

    def __init__(self, base: float = 0.5, cap: float = 30.0) -> None:
        self.base = base
        self.cap = cap

    @classmethod
    def from_crawler(cls, crawler: Any) -> RetryBackoffMiddleware:
        return cls(
            base=crawler.settings.getfloat("MUNI_CRAWL_RETRY_BACKOFF", 0.5),
            cap=crawler.settings.getfloat("MUNI_CRAWL_RETRY_BACKOFF_MAX", 30.0),
        )

    async def process_request(self, request: Request, spider: Any = None) -> None:
        attempt = int(request.meta.get("retry_times", 0))
        if attempt > 0:
            await asyncio.sleep(min(self.cap, self.base * 2 ** (attempt - 1)))
        return None


class OffsiteRefused(IgnoreRequest):
    """A request the offsite guard would not send: the URL, why, and where it came from."""

    def __init__(self, url: str, reason: str, origin: str | None = None) -> None:
        self.url = url
        self.reason = reason
        self.origin = origin
        via = f" (reached from {origin})" if origin else ""
        super().__init__(f"off-site request refused: {url}{via}: {reason}")


class OffsiteGuardMiddleware:
    """Refuses, before anything is sent, every request outside the source's allowed_domains.

    It runs first in the downloader chain (OFFSITE_GUARD_PRIORITY, before robots.txt is
    fetched), so it sees start URLs, robots.txt, sitemaps and every request that Scrapy's
    redirect and meta-refresh middlewares create, since those re-enter the chain. Requests
    are made with dont_filter=True, which makes Scrapy's own offsite check skip them; this
    one has no such exemption. A redirect that Scrapy does not follow (to file:, data:) is
    refused here too, so it is counted like the others instead of failing as an HTTP 302.
    """

    def __init__(self, policy: OffsitePolicy, stats: StatsCollector | None = None) -> None:
        self.policy = policy
        self.stats = stats
        self._warned_hosts: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> OffsiteGuardMiddleware:
        # no setting means no allowed domain: every request is refused (fail closed)
        domains = crawler.settings.getlist(ALLOWED_DOMAINS_SETTING)
        return cls(OffsitePolicy(domains), crawler.stats)

    def process_request(self, request: Request) -> None:
        reason = self.policy.refusal(request.url)
        if reason is not None:
            self._refuse(request.url, reason, _origin(request))

    def process_response(self, request: Request, response: Response) -> Response:
        location = response.headers.get("Location")
        if response.status in REDIRECT_STATUSES and location:
            target = urljoin(request.url, safe_url_string(location))
            reason = self.policy.refusal(target)
            if reason is not None:
                self._refuse(target, reason, request.url)
        return response

    def _refuse(self, url: str, reason: str, origin: str | None) -> NoReturn:
        refused = OffsiteRefused(url, reason, origin)
        if self.stats is not None:
            self.stats.inc_value("muni_crawl/offsite_refused")
        host = urlsplit(url).netloc or url[:40]
        # the first refusal per host is a warning, the rest go to the -v log
        level = logging.INFO if host in self._warned_hosts else logging.WARNING
        self._warned_hosts.add(host)
        log.log(level, "%s", refused)
        raise refused


def _origin(request: Request) -> str | None:
    """The page whose redirect or meta refresh produced this request, if any."""
    chain = request.meta.get("redirect_urls") or []
    return str(chain[-1]) if chain else None
