"""Drop the parts of an HTML page that a sighted reader cannot see, before extraction.

Text a citizen cannot see must not become an answer's source: hidden text is where
instructions for language models and keyword stuffing get planted. The rule:

Removed with everything inside them:
- ``<template>``, ``<noscript>`` (readers run JavaScript and never see it), ``<dialog>``
  without ``open``, ``<datalist>``, ``<input type=hidden>``, HTML comments;
- elements with the ``hidden`` attribute or ``aria-hidden="true"``;
- elements whose style says so, inline or through a rule of an inline ``<style>`` block (the
  cascade is followed: specificity, order, ``!important``): ``display:none``,
  ``content-visibility:hidden``, opacity below 0.1 (also ``filter:opacity()``, and multiplied
  down through ancestors), a zero scale (``transform``/``scale``), a clip or clip-path that
  cuts everything, height or width 0 with overflow hidden, an offset, negative margin or
  translate of 1000px or more (off-screen), a text-indent of 1000px or 100% or more;
- elements with a conventional hiding class of an external stylesheet we cannot read
  (``hidden``, ``d-none``, ``hide``, ``is-hidden``, ``invisible`` ...) unless their style
  attribute sets a display, or another class shows them at some screen size (``md:block``).

Removed as text, while children may show their own (CSS lets a child override these):
``visibility:hidden|collapse``; a font size under 3px (``font-size:0``, ``font:0/0 a``); text
whose colour is its background's (contrast under 1.2, transparent text included; the
background is the nearest declared one, white when none is, and unknown, so nothing is
removed, under a background image or gradient).

Screen-reader-only text (the ``sr-only`` / ``visually-hidden`` class family, a clipped or 1px
box, or an off-screen position) is removed too, except a heading (h1-h6) of at most 8 words
with no URL, e-mail address or digits: that is how pages name their sections for screen
readers, and it is kept as the page's own structure. Anything longer, or carrying an address
or a number, is not a section label and could be a planted instruction.

Not covered: external stylesheets beyond those class names; ``@media`` rules other than
``all``/``screen``; overflow and a zero size set by two different rules; JavaScript that hides
or reveals; text covered by another element; text in images. A page's CSS is read within a
budget of about a second: beyond it, the remaining hiding rules are applied to every element
with their rightmost class, id or tag (so padding the CSS can only hide more) and the
remaining colour and font rules are not read.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from muni_crawl import css
from muni_crawl.css import RGBA, WHITE, Declaration, Specificity

log = logging.getLogger(__name__)

REMOVED_TAGS = {"template", "noscript", "datalist"}
HIDING_CLASSES = {"hidden", "hide", "d-none", "is-hidden", "u-hidden", "display-none", "invisible"}
SCREEN_READER_CLASSES = {
    "sr-only", "sr-only-focusable", "visually-hidden", "visually-hidden-focusable",
    "visuallyhidden", "screen-reader-text", "screen-reader-only", "element-invisible",
    "hidden-visually", "u-visually-hidden", "govuk-visually-hidden", "show-for-sr",
    "a11y-hidden", "offscreen", "assistive-text",
}  # fmt: skip
# a class that shows an element at some screen size overrides a conventional hiding class
_RESPONSIVE_SHOW = re.compile(r":|^d-(sm|md|lg|xl|xxl)-|^visible-|^show-for-(small|medium|large)")

MIN_OPACITY = 0.1
MIN_FONT_PX = 3.0
MIN_CONTRAST = 1.2
OFFSCREEN_PX = 1000.0
MAX_LABEL_WORDS = 8
CSS_BUDGET_US = 1_000_000  # matching a page's <style> rules: about a second at worst
MAX_COLOUR_PAIRS = 10_000  # beyond this many text/background pairs, assume colours matter

_SIZES = ("height", "max-height", "width", "max-width")
_OFFSETS = ("left", "top", "right", "bottom", "margin-left", "margin-top")
_SCALES = re.compile(r"(scale3d|scalex|scaley|scale|matrix)\(([^)]*)\)")
_TRANSLATIONS = re.compile(r"translate(?:3d|x|y)?\(([^)]*)\)")
_ARGUMENTS = re.compile(r"[\s,]+")
_OVERFLOW = ("overflow-x", "overflow-y")
_COLOURS = ("color", "background-color", "background-image")
_RELEVANT = {
    "display", "visibility", "opacity", "filter", "content-visibility", "transform", "scale",
    "translate", "clip", "clip-path", *_SIZES, *_OVERFLOW, "left", "top", "right", "bottom",
    "margin-left", "margin-top", "text-indent", "font-size", *_COLOURS,
}  # fmt: skip


def drop_hidden(tree: Any) -> None:
    """Remove from the parsed page (in place) what a reader cannot see; see the module doc."""
    for node in tree.xpath("//comment() | //processing-instruction()"):
        _remove(node)
    declared = _cascade(tree)
    removals: list[Any] = []
    silenced: list[Any] = []
    stack: list[tuple[Any, _Inherited]] = [(tree, _Inherited())]
    while stack:
        element, inherited = stack.pop()
        if not isinstance(element.tag, str):
            continue
        style = declared.get(element, {})
        if _invisible_to_all(element, style) or (
            _screen_reader_only(element, style) and not _section_label(element)
        ):
            removals.append(element)
            continue
        state = inherited.apply(style)
        if state.opacity < MIN_OPACITY:
            removals.append(element)
            continue
        if not state.text_visible():
            silenced.append(element)
        stack.extend((child, state) for child in element)
    for element in silenced:
        element.text = None
        for child in element:
            child.tail = None
    for element in removals:
        _remove(element)


def _remove(node: Any) -> None:
    parent = node.getparent()
    if parent is None:  # the whole document is hidden: nothing of it is kept
        node.text = None
        for child in list(node):
            node.remove(child)
        return
    node.drop_tree()  # keeps the tail: it belongs to the parent


# --- what an element's own markup and style say ----------------------------------------


def _invisible_to_all(element: Any, style: dict[str, str]) -> bool:
    tag = element.tag.lower()
    if tag in REMOVED_TAGS or (tag == "dialog" and element.get("open") is None):
        return True
    if tag == "input" and (element.get("type") or "").strip().lower() == "hidden":
        return True
    if element.get("hidden") is not None:
        return True
    if (element.get("aria-hidden") or "").strip().lower() == "true":
        return True
    return _conventionally_hidden(element, style) or _style_hides_all(style)


def _style_hides_all(style: dict[str, str]) -> bool:
    if style.get("display") == "none" or style.get("content-visibility") == "hidden":
        return True
    if _zero_scale(style) or _indented_away(style):
        return True
    return _overflow_hidden(style) and _smallest_side(style) <= 0


def _style_hides_from_sight(style: dict[str, str]) -> bool:
    """The screen-reader techniques: clipped away, a 1px box, or placed off-screen."""
    if _clipped_away(style) or _offscreen(style):
        return True
    return _overflow_hidden(style) and _smallest_side(style) <= 1


def _hides_on_its_own(style: dict[str, str]) -> bool:
    """Whether these declarations hide an element whatever else applies to it."""
    if _style_hides_all(style) or _style_hides_from_sight(style):
        return True
    if style.get("visibility") in ("hidden", "collapse") or _opacity(style) < MIN_OPACITY:
        return True
    font = css.length(style.get("font-size", ""))
    return font is not None and font < MIN_FONT_PX


def _smallest_side(style: dict[str, str]) -> float:
    sides = [css.length(style[side]) for side in _SIZES if side in style]
    return min((side for side in sides if side is not None), default=float("inf"))


def _conventionally_hidden(element: Any, style: dict[str, str]) -> bool:
    classes = set((element.get("class") or "").split())
    hiding = classes & HIDING_CLASSES
    if not hiding or any(_RESPONSIVE_SHOW.search(c) for c in classes):
        return False
    overridden = "visibility" if hiding == {"invisible"} else "display"
    return overridden not in style


def _screen_reader_only(element: Any, style: dict[str, str]) -> bool:
    if set((element.get("class") or "").split()) & SCREEN_READER_CLASSES:
        return True
    return _style_hides_from_sight(style)


_ADDRESS_OR_NUMBER = re.compile(r"https?:|www\.|@|\d|\.[a-z]{2,}\b", re.IGNORECASE)


def _section_label(element: Any) -> bool:
    """A short heading for screen readers: the page's own structure, not a hiding place."""
    if element.tag.lower() not in {"h1", "h2", "h3", "h4", "h5", "h6"}:
        return False
    text = " ".join(element.text_content().split())
    return 0 < len(text.split()) <= MAX_LABEL_WORDS and not _ADDRESS_OR_NUMBER.search(text)


