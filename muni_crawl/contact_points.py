"""Web addresses, e-mail addresses and phone numbers in free text, normalised for comparison.

Used to check that an LLM reply gives a citizen only the contact points its sources give.
Detection fails closed: whatever a chat window could turn into a link, or a citizen could dial,
counts. That includes bare domains ("mitid-login.dk"), `www.` links, IP addresses with a port
or a path, `tel:` and `mailto:` links, e-mails written "navn (at) firma.dk", and phone numbers
grouped with spaces, dots, dashes or slashes, in any Unicode digits. Text is NFKC-normalised and
stripped of invisible characters first, so full-width or zero-width tricks change nothing.

Two spellings of one contact point share a key: phone digits without separators or +45; URLs
without scheme, `www.`, port 80/443, fragment, trailing slash or trailing punctuation, with a
lower-case host (punycode decoded). Look-alike letters keep their own code points, so
"еksempel.dk" with a Cyrillic "е" never matches "eksempel.dk".

Not detected: numbers spelled in words, numbers of fewer than 8 digits (112, 1813) unless they
start with + or 00, and bare IP addresses with neither port nor path.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from muni_crawl.shown_text import as_shown

URL = "url"
EMAIL = "email"
PHONE = "phone"

# a URL ends at white space, quotes, angle brackets or a citation bracket
_TAIL = r"[^\s<>\"'`«»“”‘’\[\]|{}]*"
_OPAQUE_SCHEMES = (
    "mailto|tel|sms|callto|facetime|javascript|vbscript|livescript|data|file|intent|geo|magnet"
)
_SCHEME_URL = re.compile(
    rf"[a-z][a-z0-9+.-]{{0,30}}://(?:\[[0-9a-f:.]+\])?{_TAIL}|(?:{_OPAQUE_SCHEMES}):[^\s<>\"'`]+",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IPV4 = re.compile(rf"(?<![\w.])\d{{1,3}}(?:\.\d{{1,3}}){{3}}(?::\d{{1,5}}(?:/{_TAIL})?|/{_TAIL})")
_LABEL = r"\w(?:[\w-]*\w)?"
_DOMAIN = re.compile(
    rf"(?<![\w.-])(?:{_LABEL}\.)+(?:[^\W\d_]{{2,63}}|xn--[a-z0-9-]+)(?![\w-])"
    rf"(?::\d{{1,5}})?(?:/{_TAIL})?",
    re.IGNORECASE,
)
# dotted abbreviations and Danish floor/side notation that look like domain names
_NOT_DOMAINS = frozenset(
    {
        "f.eks", "o.lign", "el.lign", "m.fl", "t.o.m", "f.o.m", "d.v.s", "m.a.o", "o.s.v",
        "p.g.a", "m.h.t", "i.f.t", "s.u", "e.g", "i.e", "a.m", "p.m", "st.tv", "st.th", "st.mf",
        "kl.tv", "kl.th",
    }
)  # fmt: skip
# file names are not domains ("skema.pdf"); .zip and .mov are real TLDs and stay domains
_FILE_EXTENSIONS = frozenset(
    {"pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "txt", "csv", "rtf"}
    | {"htm", "html", "jpg", "jpeg", "png", "gif", "svg", "webp", "mp3", "mp4"}
)
_TRAILING = ".,;:!?'\"»›”’"

# digit groups joined by at most three separator characters (never a line break)
_SEPARATOR = r"[ \t\u00a0\u2000-\u200a\u202f.\-/·()\u2010-\u2015\u2212]"
_DIGIT_RUN = re.compile(rf"(?<!\w)(?:\+|\(\+?)?\d+(?:{_SEPARATOR}{{1,3}}\d+)*")
# where one run holds several numbers: a slash, a spaced dash, an en or em dash
_STRONG_SEPARATOR = re.compile(r"\s*/\s*|\s+[-\u2010-\u2015\u2212]\s+|\s*[\u2013\u2014]\s*")
_DATE = re.compile(r"(\d{1,2})\s?[./-]\s?(\d{1,2})\s?[./-]\s?(?:\d{4}|\d{2})")
_ISO_DATE = re.compile(r"\d{4}-(\d{1,2})-(\d{1,2})")
_YEAR_RANGE = re.compile(r"(?:19|20)\d\d\s?[-/\u2010-\u2015\u2212]\s?(?:(?:19|20)\d\d|\d\d)")
_TIME = r"(?:[01]?\d|2[0-4])(?:[.:][0-5]\d)?"
_TIME_RANGE = re.compile(rf"{_TIME}(?:\s?[-\u2010-\u2015\u2212]\s?{_TIME})?")
_AMOUNT_AFTER = re.compile(r"\s?(?:kr\b|kroner|dkk|,-|€|euro)", re.IGNORECASE)
PHONE_DIGITS = 8
INTERNATIONAL_DIGITS = 6

_OBFUSCATED_AT = re.compile(r"\s*[(\[{<]\s*(?:at|snabel-?a|@)\s*[)\]}>]\s*", re.IGNORECASE)
_OBFUSCATED_DOT = re.compile(
    r"\s*[(\[{<]\s*(?:dot|punktum|prik|\.)\s*[)\]}>]\s*", re.IGNORECASE
)  # also the defanged "evil[.]com"
_CITATION = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")
_SPACED_AT = re.compile(r"(?<=\w)\s+@\s+(?=\w)")


@dataclass(frozen=True)
class ContactPoint:
    """One contact point as written, with the keys that ground it.

    `parts` is set for a run of several phone numbers ("70 10 20 30 / 70 10 20 31"): the run
    is grounded as a whole or when every part is. `host` is a URL's host key: a source that
    gives a full address also grounds its bare host.
    """

    kind: str
    shown: str
    key: str
    parts: tuple[str, ...] = ()
    host: str | None = None


def prepare(text: str) -> str:
    """NFKC, no invisible characters, one kind of full stop, e-mail obfuscation undone."""
    text = as_shown(text).replace("\u3002", ".")
    text = _OBFUSCATED_AT.sub("@", text)
    text = _OBFUSCATED_DOT.sub(".", text)
    return _SPACED_AT.sub("@", text)


def find_contact_points(text: str) -> list[ContactPoint]:
    """Every URL, e-mail address and phone number in the text, in that order of detection."""
    text = prepare(text)
    found: list[ContactPoint] = []

    def take(pattern: re.Pattern[str], make: type[_Maker]) -> None:
        nonlocal text
        for match in list(pattern.finditer(text)):
            point = make(text, match).point()
            if point is not None:
                found.append(point)
                start, end = match.span()
                text = text[:start] + " " * (end - start) + text[end:]

    take(_SCHEME_URL, _SchemeUrl)
    take(_EMAIL, _Email)
    take(_IPV4, _BareUrl)
    take(_DOMAIN, _BareUrl)
    text = _CITATION.sub(" ", text)  # "12 34 [1] 56 78" is still one number to a reader
    take(_DIGIT_RUN, _Phone)
    return found


def grounding_keys(texts: Iterable[str], urls: Iterable[str]) -> frozenset[str]:
    """Every key that the given texts and addresses ground (with the bare host of each URL)."""
    keys: set[str] = set()
    for text in texts:
        for point in find_contact_points(text):
            keys.add(point.key)
            keys.update(point.parts)
            if point.host:
                keys.add(point.host)
    for url in urls:
        keys.add(url_key(url))
        keys.add(host_key(url))
    return frozenset(keys)


def is_grounded(point: ContactPoint, keys: frozenset[str]) -> bool:
    if point.key in keys:
        return True
    return bool(point.parts) and all(part in keys for part in point.parts)


class _Maker:
    """Turns one regex match into a ContactPoint, or None when it is not one after all."""

    def __init__(self, text: str, match: re.Match[str]) -> None:
        self.text = text
        self.match = match

    def point(self) -> ContactPoint | None:
        raise NotImplementedError


class _SchemeUrl(_Maker):
    def point(self) -> ContactPoint | None:
        shown = _trim(self.match.group())
        scheme, _, rest = shown.partition(":")
        scheme = scheme.lower()
        if scheme in ("tel", "sms", "callto", "facetime"):
            return ContactPoint(PHONE, shown, "phone:" + _phone_digits(rest))
        if scheme == "mailto":
            return ContactPoint(EMAIL, shown, email_key(rest.split("?")[0]))
        return ContactPoint(URL, shown, url_key(shown), host=host_key(shown))


class _Email(_Maker):
    def point(self) -> ContactPoint | None:
        shown = _trim(self.match.group())
        return ContactPoint(EMAIL, shown, email_key(shown))


class _BareUrl(_Maker):
    def point(self) -> ContactPoint | None:
        shown = _trim(self.match.group())
        host = re.split(r"[:/]", shown, maxsplit=1)[0].lower()
        labels = host.split(".")
        if host in _NOT_DOMAINS or labels[-1] in _FILE_EXTENSIONS:
            return None
        if len(labels) == 2 and labels[0].isdigit() and "/" not in shown:  # "2.th", "1.sal"
            return None
        return ContactPoint(URL, shown, url_key(shown), host=host_key(shown))


class _Phone(_Maker):
    def point(self) -> ContactPoint | None:
        shown = self.match.group().rstrip(" .-/(")
        after = self.text[self.match.end() :]
        if _harmless(shown) or _AMOUNT_AFTER.match(after):
            return None
        digits = _phone_digits(shown)
        international = shown.lstrip("(").startswith(("+", "00"))
        if len(digits) < (INTERNATIONAL_DIGITS if international else PHONE_DIGITS):
            return None
        pieces = [p for p in _STRONG_SEPARATOR.split(shown) if p.strip()]
        numbers = [p for p in pieces if not _harmless(p)]
        if not numbers:
            return None  # only dates, years and times
        parts = tuple("phone:" + _phone_digits(p) for p in numbers)
        if len(pieces) == 1 or any(len(part) - len("phone:") < PHONE_DIGITS for part in parts):
            parts = ()  # one number, or a piece too short to be a number of its own
        return ContactPoint(PHONE, shown, "phone:" + digits, parts=parts)


def _harmless(text: str) -> bool:
    """Dates, year ranges and times: numbers a reply may write in its own words."""
    text = text.strip(" ()")
    date = _DATE.fullmatch(text)
    if date is not None:
        return 1 <= int(date.group(1)) <= 31 and 1 <= int(date.group(2)) <= 12
    iso = _ISO_DATE.fullmatch(text)
    if iso is not None:
        return 1 <= int(iso.group(1)) <= 12 and 1 <= int(iso.group(2)) <= 31
    return bool(_YEAR_RANGE.fullmatch(text) or _TIME_RANGE.fullmatch(text))


def _phone_digits(text: str) -> str:
    """The digits of a phone number in ASCII, without a 00 prefix or the Danish +45."""
    digits = "".join(str(unicodedata.decimal(ch)) for ch in text if ch.isdecimal())
    if digits.startswith("00"):
        digits = digits[2:]
    if len(digits) == PHONE_DIGITS + 2 and digits.startswith("45"):
        digits = digits[2:]
    return digits


def _trim(url: str) -> str:
    """Without trailing punctuation; a closing bracket stays only if it closes one in the URL."""
    while url:
        last = url[-1]
        if last in _TRAILING or (last == ")" and url.count(")") > url.count("(")):
            url = url[:-1]
        else:
            break
    return url


def url_key(url: str) -> str:
    """Host (lower case, no `www.`), non-default port, path without trailing slash, query."""
    text = url.strip().replace("\\", "/")  # browsers read a backslash as a slash
    scheme = re.match(r"([a-z][a-z0-9+.-]*):(//)?", text, re.IGNORECASE)
    if scheme is not None and not scheme.group(2):
        return "url:" + text.lower()  # an opaque address (javascript:, data:, ...)
    if scheme is None:
        text = "//" + text.lstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return "url-invalid:" + text
    host = _host(parts.hostname or "")
    port_text = f":{port}" if port not in (None, 80, 443) else ""
    query = f"?{parts.query}" if parts.query else ""
    return f"url:{host}{port_text}{parts.path.rstrip('/')}{query}"


def host_key(url: str) -> str:
    """The key of the URL's host and port alone."""
    return url_key(url).split("/", 1)[0].split("?", 1)[0]


def email_key(address: str) -> str:
    local, _, domain = address.strip().rpartition("@")
    return f"email:{local.lower()}@{_host(domain)}"


def _host(host: str) -> str:
    """Lower case, punycode labels decoded, no trailing dot, no leading `www.`."""
    labels = []
    for label in unicodedata.normalize("NFKC", host).strip(".").lower().split("."):
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError, ValueError):
                label = label[4:].encode("ascii").decode("punycode")
        labels.append(label)
    if len(labels) > 2 and labels[0] == "www":
        labels = labels[1:]
    return ".".join(labels)
