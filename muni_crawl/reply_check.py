"""The checks an LLM reply passes before a citizen sees it; a reply that fails one is not served.

In order, a reply must:
1. hold no active markup; formatting markup is stripped to plain text (`reply_markup`);
2. cite at least one source, and only sources it was given;
3. say something: MIN_WORDS words and MIN_LETTERS letters besides citations and contact points;
4. give only grounded URLs, e-mail addresses and phone numbers (the rule below);
5. be in the question's language. Only this failure is worth a retry (the composer makes one).

The grounding rule. A contact point is served only if it occurs in a passage the reply cites (its
text, title or own address; a full address also grounds its bare host) or is the tenant's contact
page. An address in a passage that was given but not cited, or in another tenant's pages, grounds
nothing. Neither does a cited passage that addresses the model ("ignore your instructions",
"system prompt", "du er nu en ..."): text planted to steer the model cannot get its address into
an answer. A contact point planted in a page's visible text without such wording is served when
that page is cited: the answer then shows nothing that the official page it cites does not show
the citizen itself. Keeping such text off the crawled pages is the crawler's job (allowed domains
only, hidden text dropped).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from muni_crawl.contact_points import (
    EMAIL,
    PHONE,
    ContactPoint,
    find_contact_points,
    grounding_keys,
    is_grounded,
    prepare,
)
from muni_crawl.language import detect_language
from muni_crawl.prompts import language_name
from muni_crawl.reply_markup import clean_markup
from muni_crawl.types import Passage

# LLMError kinds for a reply that arrived but is not served; `muni-crawl usage` counts them
REFUSAL_KINDS = (
    "unsafe_markup",
    "uncited",
    "bad_citations",
    "no_substance",
    "ungrounded_contact",
    "wrong_language",
)
MIN_WORDS = 2
MIN_LETTERS = 8
# below this many words (names from the sources not counted) the language cannot be told
LANGUAGE_MIN_WORDS = 3
# the identifier confuses these; a reader of one reads the other
LOOK_ALIKES = {"da": {"da", "no"}, "no": {"no", "da"}, "sv": {"sv", "da"}}
SHOWN_CHARS = 80

_CITATION = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_ADDRESSES_THE_MODEL = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,40}?\b(?:instructions?|rules|prompts?)\b"
    r"|\b(?:ignorer|glem|tilsidesæt|se bort fra)\b.{0,40}?\b(?:instruks|instruktion|regler|prompt)"
    r"|\bsystem[ -]?prompt|\bsystemprompt"
    r"|\b(?:you are|du er)(?: now| nu)? (?:an? |en )?(?:ai|assistant|chatbot|language model"
    r"|sprogmodel|assistent)\b"
    r"|\b(?:new|nye) (?:instructions|instruktioner)\b"
    r"|^\s*(?:system|assistant|user)\s*:",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class Verdict:
    """A checked reply: the plain text to serve, or the refusal kind and why."""

    text: str
    cited: tuple[int, ...] = ()
    refusal: str | None = None
    detail: str = ""
    stripped: tuple[str, ...] = ()  # markup removed from a servable reply

    @property
    def servable(self) -> bool:
        return self.refusal is None


def cited_numbers(text: str) -> list[int]:
    """Every [n] (also [1, 2]) in a reply, in order of first appearance."""
    numbers: list[int] = []
    for group in _CITATION.findall(text):
        for part in re.split(r"[,;]", group):
            n = int(part.strip())
            if n not in numbers:
                numbers.append(n)
    return numbers


def check_reply(
    reply: str, *, given: Sequence[Passage], language: str, contact_url: str | None
) -> Verdict:
    """Run the checks of the module docstring on one reply to a question in `language`."""
    cleaned = clean_markup(reply)
    if cleaned.refused is not None:
        return Verdict("", refusal="unsafe_markup", detail=cleaned.refused)
    text = cleaned.text
    numbers = cited_numbers(text)
    if not numbers:
        return Verdict(text, refusal="uncited", detail="the LLM answer cites no source")
    unresolved = [n for n in numbers if not 1 <= n <= len(given)]
    if unresolved:
        detail = f"the LLM cited sources that were not given: {unresolved}"
        return Verdict(text, refusal="bad_citations", detail=detail)
    cited = [given[n - 1] for n in numbers]
    points = find_contact_points(text)
    prose = _prose(text, points)
    words = _WORD.findall(prose)
    if len(words) < MIN_WORDS or sum(len(w) for w in words) < MIN_LETTERS:
        detail = f"the reply has no text besides citations and addresses: {shown(text)}"
        return Verdict(text, refusal="no_substance", detail=detail)
    problem = _ungrounded(points, cited, contact_url)
    if problem is not None:
        return Verdict(text, refusal="ungrounded_contact", detail=problem)
    problem = _wrong_language(words, language, cited)
    if problem is not None:
        return Verdict(text, refusal="wrong_language", detail=problem)
    return Verdict(text, cited=tuple(numbers), stripped=cleaned.stripped)


def addresses_the_model(passage: Passage) -> bool:
    """Whether a page's text speaks to a language model: a sign of planted instructions."""
    return _ADDRESSES_THE_MODEL.search(prepare(f"{passage.title}\n{passage.text}")) is not None


def _ungrounded(
    points: Sequence[ContactPoint], cited: Sequence[Passage], contact_url: str | None
) -> str | None:
    addresses = [p.url for p in cited] + ([contact_url] if contact_url else [])
    trusted = [p for p in cited if not addresses_the_model(p)]
    keys = grounding_keys([f"{p.title}\n{p.text}" for p in trusted], addresses)
    for point in points:
        if is_grounded(point, keys):
            continue
        what = {PHONE: "phone number", EMAIL: "e-mail address"}.get(point.kind, "web address")
        if len(trusted) < len(cited):
            planted = grounding_keys([f"{p.title}\n{p.text}" for p in cited], [])
            if is_grounded(point, planted):
                return (
                    f"the reply gives the {what} {shown(point.shown)} from a cited source that"
                    " addresses the model (planted instructions); not served"
                )
        return f"the reply gives the {what} {shown(point.shown)}, which no cited source contains"
    return None


def _prose(text: str, points: Sequence[ContactPoint]) -> str:
    """The reply's own words: no citations, no addresses, no numbers."""
    prose = _CITATION.sub(" ", prepare(text))
    for point in points:
        prose = prose.replace(point.shown, " ")
    return prose


def _wrong_language(words: Sequence[str], expected: str, cited: Sequence[Passage]) -> str | None:
    """Why the reply is not in the expected language, or None when it is or cannot be told.

    Capitalised words that occur in the cited sources are left out first: names of Danish
    offices and services are kept as written in any language, and would read as Danish.
    """
    source_words = {w.lower() for p in cited for w in _WORD.findall(f"{p.title} {p.text}")}
    own = [w for w in words if not (w[0].isupper() and w.lower() in source_words)]
    if len(own) < LANGUAGE_MIN_WORDS:
        return None
    detected = detect_language(" ".join(own))
    if detected in LOOK_ALIKES.get(expected, {expected}):
        return None
    return (
        f"the reply is in {language_name(detected)} ({detected}), the question was asked in"
        f" {language_name(expected)} ({expected})"
    )


def shown(value: str) -> str:
    """A value for a reason or a log line: shortened, and defanged so it is no live link."""
    value = value if len(value) <= SHOWN_CHARS else value[: SHOWN_CHARS - 3] + "..."
    value = value.replace("://", "[:]//").replace(".", "[.]").replace("@", "[@]")
    return ascii(value) if any(ord(ch) > 0xFF for ch in value) else repr(value)
