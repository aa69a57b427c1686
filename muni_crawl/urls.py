"""URL normalisation: one spelling per page, so crawl traps and tracking noise collapse."""

from __future__ import annotations

import posixpath
import re
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

# Query parameters that never change what a page says.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "yclid",
        "igshid",
        "ref",
        "sessionid",
        "session_id",
        "sid",
        "phpsessid",
        "jsessionid",
        "aspsessionid",
        "cfid",
        "cftoken",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
_PATH_SESSION = re.compile(r";(jsessionid|sid|phpsessid)=[^/?#]*", re.IGNORECASE)
MAX_URL_LENGTH = 2000


@lru_cache(maxsize=16_384)
def normalise_url(url: str) -> str:
    """Canonical form: lower-case scheme/host, no default port, no fragment, no session ids or
    tracking parameters, sorted query, resolved dot-segments, consistent percent-encoding.

    Cached: a crawl normalises the same menu and section links on every page it reads, and
    once more when it schedules them (a few MB at most)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port
    netloc = host
    if port is not None and not (
        (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    ):
        netloc = f"{host}:{port}"
    path = _PATH_SESSION.sub("", parts.path) or "/"
    path = _clean_path(path)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    query.sort()
    return urlunsplit((scheme, netloc, path, urlencode(query, quote_via=quote), ""))


def _clean_path(path: str) -> str:
    trailing = path.endswith("/")
    resolved = posixpath.normpath(path) if path not in ("", "/") else "/"
    if resolved.startswith("//"):
        resolved = "/" + resolved.lstrip("/")
    if trailing and not resolved.endswith("/"):
        resolved += "/"
    return quote(unquote(resolved), safe="/:@!$&'()*+,;=-._~%")


def path_key(url: str) -> str:
    """The URL without its query: used to cap how many query variants one path may have."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def looks_like_trap(url: str) -> bool:
    """Heuristics for URLs that only a crawl trap produces: huge URLs, repeating path segments."""
    if len(url) > MAX_URL_LENGTH:
        return True
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if len(segments) > 15:
        return True
    # the same segment three or more times (/a/b/a/b/a/...) is a relative-link loop
    return any(segments.count(s) >= 3 for s in set(segments))
