"""borger.dk articles -> documents: the national text once, and each municipality's own text.

An article's `Content` is a row of top-level blocks (`div`s with an id): the self-service links,
the body (`kernetekst`, made of micro articles `microArticle_<guid>`, each a heading and its
text), then fact boxes, rules, legislation and a byline. How a municipality's local text sits in
its version of the article is not documented, so it is found by comparison: every micro article
or block of the municipality's version that is new, or whose text differs from the national
version, is that municipality's local text. Only that is stored for the municipality, so no
tenant ever retrieves another municipality's local text, and the national text is embedded once.
"""

from __future__ import annotations

from dataclasses import dataclass

import lxml.html
from lxml import etree

from muni_crawl.crawl.article_export import Article
from muni_crawl.extract import fragment_markdown
from muni_crawl.types import Document
from muni_crawl.visibility import drop_hidden

SELF_SERVICE = "selvbetjeningslinks"
BODY = "kernetekst"
MICRO_ARTICLE = "microArticle_"


@dataclass(frozen=True)
class Block:
    """A comparable unit of an article: a micro article, or a top-level block."""

    key: str
    text: str


def blocks(article: Article) -> list[Block]:
    """The article's comparable units, in page order."""
    if not article.content.strip():
        return []
    root = lxml.html.fragment_fromstring(article.content, create_parent="div")
    drop_hidden(root)  # hidden text is where instructions for language models get planted
    found: list[Block] = []
    for index, top in enumerate(c for c in root if isinstance(c.tag, str)):
        key = top.get("id") or f"block-{index}"
        if key == SELF_SERVICE:
            found.append(Block(key, _self_service(top)))
        elif key == BODY:
            for number, micro in enumerate(c for c in top if isinstance(c.tag, str)):
                micro_key = micro.get("id") or f"{BODY}-{number}"
                found.append(Block(micro_key, fragment_markdown(micro)))
        else:
            found.append(Block(key, fragment_markdown(top)))
    return [b for b in found if b.text]


def _self_service(element: etree._Element) -> str:
    """ "Selvbetjening: title → URL" lines, so an answer can point to the right self-service."""
    lines = []
    for link in element.iter("a"):
        title, href = " ".join(link.text_content().split()), (link.get("href") or "").strip()
        if title and href:
            lines.append(f"- Selvbetjening: {title} → {href}")
    return "\n".join(lines)


def national_document(article: Article) -> Document:
    """The national text: the lead and every block, cited with the article's URL."""
    parts = [f"# {article.title}"]
    if article.header:
        parts.append(article.header)
    parts += [b.text for b in blocks(article)]
    return Document(
        url=article.url,
        title=article.title,
        text="\n\n".join(parts),
        content_type="text/html",
        language=None,
        scope="national",
    )


def local_url(article_url: str, municipality_code: int) -> str:
    """Where a municipality's local text is cited: the article, with an anchor naming it."""
    return f"{article_url.split('#')[0]}#kommune-{municipality_code}"


def local_document(
    national: Article, municipal: Article, municipality_code: int, municipality: str
) -> Document | None:
    """What the municipality's version adds to or changes in the national text; None if nothing."""
    national_text = {b.key: b.text for b in blocks(national)}
    own = [b for b in blocks(municipal) if _squash(national_text.get(b.key, "")) != _squash(b.text)]
    header_changed = municipal.header and _squash(municipal.header) != _squash(national.header)
    if not own and not header_changed:
        return None
    title = f"{national.title} – {municipality}"
    parts = [f"# {title}"]
    if header_changed:
        parts.append(municipal.header)
    parts += [b.text for b in own]
    return Document(
        url=local_url(national.url, municipality_code),
        title=title,
        text="\n\n".join(parts),
        content_type="text/html",
        language=None,
        scope="local",
        municipality_code=municipality_code,
    )


def _squash(text: str) -> str:
    return " ".join(text.split())
