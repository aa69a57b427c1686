"""A small reader for the CSS a page carries itself: rules, declarations, values, colours, and
which elements a selector matches. It exists so that extraction can tell hidden text from
visible text (see visibility.py) without a browser; it is deliberately not a full CSS engine.
"""

from __future__ import annotations

import colorsys
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cssselect import HTMLTranslator, SelectorError, parse
from cssselect.xpath import XPathExpr
from lxml.etree import XPath, XPathError

Declaration = tuple[str, str, bool]  # (longhand property, lower-cased value, !important)
Specificity = tuple[int, int, int]
RGBA = tuple[float, float, float, float]
WHITE: RGBA = (1.0, 1.0, 1.0, 1.0)

MAX_CSS_CHARS = 1_000_000
MAX_NESTING = 8  # @media / @supports levels read
# rough costs in microseconds, measured with lxml 6 on one core: used to bound the work
PARSE_COST_US = 400  # parsing a selector and compiling its XPath
TEST_COST_US = 12  # testing one element against a compiled selector
SEARCH_COST_US = 2.5  # per element, one search of the whole page


@dataclass(frozen=True)
class StyleRule:
    """One rule of an inline <style> block: its selector list and its declarations' text."""

    order: int
    selectors: str
    body: str


def style_rules(tree: Any) -> list[StyleRule]:
    """The rules of the page's <style> blocks that apply on screen, in document order."""
    css = "\n".join(
        style.text_content()
        for style in tree.iter("style")
        if media_applies(style.get("media") or "all")
    )[:MAX_CSS_CHARS]
    css = re.sub(r"/\*.*?(\*/|$)", "", css, flags=re.DOTALL)
    return [
        StyleRule(order, selectors, body) for order, (selectors, body) in enumerate(_rules(css, 0))
    ]


def media_applies(query: str) -> bool:
    """Only media that apply on screens of every size: all and screen (or none given)."""
    return " ".join(query.lower().split()) in ("", "all", "screen", "only screen")


def _rules(css: str, nesting: int) -> Iterator[tuple[str, str]]:
    """(selector list, declarations) pairs, descending into @media all/screen and @supports."""
    position = 0
    while position < len(css):
        opening = css.find("{", position)
        if opening < 0:
            return
        # statements before the rule (@import ...; @charset ...;) are not part of its prelude
        prelude = css[position:opening].rsplit(";", 1)[-1].strip()
        closing = _matching_brace(css, opening)  # the end of the sheet closes an open block
        block = css[opening + 1 : closing]
        position = closing + 1
        if prelude.startswith("@"):
            name, _, condition = prelude.partition(" ")
            name = name.lower()
            nested = name == "@supports" or (name == "@media" and media_applies(condition))
            if nested and nesting < MAX_NESTING:
                yield from _rules(block, nesting + 1)
        elif prelude:
            yield prelude, block


_BRACES_AND_QUOTES = re.compile(r"""[{}"']""")


def _matching_brace(css: str, opening: int) -> int:
    depth = 0
    quote = ""
    for found in _BRACES_AND_QUOTES.finditer(css, opening):
        char = found.group(0)
        if quote:
            if char == quote and css[found.start() - 1] != "\\":
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return found.start()
    return len(css)


def declarations(body: str) -> Iterator[Declaration]:
    """The declarations of `a: b; c: d !important`, with the shorthands that matter expanded."""
    for declaration in split_top_level(body, ";"):
        prop, colon, value = declaration.partition(":")
        prop = prop.strip().lower()
        if not colon or not prop:
            continue
        value = " ".join(value.split())
        important = bool(re.search(r"!\s*important$", value, re.IGNORECASE))
        value = re.sub(r"\s*!\s*important$", "", value, flags=re.IGNORECASE).lower()
        for longhand, longhand_value in _longhands(prop, value):
            yield longhand, longhand_value, important


def _longhands(prop: str, value: str) -> list[tuple[str, str]]:
    if prop == "background":
        color = next((t for t in split_top_level(value, " ") if parse_color(t)), "transparent")
        image = "url" if re.search(r"url\(|gradient\(|image-set\(|image\(", value) else "none"
        return [("background-color", color), ("background-image", image)]
    if prop == "font":  # [style] [weight] size[/line-height] family: "font: 0/0 a"
        sizes = [t.split("/")[0] for t in split_top_level(value, " ")]
        size = next((s for s in sizes if length(s) is not None or s.endswith("%")), None)
        return [("font-size", size)] if size else []
    if prop == "overflow":
        axes = value.split() or [value]
        return [("overflow-x", axes[0]), ("overflow-y", axes[-1])]
    if prop in ("margin", "inset"):
        sides = value.split()
        if not sides:
            return []
        top = sides[0]
        right = sides[1] if len(sides) > 1 else top
        bottom = sides[2] if len(sides) > 2 else top
        left = sides[3] if len(sides) > 3 else right
        if prop == "margin":
            return [("margin-top", top), ("margin-left", left)]
        return [("top", top), ("right", right), ("bottom", bottom), ("left", left)]
    return [(prop, value)]