def _overflow_hidden(style: dict[str, str]) -> bool:
    return any(style.get(axis) in ("hidden", "clip") for axis in ("overflow-x", "overflow-y"))


def _zero_scale(style: dict[str, str]) -> bool:
    """A transform that flattens the element to a line or a point."""
    for name, args in _SCALES.findall(style.get("transform", "")):
        numbers = [css.number(a) for a in _ARGUMENTS.split(args.strip()) if a]
        if name == "matrix":
            if len(numbers) == 6 and None not in numbers:
                a, b, c, d = (float(n or 0) for n in numbers[:4])
                if a * d - b * c == 0:
                    return True
        elif 0 in numbers[:2]:  # scale3d's z does not matter for a flat page
            return True
    return "scale" in style and 0 in [css.number(p) for p in style["scale"].split()[:2]]


def _indented_away(style: dict[str, str]) -> bool:
    indent = style.get("text-indent", "").strip()
    if not indent:
        return False
    if indent.endswith("%"):
        percent = css.number(indent.strip()[:-1])
        return percent is not None and abs(percent) >= 100
    size = css.length(indent)
    return size is not None and abs(size) >= OFFSCREEN_PX


def _offscreen(style: dict[str, str]) -> bool:
    for side in _OFFSETS:
        size = css.length(style[side]) if side in style else None
        if size is not None and abs(size) >= OFFSCREEN_PX:
            return True
    for args in _TRANSLATIONS.findall(style.get("transform", "")):
        sizes = [css.length(a) for a in _ARGUMENTS.split(args.strip()) if a]
        if any(s is not None and abs(s) >= OFFSCREEN_PX for s in sizes):
            return True
    return any(
        (s := css.length(part)) is not None and abs(s) >= OFFSCREEN_PX
        for part in style.get("translate", "").split()
    )


