"""Which hosts a source fetches from, so that two sources on one host never crawl at once.

Scrapy throttles each host within one crawl (download_delay, AutoThrottle, concurrency per
host). Two worker processes know nothing of each other's delays: if they crawled one host at
the same time, it would get twice the requests we promise. run_crawl therefore runs sources
that share a host one after the other, whatever `crawl_workers` allows.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from muni_crawl.sources import SourceSpec

__all__ = ["share_a_host", "source_hosts"]


def source_hosts(spec: SourceSpec) -> frozenset[str]:
    """The hosts (with a port where one is named) a source may fetch from: its allowed
    domains and the hosts of its start URLs, sitemaps, and service or feed URL."""
    hosts = {domain.lower() for domain in spec.allowed_domains}
    # api and feed belong to the service and feed sources (borger.dk, knowledge bases)
    services = [getattr(spec, "api", None), getattr(spec, "feed", None)]
    urls = [*spec.start_urls, *spec.sitemaps, *services]
    for url in urls:
        if isinstance(url, str) and "://" in url:
            netloc = urlsplit(url).netloc.rsplit("@", 1)[-1].lower()
            if netloc:
                hosts.add(netloc)
    return frozenset(hosts)


def share_a_host(a: SourceSpec, b: SourceSpec) -> bool:
    """Could these two sources send requests to the same host? A domain covers its
    subdomains (as allowed_domains does); a named port must match, no port matches any."""
    return any(_same_host(x, y) for x in source_hosts(a) for y in source_hosts(b))


def _same_host(a: str, b: str) -> bool:
    host_a, port_a = _split(a)
    host_b, port_b = _split(b)
    if port_a and port_b and port_a != port_b:
        return False
    return host_a == host_b or host_a.endswith("." + host_b) or host_b.endswith("." + host_a)


def _split(host: str) -> tuple[str, str]:
    """'example.dk:8080' -> ('example.dk', '8080'); '[::1]:80' -> ('::1', '80')."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name, rest.removeprefix(":")
    if host.count(":") == 1:
        name, _, port = host.partition(":")
        return name, port
    return host, ""
