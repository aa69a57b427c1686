"""HTML and PDF -> Documents: main text as markdown (headings kept), title, language.

Kind-specific splitting lives here too, because it is a matter of reading the page:
- ``borger_dk``: an article's national body is one document; each local section
  (``section.local-content[data-municipality-code]``) is a document of its own, scoped to
  that municipality and addressed as ``<url>#kommune-<code>``.
- ``selvbetjening``: every entry (``li.solution[data-municipality-code]``) is a document
  addressed as ``<url>#<entry id>``, scoped to its municipality.
These selectors are our documented assumption about the public pages' structure (see README).

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


def _class_xpath(tag: str, css_class: str) -> str:
    has_class = f"contains(concat(' ', normalize-space(@class), ' '), ' {css_class} ')"
    return f"//{tag}[{has_class} and @data-municipality-code]"


LOCAL_SECTION_XPATH = _class_xpath("section", "local-content")
SOLUTION_XPATH = _class_xpath("li", "solution")
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
    kind: str = "municipal",
    encoding: str | None = None,
) -> list[Document]:
    """Turn a downloaded body into documents; raise ExtractionError when nothing usable is in it."""
    if is_pdf(body, content_type):
        return [extract_pdf(body, url=url)]
    html = _decode_html(body, encoding)
    if kind == "borger_dk":
        return _extract_borger_dk(html, url)
    if kind == "selvbetjening":
        return _extract_selvbetjening(html, url)
    return [_extract_html(html, url)]


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


def _binary_ratio(sample: bytes) -> float:
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
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


def _extract_borger_dk(html: str, url: str) -> list[Document]:
    tree = _parse(html)
    title = _title(tree, url)
    language = _language(tree)
    documents = []
    for section in tree.xpath(LOCAL_SECTION_XPATH):
        code = _code(section.get("data-municipality-code"))
        text = fragment_markdown(section)
        if code is not None and text:
            documents.append(
                Document(
                    url=f"{url}#kommune-{code}",
                    title=f"{title} – {section.get('data-municipality-name') or code}",
                    text=text,
                    language=language,
                    scope="local",
                    municipality_code=code,
                )
            )
        section.drop_tree()
    body = _markdown(lxml.html.tostring(tree, encoding="unicode"), url)
    if body:
        documents.insert(
            0, Document(url=url, title=title, text=body, language=language, scope="national")
        )
    if not documents:
        raise ExtractionError("no article text found")
    return documents


def _extract_selvbetjening(html: str, url: str) -> list[Document]:
    tree = _parse(html)
    language = _language(tree)
    documents = []
    for index, entry in enumerate(tree.xpath(SOLUTION_XPATH)):
        code = _code(entry.get("data-municipality-code"))
        heading = entry.xpath(".//h1|.//h2|.//h3|.//h4")
        title = " ".join(heading[0].text_content().split()) if heading else f"Selvbetjening {index}"
        text = fragment_markdown(entry)
        links = [a.get("href") for a in entry.xpath(".//a[@href]")]
        if links:
            text += "\n\nSelvbetjening: " + str(links[0])
        anchor = entry.get("id") or f"entry-{index}"
        if code is not None and text:
            documents.append(
                Document(
                    url=f"{url}#{anchor}",
                    title=title,
                    text=text,
                    language=language,
                    scope="local",
                    municipality_code=code,
                )
            )
    if documents:
        return documents
    # an index or overview page without entries is still a page of the source
    return [_extract_html(html, url)]


def _code(value: str | None) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
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
