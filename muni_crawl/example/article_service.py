"""A fake of borger.dk's ArticleExport service, for the demo and the tests.

It answers the operations muni_crawl uses (GetAllArticles, GetArticleByID, GetArticlesByIDs)
as SOAP 1.1, in the shape documented for the real service (see docs/sources.md), from a
catalogue of articles. The example catalogue is made from the borger.dk-like example pages:
each page is an article whose body sections become micro articles, and each of its local
sections becomes an extra micro article in that municipality's version of the article.
Tests change the catalogue between crawls and read `calls` to see what was asked.
"""

from __future__ import annotations

import hashlib
import html
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import lxml.html
from lxml import etree

from muni_crawl.example.server import SITES_DIR, StaticSiteHandler

SERVICE_PATH = "/_vti_bin/borger/ArticleExport.svc"
_NS = "http://www.borger.dk/2009/WSArticleExport/v1"
_TYPES = "http://www.borger.dk/2009/WSArticleExport/v1/types"
_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


@dataclass(frozen=True)
class FakeArticle:
    """One article: its national content, and per municipality code an extra micro article."""

    article_id: int
    title: str
    header: str
    path: str
    content: str
    last_updated: str = "2026-01-05T10:00:00"
    local: dict[int, str] = field(default_factory=dict)  # code -> micro article HTML
    exportable: bool = True

    def content_for(self, code: int | None) -> str:
        """The article as the service gives it for one municipality (None: national)."""
        extra = self.local.get(code, "") if code is not None else ""
        if not extra:
            return self.content
        return self.content.replace("</div><!--/kernetekst-->", extra + "</div><!--/kernetekst-->")


