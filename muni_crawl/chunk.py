"""Page -> Passages along its headings, sized in tokens, with ids stable across re-crawls.

A passage never spans two pages, prefers to start at a heading, and holds roughly
`min_tokens`..`max_tokens` tokens (o200k_base). Its id hashes its page URL, heading path and
text, so an unchanged passage keeps its id, and therefore its cached embedding, when the page
around it changes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from muni_crawl.tokens import count_tokens
from muni_crawl.types import Page, Passage

DEFAULT_MIN_TOKENS = 150
DEFAULT_MAX_TOKENS = 350
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+(?=[A-ZÆØÅ0-9\"'(])")


@dataclass
class _Block:
    path: tuple[str, ...]
    text: str
    tokens: int


def passage_id(url: str, heading: str, text: str) -> str:
    digest = hashlib.sha256(f"{url}\n{heading}\n{text}".encode()).hexdigest()
    return digest[:24]


def _blocks(text: str, max_tokens: int) -> list[_Block]:
    """Paragraphs with the heading path they sit under; a heading line joins its paragraph."""
    stack: list[tuple[int, str]] = []  # (level, heading) from the outermost in
    blocks: list[_Block] = []
    pending_heading = ""
    for para in text.split("\n\n"):
        para = para.strip()
        if not para:
            continue
        match = _HEADING.match(para)
        if match and "\n" not in para:
            level = len(match.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, match.group(2).strip()))
            pending_heading = (pending_heading + "\n\n" + para).strip()
            continue
        body = (pending_heading + "\n\n" + para).strip() if pending_heading else para
        pending_heading = ""
        path = tuple(h for _, h in stack)
        for piece in _split_long(body, max_tokens):
            blocks.append(_Block(path, piece, count_tokens(piece)))
    if pending_heading:
        path = tuple(h for _, h in stack)
        blocks.append(_Block(path, pending_heading, count_tokens(pending_heading)))
    return blocks


def _split_long(text: str, max_tokens: int) -> list[str]:
    """Split a paragraph that alone exceeds max_tokens at sentence ends, then at words."""
    if count_tokens(text) <= max_tokens:
        return [text]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        candidate = f"{current} {sentence}".strip()
        if current and count_tokens(candidate) > max_tokens:
            pieces.append(current)
            current = sentence
        else:
            current = candidate
    if current:
        pieces.append(current)
    result: list[str] = []
    for piece in pieces:  # a single huge "sentence" (a table, a list without stops)
        words = piece.split(" ")
        while count_tokens(" ".join(words)) > max_tokens and len(words) > 1:
            cut = max(1, len(words) // 2)
            while cut > 1 and count_tokens(" ".join(words[:cut])) > max_tokens:
                cut //= 2
            result.append(" ".join(words[:cut]))
            words = words[cut:]
        result.append(" ".join(words))
    return [r for r in result if r.strip()]


def chunk_page(
    page: Page,
    *,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> list[Passage]:
    """Split one page's current text into passages."""
    groups: list[list[_Block]] = []
    current: list[_Block] = []
    size = 0
    for block in _blocks(page.text, max_tokens):
        new_section = bool(current) and block.path != current[0].path
        if current and (size + block.tokens > max_tokens or (new_section and size >= min_tokens)):
            groups.append(current)
            current, size = [], 0
        current.append(block)
        size += block.tokens
    if current:
        last_size = sum(b.tokens for b in current)
        if (
            groups
            and last_size < min_tokens // 2
            and (sum(b.tokens for b in groups[-1]) + last_size <= max_tokens)
        ):
            groups[-1].extend(current)  # a short tail joins its neighbour
        else:
            groups.append(current)
    passages = []
    for group in groups:
        heading = " > ".join(group[0].path)
        text = "\n\n".join(b.text for b in group)
        passages.append(
            Passage(
                id=passage_id(page.url, heading, text),
                page_id=page.id,
                page_version=page.version,
                source=page.source,
                url=page.url,
                title=page.title,
                heading=heading,
                text=text,
                scope=page.scope,
                municipality_code=page.municipality_code,
            )
        )
    return passages