_NESTING = re.compile(r"[()\[\]\"']")


def split_top_level(text: str, separator: str) -> list[str]:
    """Split on `separator` outside parentheses and quotes (url(...;...), rgb(a, b, c))."""
    if not _NESTING.search(text):
        return [p.strip() for p in text.split(separator) if p.strip()]
    parts: list[str] = []
    depth = 0
    quote = ""
    start = 0
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif char == separator and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


# --- values ---------------------------------------------------------------------------------

_UNITS = {"px": 1.0, "pt": 4 / 3, "pc": 16.0, "in": 96.0, "cm": 37.8, "mm": 3.78, "q": 0.945,
          "em": 16.0, "rem": 16.0, "ex": 8.0, "ch": 8.0, "vw": 19.2, "vh": 10.8,
          "vmin": 10.8, "vmax": 19.2}  # fmt: skip


_LENGTH = re.compile(r"\s*([-+]?\d*\.?\d+(?:e[-+]?\d+)?)\s*([a-z]*)\s*")


def length(value: str) -> float | None:
    """A CSS length in (approximate) pixels: em at 16px, viewport units at 1920x1080."""
    match = _LENGTH.fullmatch(value.lower())
    if not match:
        return None
    amount = number(match.group(1))
    unit = match.group(2)
    if amount is None or (unit and unit not in _UNITS) or (not unit and amount != 0):
        return None
    return amount * _UNITS.get(unit, 1.0)


def number(value: str) -> float | None:
    """A finite float, or None (nan and inf are not numbers a page can mean)."""
    try:
        amount = float(value)
    except ValueError:
        return None
    return amount if amount == amount and abs(amount) != float("inf") else None


def fraction(value: str, scale: float) -> float | None:
    """A number as a 0..1 fraction of `scale`, or a percentage."""
    value = value.strip()
    if value.endswith("%"):
        amount = number(value[:-1])
        return None if amount is None else max(0.0, min(1.0, amount / 100))
    amount = number(value)
    return None if amount is None else max(0.0, min(1.0, amount / scale))


_NAMED = {
    "transparent": (0, 0, 0, 0), "white": (255, 255, 255, 1), "black": (0, 0, 0, 1),
    "snow": (255, 250, 250, 1), "ivory": (255, 255, 240, 1), "whitesmoke": (245, 245, 245, 1),
    "ghostwhite": (248, 248, 255, 1), "floralwhite": (255, 250, 240, 1),
    "azure": (240, 255, 255, 1), "mintcream": (245, 255, 250, 1),
    "seashell": (255, 245, 238, 1), "honeydew": (240, 255, 240, 1),
    "aliceblue": (240, 248, 255, 1), "linen": (250, 240, 230, 1),
    "gray": (128, 128, 128, 1), "grey": (128, 128, 128, 1), "silver": (192, 192, 192, 1),
    "red": (255, 0, 0, 1), "green": (0, 128, 0, 1), "blue": (0, 0, 255, 1),
    "yellow": (255, 255, 0, 1), "navy": (0, 0, 128, 1), "maroon": (128, 0, 0, 1),
}  # fmt: skip


def parse_color(value: str) -> RGBA | None:
    """A CSS colour as RGBA in 0..1, or None when it is not one we know (var(), names)."""
    value = value.strip().lower()
    if value in _NAMED:
        r, g, b, a = _NAMED[value]
        return (r / 255, g / 255, b / 255, float(a))
    hexa = re.fullmatch(r"#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})", value)
    if hexa:
        digits = hexa.group(1)
        if len(digits) <= 4:
            digits = "".join(d * 2 for d in digits)
        channels = [int(digits[i : i + 2], 16) / 255 for i in range(0, len(digits), 2)]
        return (channels[0], channels[1], channels[2], channels[3] if len(channels) == 4 else 1.0)
    func = re.fullmatch(r"(rgba?|hsla?)\((.*)\)", value)
    if not func:
        return None
    parts = [p for p in re.split(r"[\s,/]+", func.group(2).strip()) if p]
    if len(parts) not in (3, 4):
        return None
    alpha = fraction(parts[3], 1.0) if len(parts) == 4 else 1.0
    if func.group(1).startswith("rgb"):
        rgb = [fraction(p, 255.0) for p in parts[:3]]
        if alpha is None or None in rgb:
            return None
        return (float(rgb[0] or 0), float(rgb[1] or 0), float(rgb[2] or 0), alpha)
    hue = number(parts[0].removesuffix("deg"))
    saturation, lightness = fraction(parts[1], 100.0), fraction(parts[2], 100.0)
    if hue is None or saturation is None or lightness is None or alpha is None:
        return None
    red, green, blue = colorsys.hls_to_rgb((hue % 360) / 360, lightness, saturation)
    return (red, green, blue, alpha)


