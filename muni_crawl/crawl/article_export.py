"""borger.dk's ArticleExport web service: every detail of its wire format, in one place.

The service is SOAP 1.1 (WCF basicHttpBinding) at `<host>/_vti_bin/borger/ArticleExport.svc`.
A request is a POST of an envelope whose body is an element named after the operation in the
service namespace, one child per parameter (an int[] as `int` elements in the Microsoft arrays
namespace); the SOAPAction header names the operation. The reply is `<Op>Response` holding
`<Op>Result`; a failure is a SOAP fault. What is known of the contract, and what is not, is in
docs/sources.md ("borger.dk"): every name below is one of the details to check on the first
live run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from lxml import etree

SERVICE_NS = "http://www.borger.dk/2009/WSArticleExport/v1"
TYPES_NS = "http://www.borger.dk/2009/WSArticleExport/v1/types"
ARRAYS_NS = "http://schemas.microsoft.com/2003/10/Serialization/Arrays"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
CONTENT_TYPE = "text/xml; charset=utf-8"

# the ends of fault messages that are per-article outcomes, not a broken service
NOT_EXPORTABLE = "has been marked as not exportable."
NOT_FOUND = "No article found with"


def soap_action(operation: str) -> str:
    return f"{SERVICE_NS}/IArticleExport/{operation}"


def envelope(operation: str, **parameters: int | str | datetime | Sequence[int] | None) -> bytes:
    """The request body for `operation`; None parameters are omitted (WCF reads them as null)."""
    children = []
    for name, value in parameters.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            children.append(f"<{name}>{value.isoformat(timespec='seconds')}</{name}>")
        elif isinstance(value, str | int):
            children.append(f"<{name}>{escape(str(value))}</{name}>")
        else:
            items = "".join(f"<a:int>{int(v)}</a:int>" for v in value)
            children.append(f'<{name} xmlns:a="{ARRAYS_NS}">{items}</{name}>')
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body>'
        f'<{operation} xmlns="{SERVICE_NS}">{"".join(children)}</{operation}>'
        "</s:Body></s:Envelope>"
    ).encode()


def headers(operation: str) -> dict[str, str]:
    return {"Content-Type": CONTENT_TYPE, "SOAPAction": f'"{soap_action(operation)}"'}


@dataclass(frozen=True)
class ArticleDescription:
    """One entry of the catalogue (GetAllArticles)."""

    article_id: int
    title: str
    url: str
    last_updated: str  # as the service wrote it (Danish local time, no offset)


@dataclass(frozen=True)
class Article:
    """One article for one municipality (or the national text when `municipality_code` is None)."""

    article_id: int
    title: str
    header: str
    url: str
    content: str  # HTML
    last_updated: str
    municipality_code: int | None = None


class ServiceFault(Exception):
    """A SOAP fault: the service's own message, and whether it is a per-article outcome."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def per_article(self) -> bool:
        """Not exportable or not found: counted for the article, not a failure of the crawl."""
        return self.message.rstrip().endswith(NOT_EXPORTABLE) or self.message.startswith(NOT_FOUND)


class NotASoapReply(Exception):
    """The reply is not a SOAP envelope (an HTML error page, a login page, garbage)."""


def _parse(body: bytes) -> etree._Element:
    """The SOAP Body element; ServiceFault for a fault, NotASoapReply for anything else."""
    try:
        root = etree.fromstring(
            body, parser=etree.XMLParser(resolve_entities=False, no_network=True)
        )
    except etree.XMLSyntaxError as exc:
        raise NotASoapReply(f"not XML: {exc}") from None
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise NotASoapReply(f"not a SOAP envelope but <{etree.QName(root).localname}>")
    found = root.find(f"{{{SOAP_NS}}}Body")
    if found is None:
        raise NotASoapReply("a SOAP envelope without a Body")
    fault = found.find(f"{{{SOAP_NS}}}Fault")
    if fault is not None:
        raise ServiceFault(" ".join((fault.findtext("faultstring") or "SOAP fault").split()))
    return found


def _result(body: bytes, operation: str) -> etree._Element:
    response = _parse(body).find(f"{{{SERVICE_NS}}}{operation}Response")
    result = None if response is None else response.find(f"{{{SERVICE_NS}}}{operation}Result")
    if result is None:
        raise NotASoapReply(f"no {operation}Result in the reply")
    return result


def _text(element: etree._Element, name: str) -> str:
    """A child's text, in the types namespace (or, tolerantly, in no namespace)."""
    child = element.find(f"{{{TYPES_NS}}}{name}")
    if child is None:
        child = element.find(name)
    return (child.text or "").strip() if child is not None else ""


def _int(element: etree._Element, name: str) -> int:
    value = _text(element, name)
    try:
        return int(value)
    except ValueError:
        raise NotASoapReply(f"{name} is {value!r}, not a number") from None


def parse_catalogue(body: bytes) -> list[ArticleDescription]:
    """GetAllArticles' reply."""
    return [
        ArticleDescription(
            article_id=_int(item, "ArticleID"),
            title=_text(item, "ArticleTitle"),
            url=_text(item, "ArticleUrl"),
            last_updated=_text(item, "LastUpdated"),
        )
        for item in _result(body, "GetAllArticles")
        if isinstance(item.tag, str)
    ]


def _article(item: etree._Element, municipality_code: int | None) -> Article:
    return Article(
        article_id=_int(item, "ArticleID"),
        title=_text(item, "ArticleTitle"),
        header=_text(item, "ArticleHeader"),
        url=_text(item, "ArticleUrl"),
        content=_text(item, "Content"),
        last_updated=_text(item, "LastUpdated"),
        municipality_code=municipality_code,
    )


def parse_article(body: bytes, municipality_code: int | None) -> Article:
    """GetArticleByID's reply."""
    return _article(_result(body, "GetArticleByID"), municipality_code)


def parse_articles(body: bytes, municipality_code: int | None) -> list[Article]:
    """GetArticlesByIDs' reply."""
    result = _result(body, "GetArticlesByIDs")
    return [_article(item, municipality_code) for item in result if isinstance(item.tag, str)]
