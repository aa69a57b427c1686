"""Whether a source answered at all: its network failures, each named in one line for an operator.

A site that is down (connection refused, a name that does not resolve, a TLS handshake that
fails, no answer within the download timeout) is not a broken site: nothing it said can be
judged, so nothing is stored as changed and nothing deleted, and the run is `unreachable`
with the cause in its message. The spiders note every failed request here; the worker calls
the source unreachable when no request got any HTTP answer (so only its start requests were
tried: start URLs, sitemaps and robots.txt; the service catalogue; the feed) and at least
one failed for a network reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from twisted.python.failure import Failure

MAX_CAUSES = 3  # distinct causes kept for the message

_DEFAULT_PORTS = {"http": 80, "https": 443}


class NetworkFailures:
    """The distinct network causes of a crawl's failed requests, in the order first seen."""

    def __init__(self, download_timeout: float) -> None:
        self.download_timeout = download_timeout
        self.causes: list[str] = []

    def note(self, failure: Failure, url: str | None = None) -> str | None:
        """Record why `failure` got no answer at all; None (nothing recorded) for a failure
        that is not a network one (an HTTP error status, a refused redirect, a bad body)."""
        request = getattr(failure, "request", None)
        url = url or (request.url if request is not None else "")
        if failure.value is None:
            return None
        cause = network_cause(failure.value, url, self.download_timeout)
        if cause is not None and cause not in self.causes and len(self.causes) < MAX_CAUSES:
            self.causes.append(cause)
        return cause

    def message(self) -> str:
        return "; ".join(self.causes)


def network_cause(error: BaseException, url: str, download_timeout: float) -> str | None:
    """One line naming why a request to `url` got no answer, or None when it is not a
    network failure."""
    where = _host_port(url)
    chain = list(_chain(error))
    names = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain)
    if "refused to connect" in text:  # the resolver's address check: not the site's fault
        return _clip(next(str(e) for e in chain if "refused to connect" in str(e)))
    if names & {"SSLError", "Error"} and any(_is_tls(e) for e in chain):
        return f"TLS handshake failed with {where}: {_tls_reason(chain)}"
    if names & {"DownloadConnectionRefusedError", "ConnectionRefusedError"}:
        return f"connection refused by {where}"
    if names & {"CannotResolveHostError", "DNSLookupError", "UnknownHostError"}:
        return f"DNS lookup failed for {urlsplit(url).hostname or where}"
    if names & {"DownloadTimeoutError", "TimeoutError", "TCPTimedOutError"}:
        return f"timed out after {download_timeout:g} s waiting for {where}"
    if names & {"NoRouteError", "ConnectError", "ConnectBindError"}:
        return f"no connection to {where}: {_clip(str(chain[-1]))}"
    if names & {"ConnectionLost", "ConnectionDone", "ResponseNeverReceived"}:
        return f"{where} closed the connection without an answer"
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what caused it, and the failures a Twisted ResponseFailed wraps."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for reason in getattr(current, "reasons", None) or []:
            value = getattr(reason, "value", None)
            if isinstance(value, BaseException):
                todo.append(value)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)


def _is_tls(error: BaseException) -> bool:
    module = type(error).__module__
    return module.startswith("OpenSSL") or type(error).__name__ == "SSLError"


def _tls_reason(chain: list[BaseException]) -> str:
    """OpenSSL's reason ("wrong version number"), not the nested tuple it comes in."""
    for error in chain:
        if not _is_tls(error):
            continue
        reasons = [
            str(part[2])
            for arg in error.args
            if isinstance(arg, list)
            for part in arg
            if isinstance(part, tuple) and len(part) == 3 and part[2]
        ]
        if reasons:
            return _clip(", ".join(reasons))
        if str(error):
            return _clip(str(error))
    return "no details"


def _host_port(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return url or "?"
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