def _clipped_away(style: dict[str, str]) -> bool:
    if "clip" not in style and "clip-path" not in style:
        return False
    clip = re.fullmatch(r"rect\((.*)\)", style.get("clip", ""))
    if clip:
        edges = [css.length(v) for v in _ARGUMENTS.split(clip.group(1).strip()) if v]
        if len(edges) == 4 and None not in edges:
            top, right, bottom, left = (float(e or 0) for e in edges)
            if bottom - top <= 1 or right - left <= 1:
                return True
    path = style.get("clip-path", "")
    inset = re.fullmatch(r"inset\((.*)\)", path)
    if inset:
        parts = inset.group(1).split()
        return any(p.endswith("%") and (css.number(p[:-1]) or 0) >= 50 for p in parts)
    shape = re.match(r"(circle|ellipse)\(\s*([^\s)]+)", path)
    if shape:
        return css.number(shape.group(2).rstrip("%px")) == 0
    polygon = re.fullmatch(r"polygon\((.*)\)", path)
    if polygon:
        points = {" ".join(p.split()) for p in polygon.group(1).split(",")}
        return len(points) <= 1
    return False


# --- what is inherited: visibility, font size, colours, opacity ---------------------------


@dataclass(frozen=True)
class _Inherited:
    """The computed style a parent hands to its children (None: not known from the page)."""

    visible: bool = True
    font_px: float | None = None
    color: RGBA | None = None
    background: RGBA | None = WHITE  # the canvas is white unless the page says otherwise
    opacity: float = 1.0

    def apply(self, style: dict[str, str]) -> _Inherited:
        if not style:
            return self
        visible = self.visible
        if style.get("visibility") in ("hidden", "collapse", "visible"):
            visible = style["visibility"] == "visible"
        font_px = self.font_px
        if style.get("font-size", "inherit") != "inherit":
            font_px = _font_px(style["font-size"], font_px)
        color = self.color
        if style.get("color", "inherit") not in ("inherit", "currentcolor"):
            color = css.parse_color(style["color"])
        background = _background(style, self.background)
        return _Inherited(visible, font_px, color, background, self.opacity * _opacity(style))

    def text_visible(self) -> bool:
        if not self.visible:
            return False
        if self.font_px is not None and self.font_px < MIN_FONT_PX:
            return False
        if self.color is None or self.background is None:
            return True
        return css.contrast(self.color, self.background) >= MIN_CONTRAST


