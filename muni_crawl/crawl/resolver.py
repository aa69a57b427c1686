"""Scrapy's DNS resolver, refusing a name that resolves to an internal address it may not reach.

A URL can pass every host and port rule and still lead inside the network: a subdomain of an
allowed domain whose DNS record points at 10.0.0.5 or 169.254.169.254. The check belongs
where the name becomes the address that is connected to, so the answer checked is the answer
used (no second lookup that DNS rebinding could change). Hosts that allowed_domains names
exactly (local mirrors, test sites) and the HTTP proxies configured in the environment (which
Scrapy connects to instead of the site) are trusted to resolve anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from urllib.request import getproxies

from scrapy.resolver import CachingThreadedResolver
from twisted.internet.error import DNSLookupError

from muni_crawl.crawl.middleware import ALLOWED_DOMAINS_SETTING
from muni_crawl.offsite import OffsitePolicy

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.internet.base import ReactorBase
    from twisted.internet.defer import Deferred

log = logging.getLogger(__name__)


class AllowedAddressResolver(CachingThreadedResolver):
    """CachingThreadedResolver plus OffsitePolicy.address_refusal on every answer, cached or not.

    A refusal surfaces as a DNSLookupError (Twisted turns any resolver error into one), so the
    page is recorded as failed; the reason is logged as a warning once per name.
    """

    def __init__(
        self,
        reactor: ReactorBase,
        cache_size: int,
        timeout: float,
        policy: OffsitePolicy,
        trusted_hosts: Iterable[str] = (),
    ) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.policy = policy
        self.trusted_hosts = frozenset(_plain(h) for h in trusted_hosts)
        self._warned: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: ReactorBase) -> AllowedAddressResolver:
        settings = crawler.settings
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        return cls(
            reactor,
            cache_size,
            settings.getfloat("DNS_TIMEOUT"),
            OffsitePolicy(settings.getlist(ALLOWED_DOMAINS_SETTING)),
            trusted_hosts=environment_proxy_hosts(),
        )

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        # the cache stores the raw answer, so a cached answer is checked on every use too
        return super().getHostByName(name, timeout).addCallback(self._checked, name)

    def _checked(self, address: str, name: str) -> str:
        if _plain(name) in self.trusted_hosts:
            return address
        reason = self.policy.address_refusal(name, address)
        if reason is None:
            return address
        if name not in self._warned:
            self._warned.add(name)
            log.warning("refused to connect: %s", reason)
        raise DNSLookupError(f"refused to connect: {reason}")


def environment_proxy_hosts() -> set[str]:
    """Hosts of the http(s)_proxy variables, which Scrapy's HttpProxyMiddleware connects to."""
    hosts = set()
    for scheme, url in getproxies().items():
        host = None if scheme == "no" else _proxy_host(url)
        if host:
            hosts.add(host)
    return hosts


def _proxy_host(url: str) -> str | None:
    try:
        return urlsplit(url if "://" in url else "http://" + url).hostname
    except ValueError:
        return None


def _plain(host: str) -> str:
    return host.lower().removesuffix(".")
