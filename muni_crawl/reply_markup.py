"""Markup in an LLM reply: what could act in a browser is refused, what only formats is stripped.

Answers are plain text with [n] citations. The rule, kind by kind:

- refused, the reply is not served: elements that run, load, embed or submit something
  (`REFUSED_ELEMENTS`: <script>, <iframe>, <object>, <img>, <svg>, <form>, <style>, <meta>, ...),
  any tag with an `on...=` event handler, and `javascript:`, `vbscript:` and `data:` addresses.
  These are checked after HTML entities are decoded, NFKC applied and invisible characters
  removed, so `&lt;script&gt;`, a full-width `＜script＞` or `<scr\u200bipt>` are refused too;
- stripped to their text: every other HTML tag, comments, markdown emphasis, headings, block
  quotes, rules, code fences and inline code, and invisible control characters (bidi overrides,
  zero-width spaces; the joiners and direction marks Arabic and Persian need are kept);
- markdown links and images and <a href> become "text (address)": the address stays in the text
  where the contact-point check decides on it, like any other address.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

from muni_crawl.shown_text import as_shown

REFUSED_ELEMENTS = frozenset(
    {
        "script", "iframe", "frame", "frameset", "object", "embed", "applet", "portal", "style",
        "link", "meta", "base", "form", "input", "button", "textarea", "select", "svg", "math",
        "img", "image", "picture", "source", "video", "audio", "track", "template", "noscript",
    }
)  # fmt: skip
# format characters a right-to-left answer legitimately contains
KEPT_FORMAT_CHARACTERS = frozenset({"\u200c", "\u200d", "\u200e", "\u200f", "\u061c"})
EMPHASIS = re.compile(r"\*\*|__|~~|(?<!\w)\*(?=\w)|(?<=\w)\*(?!\w)")

_REFUSED_TAG = re.compile(
    r"<\s*/?\s*(" + "|".join(sorted(REFUSED_ELEMENTS)) + r")(?![\w-])", re.IGNORECASE
)
# a tag runs to its ">" (quoted values may hold one) or, unclosed, to the next "<"
_EVENT_HANDLER = re.compile(
    r"<[a-z!/?](?:[^<>\"']|\"[^\"]*\"|'[^']*')*?[\s\"'/]on[a-z]+\s*=", re.IGNORECASE
)
_SCRIPT_ADDRESS = re.compile(
    r"(?:java|vb|live)script:|data:(?:text|image|application|audio|video|font|model)/[\w.+-]+[;,]",
    re.IGNORECASE,
)

_COMMENT = re.compile(r"<!--.*?(?:-->|$)|<!\[CDATA\[.*?(?:\]\]>|$)|<![^>]*>|<\?.*?(?:\?>|$)", re.S)
_ANCHOR = re.compile(
    r"<a\b[^<>]*?\bhref\s*=\s*([\"']?)([^\"'\s<>]*)\1[^<>]*>(.{0,2000}?)</a\s*>",
    re.IGNORECASE | re.DOTALL,
)
_MD_LINK = re.compile(
    r"(!?)\[([^\[\]]*)\]\(\s*<?([^()\s<>]*(?:\([^()\s]*\)[^()\s<>]*)*)>?"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?\s*\)"
)
_AUTOLINK = re.compile(r"<((?:[a-z][a-z0-9+.-]*:|www\.)[^<>\s]+|[\w.+-]+@[\w.-]+)>", re.IGNORECASE)
_BLOCK_TAG = re.compile(r"<\s*(?:br|/p|/div|/li|/tr|/h[1-6]|/ul|/ol|/table)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-z][\w:-]*(?:\s[^<>]*)?/?>", re.IGNORECASE)
_FENCE = re.compile(r"^[ \t]*(?:```|~~~).*$", re.MULTILINE)
_INLINE_CODE = re.compile(r"`+([^`]*)`+")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+|^[ \t]*(?:=+|-{3,})[ \t]*$", re.MULTILINE)
_QUOTE = re.compile(r"^[ \t]*>[ \t]?", re.MULTILINE)
_RULE = re.compile(r"^[ \t]*(?:[*_][ \t]*){3,}$", re.MULTILINE)
_CITATION_TEXT = re.compile(r"\d+(?:\s*[,;]\s*\d+)*")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Cleaned:
    """The reply as plain text, or why it cannot be served; and what markup was removed."""

    text: str
    refused: str | None = None
    stripped: tuple[str, ...] = ()


def clean_markup(reply: str) -> Cleaned:
    """Refuse active markup; strip formatting markup to plain text (see the module docstring)."""
    decoded = _unescape(reply)
    probe = as_shown(decoded)
    refused = _refusal(probe)
    if refused is not None:
        return Cleaned("", refused=refused)
    stripped: list[str] = []
    text = _visible(decoded)
    if text != decoded:
        stripped.append("invisible characters")
    for name, step in _STEPS:
        after = step(text)
        if after != text:
            stripped.append(name)
            text = after
    lines = [line.rstrip() for line in text.splitlines()]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return Cleaned(text, stripped=tuple(stripped))


def _unescape(text: str) -> str:
    """HTML entities decoded, also when encoded twice or three times."""
    for _ in range(3):
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def _refusal(probe: str) -> str | None:
    tag = _REFUSED_TAG.search(probe)
    if tag is not None:
        return f"the reply contains a <{tag.group(1).lower()}> element"
    if _EVENT_HANDLER.search(probe):
        return "the reply contains an HTML event handler (on...=)"
    address = _SCRIPT_ADDRESS.search("".join(probe.split()))
    if address is not None:
        return f"the reply contains a {address.group().split(':')[0].lower()}: address"
    return None


def _visible(text: str) -> str:
    """Without control and invisible format characters (bidi overrides, zero-width spaces)."""
    return "".join(
        ch
        for ch in text
        if ch in "\n\t"
        or ch in KEPT_FORMAT_CHARACTERS
        or unicodedata.category(ch) not in ("Cc", "Cf")
    )


def _link(text: str, address: str) -> str:
    """A link as plain text: its words, then its address, which the contact check then judges."""
    text = " ".join(text.split())
    if _CITATION_TEXT.fullmatch(text):
        text = f"[{text}]"  # [1](http://...) was meant as a citation
    if not address or address == text:
        return text or address
    return f"{text} ({address})" if text else address


def _strip_links(text: str) -> str:
    text = _ANCHOR.sub(lambda m: _link(_TAG.sub("", m.group(3)), m.group(2)), text)
    return _MD_LINK.sub(lambda m: _link(m.group(2), m.group(3)), text)


def _strip_tags(text: str) -> str:
    text = _BLOCK_TAG.sub("\n", _COMMENT.sub("", text))
    return _TAG.sub("", _AUTOLINK.sub(r"\1", text))


def _strip_code(text: str) -> str:
    return _INLINE_CODE.sub(r"\1", _FENCE.sub("", text))


_STEPS = (
    ("links", _strip_links),
    ("HTML tags", _strip_tags),
    ("code", _strip_code),
    ("headings", lambda t: _HEADING.sub("", t)),
    ("block quotes", lambda t: _QUOTE.sub("", t)),
    ("rules", lambda t: _RULE.sub("", t)),
    ("emphasis", lambda t: EMPHASIS.sub("", t)),
)