def _background(style: dict[str, str], behind: RGBA | None) -> RGBA | None:
    image = style.get("background-image", "none")
    if image not in ("none", "initial"):
        return None  # an image or gradient: the text may well be readable on it
    if "background-color" not in style:
        return behind
    color = css.parse_color(style["background-color"])
    if color is None:
        return None  # var(--x), currentcolor ...: unknown
    if color[3] == 0:
        return behind
    if color[3] < 1:
        return None if behind is None else css.blend(color, behind)
    return color


def _opacity(style: dict[str, str]) -> float:
    if "opacity" not in style and "filter" not in style:
        return 1.0
    values = [style.get("opacity", "")]
    values += re.findall(r"opacity\(([^)]*)\)", style.get("filter", ""))
    product = 1.0
    for value in values:
        fraction = css.fraction(value.strip(), 1.0)
        if fraction is not None:
            product *= fraction
    return product


def _font_px(value: str, parent: float | None) -> float | None:
    value = value.strip()
    base = 16.0 if parent is None else parent
    if value.endswith("%"):
        number = css.number(value[:-1])
        return None if number is None else base * number / 100
    match = re.fullmatch(r"(-?[\d.]+)(em|ex|ch)", value)
    if match and css.number(match.group(1)) is not None:
        return base * float(match.group(1)) * (0.5 if match.group(2) != "em" else 1)
    return css.length(value)


# --- the cascade: inline style attributes and the rules of inline <style> blocks -----------

Rank = tuple[bool, bool, Specificity, int]  # important, inline, specificity, order


def _cascade(tree: Any) -> dict[Any, dict[str, str]]:
    """The winning value of each property that can hide text, per element that has any."""
    winners: dict[Any, dict[str, tuple[Rank, str]]] = {}

    def declare(element: Any, rank: Rank, declared: tuple[Declaration, ...]) -> None:
        slots = winners.setdefault(element, {})
        for prop, value, important in declared:
            ranked = (important, *rank[1:])
            if prop not in slots or slots[prop][0] <= ranked:
                slots[prop] = (ranked, value)

    inline = [
        (element, _relevant(element.get("style") or "")) for element in tree.xpath("//*[@style]")
    ]
    matcher = css.ElementMatcher(tree)
    rules = []
    for rule in css.style_rules(tree):
        # most rules of a site's CSS name classes this page lacks: drop them before parsing
        live = [s for s in css.split_top_level(rule.selectors, ",") if matcher.candidates(s)]
        declared = _relevant(rule.body) if live else ()
        if declared:
            rules.append(_LiveRule(rule.order, tuple(live), declared))
    matters = _what_matters(
        [d for _, ds in inline for d in ds] + [d for r in rules for d in r.declarations]
    )
    for specificity, order, elements, declared in _matched_rules(matcher, rules, matters):
        for element in elements:
            declare(element, (False, False, specificity, order), declared)
    for element, declared in inline:
        declare(element, (False, True, (0, 0, 0), 0), declared)
    return {el: {p: v for p, (_, v) in slots.items()} for el, slots in winners.items()}