class ArticleExportHandler(StaticSiteHandler):
    """Serves the example files on GET and the ArticleExport service on POST."""

    # keep-alive, as IIS does: a POST is never retried by the client on a connection the
    # server closed after the previous reply, so HTTP/1.0's close-per-reply would lose requests
    protocol_version = "HTTP/1.1"

    catalogue: ClassVar[dict[int, FakeArticle]] = {}
    calls: ClassVar[list[tuple[str, int | None]]] = []  # (operation, municipality code)
    # "html": every POST gets an HTML error page; "batch": GetArticlesByIDs answers a fault
    broken: ClassVar[str | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path.split("?")[0] != SERVICE_PATH:
            self.send_text(404, "Siden findes ikke")
            return
        if self.broken == "html":
            self.send_text(503, "<html><body><h1>Vedligeholdelse</h1></body></html>")
            return
        try:
            request = etree.fromstring(body)
            operation_element = request.find(f"{{{_SOAP}}}Body")[0]
        except (etree.XMLSyntaxError, TypeError, IndexError):
            self._fault("The message could not be read.", status=400)
            return
        operation = etree.QName(operation_element).localname
        action = (self.headers.get("SOAPAction") or "").strip('"')
        if not action.endswith(f"/IArticleExport/{operation}"):
            self._fault(f"The SOAP action '{action}' does not match the body.", status=500)
            return
        params = {etree.QName(child).localname: child for child in operation_element}
        code = _optional_int(params.get("municipalityCode"))
        with self._lock:
            type(self).calls.append((operation, code))
        if operation == "GetAllArticles":
            self._reply(operation, "".join(self._description(a) for a in self._articles()))
        elif operation == "GetArticleByID":
            article = self.catalogue.get(_optional_int(params.get("articleID")) or -1)
            problem = self._problem(article, params.get("articleID"))
            if problem:
                self._fault(problem)
                return
            assert article is not None
            self._reply(operation, self._article_xml(article, code, wrapper=None))
        elif operation == "GetArticlesByIDs" and self.broken == "batch":
            self._fault("The operation has timed out.")
        elif operation == "GetArticlesByIDs":
            ids = [int(e.text or 0) for e in params.get("articleIDs", [])]
            found = [self.catalogue[i] for i in ids if i in self.catalogue]
            found = [a for a in found if a.exportable]
            self._reply(operation, "".join(self._article_xml(a, code, "Article") for a in found))
        else:
            self._fault(f"Operation {operation} is not supported by this fake.")

    def _articles(self) -> list[FakeArticle]:
        return [self.catalogue[key] for key in sorted(self.catalogue)]

    def _problem(self, article: FakeArticle | None, asked: etree._Element | None) -> str | None:
        if article is None:
            return f"No article found with id {asked.text if asked is not None else '?'}"
        if not article.exportable:
            return f"Article with id {article.article_id} has been marked as not exportable."
        return None

    def _url(self, article: FakeArticle) -> str:
        return self.base_url + article.path

    def _description(self, article: FakeArticle) -> str:
        return (
            f'<ArticleDescription xmlns="{_TYPES}">'
            f"<ArticleID>{article.article_id}</ArticleID>"
            f"<ArticleTitle>{html.escape(article.title)}</ArticleTitle>"
            f"<ArticleUrl>{html.escape(self._url(article))}</ArticleUrl>"
            f"<PublishingDate>2025-06-01T09:00:00</PublishingDate>"
            f"<LastUpdated>{article.last_updated}</LastUpdated>"
            "</ArticleDescription>"
        )

    def _fields(self, article: FakeArticle, code: int | None, prefix: str = "") -> str:
        values = (
            ("ArticleID", str(article.article_id)),
            ("ArticleTitle", article.title),
            ("ArticleHeader", article.header),
            ("ArticleUrl", self._url(article)),
            ("Content", article.content_for(code)),
            ("PublishingDate", "2025-06-01T09:00:00"),
            ("LastUpdated", article.last_updated),
        )
        return "".join(f"<{prefix}{k}>{html.escape(v)}</{prefix}{k}>" for k, v in values)

    def _article_xml(self, article: FakeArticle, code: int | None, wrapper: str | None) -> str:
        """An Article: the Result element's children (GetArticleByID), or an element of its
        own in an array (GetArticlesByIDs)."""
        if wrapper is None:
            return self._fields(article, code, prefix="t:")
        return f'<{wrapper} xmlns="{_TYPES}">{self._fields(article, code)}</{wrapper}>'

    def _reply(self, operation: str, inner: str) -> None:
        result = f'<{operation}Result xmlns:t="{_TYPES}">{inner}</{operation}Result>'
        body = (
            f'<s:Envelope xmlns:s="{_SOAP}"><s:Body>'
            f'<{operation}Response xmlns="{_NS}">{result}</{operation}Response>'
            "</s:Body></s:Envelope>"
        )
        self._send(200, body)

    def _fault(self, message: str, status: int = 500) -> None:
        body = (
            f'<s:Envelope xmlns:s="{_SOAP}"><s:Body><s:Fault>'
            "<faultcode>s:Client</faultcode>"
            f"<faultstring>{html.escape(message)}</faultstring>"
            "</s:Fault></s:Body></s:Envelope>"
        )
        self._send(status, body)

    def _send(self, status: int, body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _optional_int(element: etree._Element | None) -> int | None:
    if element is None or element.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true":
        return None
    text = (element.text or "").strip()
    return int(text) if text.lstrip("-").isdigit() else None


def _guid(text: str) -> str:
    digest = hashlib.sha1(text.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def catalogue_from_pages(site: Path = SITES_DIR / "borger") -> dict[int, FakeArticle]:
    """The example catalogue: one article per borger.dk-like page (see the module docstring)."""
    articles: dict[int, FakeArticle] = {}
    pages = sorted(p for p in site.rglob("*.html") if p.name != "index.html")
    for number, page in enumerate(pages, start=1):
        tree = lxml.html.fromstring(page.read_bytes())
        title = " ".join(tree.findtext(".//h1", "").split())
        body = tree.find_class("article-body")
        if not title or not body:
            continue
        header, micro = _micro_articles(body[0])
        local = {}
        for section in tree.find_class("local-content"):
            code = int(section.get("data-municipality-code", "0"))
            inner = "".join(etree.tostring(c, encoding="unicode") for c in section)
            local[code] = f'<div id="microArticle_{_guid(f"{page}-{code}")}">{inner}</div>'
        content = (
            '<div id="selvbetjeningslinks"><h3>Selvbetjening</h3><ul>'
            f'<li id="opis_domainservice_{_guid(title)}"><a href="https://www.borger.dk/'
            f'handlingsside?selfserviceId={_guid(title)}">{html.escape(title)} – ansøg'
            " digitalt</a></li></ul></div>"
            f'<div id="kernetekst">{micro}</div><!--/kernetekst-->'
            '<div id="byline"><p>Skrevet af borger.dk-eksempel</p></div>'
        )
        articles[number] = FakeArticle(
            article_id=number,
            title=title,
            header=header,
            path="/" + page.relative_to(site).as_posix(),
            content=content,
            local=local,
        )
    return articles


def _micro_articles(body: lxml.html.HtmlElement) -> tuple[str, str]:
    """The lead (the first paragraph) and the rest cut into micro articles at each h2."""
    header = ""
    groups: list[list[str]] = [[]]
    for child in body:
        if not isinstance(child.tag, str):
            continue
        if not header and child.tag == "p":
            header = " ".join(child.text_content().split())
            continue
        if child.tag == "h2" and groups[-1]:
            groups.append([])
        groups[-1].append(etree.tostring(child, encoding="unicode", with_tail=False))
    micro = "".join(
        f'<div id="microArticle_{_guid("".join(g))}">{g[0]}<div>{"".join(g[1:])}</div></div>'
        for g in groups
        if g
    )
    return header, micro


def with_article(catalogue: dict[int, FakeArticle], article_id: int, **changes: object) -> None:
    """Change one article in place (tests): e.g. a new text and a later LastUpdated."""
    catalogue[article_id] = replace(catalogue[article_id], **changes)  # type: ignore[arg-type]
