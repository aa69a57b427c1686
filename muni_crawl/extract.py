"""HTML and PDF -> Documents: main text as markdown (headings kept), title, language.

borger.dk is read through its ArticleExport service (crawl/article_spider.py) and
selvbetjening.nu as a knowledge-base feed (crawl/feed_spider.py), not by guessing at the
structure of their public pages.

Before anything is read, what a sighted reader cannot see is dropped (visibility.py states the
rule): hidden text is where instructions for language models get planted.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re

import lxml.html
import trafilatura
from lxml.etree import ParserError

from muni_crawl.types import Document
from muni_crawl.visibility import drop_hidden

log = logging.getLogger(__name__)

# Bump when extraction output changes: pages stored by an older extractor are then re-fetched
# unconditionally (no 304, no sitemap skip) on their next crawl.
EXTRACTOR_VERSION = 4


_WS = re.compile(r"[ \t\r\f\v]+")
_BLANKS = re.compile(r"\n{3,}")


class ExtractionError(Exception):
    """A page yielded no usable text (empty, binary junk, broken PDF)."""


def fingerprint(text: str) -> str:
    """Hash of the text with whitespace normalised: changes only when the words change."""
    canonical = " ".join(text.split())
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def extract(
    body: bytes,
    *,
    url: str,
    content_type: str,
    encoding: str | None = None,
) -> list[Document]:
    """Turn a downloaded body into documents; raise ExtractionError when nothing usable is in it."""
    if is_pdf(body, content_type):
        return [extract_pdf(body, url=url)]
    return [_extract_html(_decode_html(body, encoding), url)]


def is_pdf(body: bytes, content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == "application/pdf" or body[:5] == b"%PDF-"


def _decode_html(body: bytes, encoding: str | None) -> str:
    """Decode, refusing bodies that are not text whatever their Content-Type claims."""
    if not body.strip():
        raise ExtractionError("empty body")
    sample = body[:4096]
    if b"\x00" in sample or _binary_ratio(sample) > 0.1:
        raise ExtractionError("binary content served as text")
    try:
        return body.decode(encoding or "utf-8")
    except (UnicodeDecodeError, LookupError):
        return body.decode("utf-8", errors="replace")


# control bytes other than tab, newline, form feed and carriage return
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13))


def _binary_ratio(sample: bytes) -> float:
    control = len(sample) - len(sample.translate(None, _CONTROL))  # C speed, not a loop
    return control / max(len(sample), 1)


def _parse(html: str) -> lxml.html.HtmlElement:
    """Parse, dropping elements hidden from readers: text a citizen cannot see (often planted
    instructions or keyword stuffing) must not become an answer's source."""
    try:
        tree = lxml.html.fromstring(html)
    except (ParserError, ValueError) as exc:
        raise ExtractionError(f"unparseable HTML: {exc}") from exc
    drop_hidden(tree)
    return tree


def _title(tree: lxml.html.HtmlElement, fallback: str) -> str:
    for xpath in ("//h1", "//title"):
        nodes = tree.xpath(xpath)
        if nodes:
            text = " ".join(nodes[0].text_content().split())
            if text:
                return text.split(" | ")[0].strip()
    return fallback


def _language(tree: lxml.html.HtmlElement) -> str | None:
    lang = tree.get("lang") or next(iter(tree.xpath("//html/@lang")), None)
    return str(lang).split("-")[0].lower() if lang else None


def _markdown(html: str | lxml.html.HtmlElement, url: str) -> str:
    text = trafilatura.extract(
        html,
        url=url,
        output_format="markdown",
        include_tables=True,
        include_comments=False,
        favor_recall=True,
        with_metadata=False,
    )
    return tidy(text or "")


def tidy(text: str) -> str:
    lines = [_WS.sub(" ", line).strip() for line in text.splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def _extract_html(html: str, url: str) -> Document:
    tree = _parse(html)
    text = _markdown(lxml.html.tostring(tree, encoding="unicode"), url)
    if "\n" not in text:
        # trafilatura falls back to flat text on short pages; the page's own <main>/<article>
        # keeps paragraphs and headings, which chunking and boilerplate removal rely on
        main = _main_element(tree)
        structured = fragment_markdown(main) if main is not None else ""
        if "\n" in structured:
            text = structured
    if not text:
        raise ExtractionError("no main text found")
    return Document(
        url=url,
        title=_title(tree, url),
        text=text,
        content_type="text/html",
        language=_language(tree),
    )


def _main_element(tree: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    for xpath in ("//main//article", "//article", "//main", "//*[@role='main']"):
        found = tree.xpath(xpath)
        if found:
            return found[0]
    return None


_BLOCKS = {"p", "div", "section", "article", "li", "ul", "ol", "table", "tr", "br", "dd", "dt"}


def fragment_markdown(element: lxml.html.HtmlElement) -> str:
    """Small, predictable HTML -> markdown for page fragments trafilatura is not built for."""
    out: list[str] = []
    if element.text:  # the element itself is the container: no list marker or block for it
        out.append(element.text)
    for child in element:
        _walk(child, out)
    return tidy("".join(out))


def _walk(node: lxml.html.HtmlElement, out: list[str]) -> None:
    tag = node.tag if isinstance(node.tag, str) else ""
    if tag in {"script", "style", "nav", "button", "noscript", "template"}:
        if node.tail:
            out.append(node.tail)
        return
    if tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
        out.append(
            "\n\n" + "#" * int(tag[1]) + " " + " ".join(node.text_content().split()) + "\n\n"
        )
    else:
        if tag == "li":
            out.append("\n- ")
        elif tag in _BLOCKS:
            out.append("\n\n")
        if node.text:
            out.append(node.text)
        for child in node:
            _walk(child, out)
        if tag in _BLOCKS:
            out.append("\n")
    if node.tail:
        out.append(node.tail)


def extract_pdf(body: bytes, *, url: str) -> Document:
    """Text of every page of a PDF; the title from its metadata, else its first line."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError("encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ExtractionError(f"unreadable PDF: {exc}") from exc
    text = tidy("\n\n".join(p.strip() for p in pages if p.strip()))
    if not text:
        raise ExtractionError("PDF has no extractable text (scanned image?)")
    first_line = next((line for line in text.splitlines() if line.strip()), url)
    title = str(meta_title).strip() or first_line.strip()[:120]
    return Document(url=url, title=title, text=text, content_type="application/pdf")