def contrast(text: RGBA, background: RGBA) -> float:
    """WCAG contrast ratio of text (blended over its background) against that background."""
    seen = blend(text, background)
    lighter, darker = sorted((_luminance(seen), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def blend(top: RGBA, below: RGBA) -> RGBA:
    """A translucent colour as it looks over an opaque one."""
    a = top[3]
    return (
        top[0] * a + below[0] * (1 - a),
        top[1] * a + below[1] * (1 - a),
        top[2] * a + below[2] * (1 - a),
        1.0,
    )


def _luminance(color: RGBA) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else float(((c + 0.055) / 1.055) ** 2.4)

    r, g, b = (channel(c) for c in color[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# --- which elements a selector matches --------------------------------------------------------


class _ElementTestTranslator(HTMLTranslator):
    """Selectors as a test on one element, read right to left as browsers match them
    (``.a p`` becomes ``self::p[ancestor::*[class a]]``), so that a rule is tried only on the
    elements that carry its rightmost id, class or tag instead of searching the whole page."""

    def xpath_descendant_combinator(self, left: XPathExpr, right: XPathExpr) -> XPathExpr:
        return right.add_condition(f"ancestor::{left}")

    def xpath_child_combinator(self, left: XPathExpr, right: XPathExpr) -> XPathExpr:
        return right.add_condition(f"parent::{left}")

    def xpath_direct_adjacent_combinator(self, left: XPathExpr, right: XPathExpr) -> XPathExpr:
        return right.add_condition(f"preceding-sibling::*[1]/self::{left}")

    def xpath_indirect_adjacent_combinator(self, left: XPathExpr, right: XPathExpr) -> XPathExpr:
        return right.add_condition(f"preceding-sibling::{left}")


_NAME = r"-?[_a-zA-Z][\w-]*"


class ElementMatcher:
    """Finds the elements of one page that a selector matches, with a cost estimate first."""

    def __init__(self, tree: Any) -> None:
        self.tree = tree
        self._translator = _ElementTestTranslator()
        self._index: dict[str, list[Any]] = {"*": []}
        for element in tree.iter():
            if not isinstance(element.tag, str):
                continue
            keys = ["*", element.tag.lower()]
            keys += ["." + name for name in (element.get("class") or "").split()]
            if (element.get("id") or "").strip():
                keys.append("#" + element.get("id").strip())
            for key in dict.fromkeys(keys):
                self._index.setdefault(key, []).append(element)

    def candidates(self, selector: str) -> list[Any]:
        """The elements that carry the selector's rightmost id, class or tag; none when it
        names a class or id that no element of the page has."""
        plain = _without_arguments(selector)
        if "\\" in plain:  # escaped names (.md\:hidden): leave them to the real parser
            return self._index["*"]
        if any(key not in self._index for key in re.findall(rf"[.#]{_NAME}", plain)):
            return []
        rightmost = re.split(r"\s*[>+~]\s*|\s+", plain.strip())[-1]
        keys = re.findall(rf"[.#]{_NAME}", rightmost)
        tag = re.match(_NAME, rightmost)
        if tag:
            keys.append(tag.group(0).lower())
        known = [self._index.get(key, []) for key in keys]
        return min(known, key=len) if known else self._index["*"]

    def cost_us(self, candidates: list[Any]) -> float:
        return PARSE_COST_US + min(
            len(candidates) * TEST_COST_US, len(self._index["*"]) * SEARCH_COST_US
        )

    def match(self, selector: str, candidates: list[Any]) -> tuple[Specificity, list[Any]]:
        """The candidates the selector matches, and its specificity; nothing for a selector
        that is invalid, unsupported or names a pseudo-element (its text is not in the page)."""
        try:
            [parsed] = parse(selector)
            if parsed.pseudo_element is not None:
                return (0, 0, 0), []
            if len(candidates) * TEST_COST_US > len(self._index["*"]) * SEARCH_COST_US:
                found = set(self.tree.xpath(self._translator.selector_to_xpath(parsed)))
                return parsed.specificity(), [e for e in candidates if e in found]
            test = XPath(self._translator.selector_to_xpath(parsed, prefix="self::"))
            return parsed.specificity(), [e for e in candidates if test(e)]
        except (SelectorError, XPathError, ValueError):
            return (0, 0, 0), []


def approximate_specificity(selector: str) -> Specificity:
    """Specificity counted from the text, for rules applied without parsing them."""
    plain = _without_arguments(selector)
    ids = len(re.findall(rf"#{_NAME}", plain))
    classes = len(re.findall(rf"\.{_NAME}|\[|:(?!:)", plain))
    tags = len(re.findall(rf"(?:^|[\s>+~]){_NAME}|::", plain))
    return (ids, classes, tags)


def _without_arguments(selector: str) -> str:
    """The selector without [attribute] tests and the insides of :not(...), :is(...)."""
    plain = re.sub(r"\[[^\]]*\]", "[]", selector)
    for _ in range(MAX_NESTING):
        reduced = re.sub(r"\([^()]*\)", "()", plain)
        if reduced == plain:
            break
        plain = reduced
    return plain
