"""Near-duplicate passages collapsed before a tenant's index is built.

Municipal CMSs repeat text: the same accordion on several pages, a block rendered twice on one
page (desktop and mobile), a borger.dk text copied onto the municipality's site. Indexed as it
is, one question's top five fills with copies of one text and the other pages drop out.

Passages are compared by their lines (in lower case, without leading markup, with spacing
collapsed). A short passage ("Pris: det er gratis.") means something only under its page, so
below STANDALONE_CHARS its title and heading count as lines of its text. Two steps:

1. Copies: passages that share lines making up at least NEAR_DUPLICATE of each one's text (a
   different "Opdateret" line does not keep them apart) keep one canonical copy: the
   tenant's own local text before its sources' pages before national text; then the copy
   whose page title the passage is about (most of the title's words in its body), so the
   topic page wins over a FAQ page carrying the same answer; then the shorter URL; on one page the
   first occurrence.
2. Contained passages: the same accordion on two pages is often chunked with different
   neighbours, so one page's passage is most of a longer one on the other. A passage with at
   least NEAR_DUPLICATE of its text inside a longer kept passage is dropped; nothing it says
   is lost.

This runs on one tenant's view at a time (see build.py), so a national passage is only ever
collapsed with a copy in the same tenant's view, never because another tenant has one.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass

from muni_crawl.lexical import analyse
from muni_crawl.types import Passage

log = logging.getLogger(__name__)

# the share of each passage's text (in characters of normalised lines) two copies must share
NEAR_DUPLICATE = 0.9
# below this many characters of normalised text, a passage's title and heading count too
STANDALONE_CHARS = 400
# a passage is looked up by its longest lines (a copy holding 90% of it holds them)
LOOKUP_LINES = 2
# at most this many passages are compared per looked-up line (boilerplate lines)
MAX_COMPARED = 32
_SCOPE_ORDER = {"local": 0, "site": 1, "national": 2}
# markup that may start a line: "## " headings, "- " and "* " list items
_LINE_MARKS = "#*-•> \t"


@dataclass(frozen=True)
class _Shape:
    """A passage's text as normalised lines and their lengths."""

    lines: dict[str, int]  # normalised line -> characters
    size: int
    exact: str  # digest of all normalised lines in order

    def shares(self, other: _Shape) -> tuple[float, float]:
        """The shares of this passage's text and of the other's that the two have in common."""
        shared = sum(n for line, n in self.lines.items() if line in other.lines)
        return shared / self.size, shared / other.size

    def lookup_lines(self) -> list[str]:
        longest = sorted(self.lines.items(), key=lambda item: (-item[1], item[0]))
        return [line for line, _ in longest[:LOOKUP_LINES]]


def _normalise(text: str) -> list[str]:
    """The text's non-empty lines in lower case, spaces collapsed, without leading markup
    (splitting on spaces is several times cheaper than a regular expression over the text)."""
    lines = (" ".join(raw.split()).lstrip(_LINE_MARKS) for raw in text.lower().splitlines())
    return [line for line in lines if line]


def _shape(passage: Passage) -> _Shape:
    ordered = _normalise(passage.text)
    if sum(map(len, ordered)) < STANDALONE_CHARS:
        ordered = _normalise(f"{passage.title}\n{passage.heading}") + ordered
    lines: dict[str, int] = {}
    for line in ordered:
        lines.setdefault(line, len(line))
    digest = hashlib.blake2b("\n".join(ordered).encode(), digest_size=16).hexdigest()
    return _Shape(lines, sum(lines.values()), digest)


def _preference(position: int, passage: Passage) -> tuple[int, float, int, str, int]:
    """Sort key: the canonical copy of a group of copies sorts first. "About" compares the
    title's stems with the body's, headings left out (a page's first passage repeats its
    title as a heading)."""
    title = set(analyse(passage.title))
    body = "\n".join(line for line in passage.text.splitlines() if not line.startswith("#"))
    about = len(title & set(analyse(body))) / len(title) if title else 0.0
    scope = _SCOPE_ORDER.get(passage.scope, 1)
    return (scope, -about, len(passage.url), passage.url, position)


def collapse_duplicates(passages: list[Passage]) -> list[Passage]:
    """The passages without near-duplicate copies or contained passages, in their original
    order (see the module's docstring for which passage is kept)."""
    shapes = [_shape(p) for p in passages]
    canonical = [
        min(members, key=lambda i: _preference(i, passages[i])) if len(members) > 1 else members[0]
        for members in _copies(shapes)
    ]
    kept = _not_contained(canonical, shapes)
    if len(kept) < len(passages):
        log.info(
            "collapsed %d near-duplicate passages of %d", len(passages) - len(kept), len(passages)
        )
    return [p for i, p in enumerate(passages) if i in kept]


def _copies(shapes: list[_Shape]) -> list[list[int]]:
    """Positions grouped with the first passage of their group they are a copy of."""
    groups: list[list[int]] = []
    exact: dict[str, int] = {}  # digest -> group
    by_line: dict[str, list[int]] = defaultdict(list)  # a group's first passage's lines
    for i, shape in enumerate(shapes):
        group = _copy_of(shape, shapes, groups, exact, by_line) if shape.size else None
        if group is not None:
            groups[group].append(i)
            continue
        group = len(groups)
        groups.append([i])
        exact.setdefault(shape.exact, group)
        for line in shape.lookup_lines():
            by_line[line].append(group)
    return groups


def _copy_of(
    shape: _Shape,
    shapes: list[_Shape],
    groups: list[list[int]],
    exact: dict[str, int],
    by_line: dict[str, list[int]],
) -> int | None:
    """The group whose first passage `shape` is a copy of, or None."""
    if shape.exact in exact:
        return exact[shape.exact]
    for line in shape.lookup_lines():
        for group in by_line.get(line, ())[:MAX_COMPARED]:
            if min(shape.shares(shapes[groups[group][0]])) >= NEAR_DUPLICATE:
                return group
    return None


def _not_contained(positions: list[int], shapes: list[_Shape]) -> set[int]:
    """The positions whose passage is not mostly inside a longer kept one (longest first, so
    a container is kept before what it contains is looked at)."""
    kept: set[int] = set()
    by_line: dict[str, list[int]] = defaultdict(list)  # every line of every kept passage
    for i in sorted(positions, key=lambda i: (-shapes[i].size, i)):
        shape = shapes[i]
        if shape.size and _contained(shape, shapes, by_line):
            continue
        kept.add(i)
        for line in shape.lines:
            by_line[line].append(i)
    return kept


def _contained(shape: _Shape, shapes: list[_Shape], by_line: dict[str, list[int]]) -> bool:
    for line in shape.lookup_lines():
        for j in by_line.get(line, ())[:MAX_COMPARED]:
            if shape.shares(shapes[j])[0] >= NEAR_DUPLICATE:
                return True
    return False