@dataclass(frozen=True)
class _LiveRule:
    """A <style> rule with selectors that could match this page, and declarations that count."""

    order: int
    selectors: tuple[str, ...]
    declarations: tuple[Declaration, ...]


def _relevant(body: str) -> tuple[Declaration, ...]:
    return tuple(d for d in css.declarations(body) if d[0] in _RELEVANT)


def _what_matters(declared: list[Declaration]) -> Callable[[Declaration], bool]:
    """Which declarations of <style> rules can change what is hidden on this page, so that
    only their rules need matching (colours and fonts only when some could hide text)."""
    tiny_fonts = any(
        p == "font-size" and (px := _font_px(v, None)) is not None and px < MIN_FONT_PX
        for p, v, _ in declared
    )
    hidden = any(p == "visibility" and v in ("hidden", "collapse") for p, v, _ in declared)
    texts = {c for p, v, _ in declared if p == "color" and (c := css.parse_color(v))}
    grounds = {c for p, v, _ in declared if p == "background-color" and (c := css.parse_color(v))}
    grounds = {css.blend(g, WHITE) for g in grounds} | {WHITE}
    colours = len(texts) * len(grounds) > MAX_COLOUR_PAIRS or any(
        css.contrast(text, ground) < MIN_CONTRAST for text in texts for ground in grounds
    )

    def matters(declaration: Declaration) -> bool:
        prop, value, _ = declaration
        if prop in _COLOURS:
            return colours
        if prop == "font-size":
            return tiny_fonts
        if prop == "visibility":
            return hidden
        if prop in _SIZES:
            size = css.length(value)
            return size is not None and size <= 1
        if prop in ("opacity", "filter"):
            return _opacity({prop: value}) < 1
        return prop in _OVERFLOW or _hides_on_its_own({prop: value})

    return matters


def _matched_rules(
    matcher: css.ElementMatcher, rules: list[_LiveRule], matters: Callable[[Declaration], bool]
) -> Iterator[tuple[Specificity, int, list[Any], tuple[Declaration, ...]]]:
    """(specificity, order, matched elements, declarations) of the rules that matter.

    Rules that hide on their own are matched first. Once the page's CSS has cost
    CSS_BUDGET_US, the remaining hiding rules are applied to every element with their
    rightmost id, class or tag (which can only hide more) and the other rules are skipped:
    a hostile page cannot pad its CSS to get hidden text through.
    """
    wanted = []
    for rule in rules:
        kept = tuple(d for d in rule.declarations if d[0] not in _OVERFLOW and matters(d))
        if any(d[0] in _SIZES for d in kept):  # overflow only hides together with a size
            kept += tuple(d for d in rule.declarations if d[0] in _OVERFLOW)
        if kept:
            hides = _hides_on_its_own({p: v for p, v, _ in kept})
            wanted.append((not hides, rule.order, rule.selectors, kept))
    wanted.sort(key=lambda item: item[0])  # stable: hiding rules first, in document order
    budget = float(CSS_BUDGET_US)
    # hiding rules beyond the budget, merged per anchor (the same candidates list)
    unread: dict[int, tuple[list[Any], Specificity, int, dict[str, Declaration]]] = {}
    for deferred, order, selectors, kept in wanted:
        if deferred and budget < 0:
            log.warning("page CSS too large to read fully; colour and font rules skipped")
            break
        for selector in selectors:
            candidates = matcher.candidates(selector)
            if not candidates:
                continue
            cost = matcher.cost_us(candidates)
            if cost > budget:
                budget = -1.0
                if not deferred:
                    group = unread.get(id(candidates), (candidates, (0, 0, 0), 0, {}))
                    specificity = max(group[1], css.approximate_specificity(selector))
                    merged = {**group[3], **{d[0]: d for d in kept}}
                    unread[id(candidates)] = (candidates, specificity, order, merged)
                continue
            budget -= cost
            specificity, matched = matcher.match(selector, candidates)
            if matched:
                yield specificity, order, matched, kept
    for candidates, specificity, order, merged in unread.values():
        yield specificity, order, candidates, tuple(merged.values())
