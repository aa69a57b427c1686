"""Questions no municipal source answers, told by their words: the citizen's own case, small
talk, another country's documents.

The evidence gate's retrieval signals cannot see that "Hvem er min sagsbehandler?" asks about a
case file no public page holds, that "fortæl en vittighed" is small talk, or that "Hvad koster
et norsk pas?" is for Norway's authorities, not the municipality whose passport page it finds:
all land near some page. A short table of phrases per kind (cues.toml, in the languages the
chatbot meets) recognises them; such a question is refused before any LLM call, and the
refusal points to the municipality's contact page, which is where each belongs.

A kind may narrow its phrases: `needs` (one of these words must also be in the question),
`near` (one of these within `within` words of the phrase) and `unless` (none of these may be
in it). A word written with a trailing `*` is a prefix ("polsk*": polske, polskt).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

from muni_crawl.errors import ConfigError
from muni_crawl.places import fold

CUES_FILE = "cues.toml"
PREFIX = "*"  # a word ending so matches every word it begins
MIN_PREFIX = 3  # letters a prefix needs: "a*" would match half a sentence
NEAR_WITHIN = 2  # words between a phrase and a `near` word, unless a kind says otherwise
_SETTINGS = ("reason", "needs", "near", "within", "unless")  # a kind's keys that list no phrases


@dataclass(frozen=True)
class Cue:
    """A phrase found in a question: its kind ("own_case", "small_talk"), the phrase and the
    reason a refusal gives."""

    kind: str
    phrase: str
    reason: str


@dataclass(frozen=True)
class Words:
    """Folded words, some of them prefixes (written with a trailing `*`)."""

    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def matches(self, word: str) -> bool:
        return word in self.exact or word.startswith(self.prefixes)

    def any_in(self, words: Sequence[str]) -> bool:
        return any(self.matches(word) for word in words)


@dataclass(frozen=True)
class Condition:
    """What else a kind's phrase needs in the question to count."""

    needs: Words | None = None  # one of these anywhere
    near: Words | None = None  # one of these within `within` words of the phrase
    within: int = NEAR_WITHIN
    unless: Words | None = None  # none of these anywhere

    def holds(self, words: Sequence[str], start: int, end: int) -> bool:
        """Whether the phrase at words[start:end] counts."""
        if self.needs is not None and not self.needs.any_in(words):
            return False
        if self.unless is not None and self.unless.any_in(words):
            return False
        if self.near is not None:
            around = [*words[max(0, start - self.within) : start], *words[end : end + self.within]]
            return self.near.any_in(around)
        return True


@dataclass(frozen=True)
class Cues:
    """Every kind's phrases (as folded word tuples; a word ending in `*` is a prefix), its
    reason, and what a kind's phrases need beside them to count (where the kind says)."""

    phrases: Mapping[tuple[str, ...], str]  # phrase -> kind
    reasons: Mapping[str, str]  # kind -> reason
    conditions: Mapping[str, Condition] = field(default_factory=dict)  # kind -> condition
    _exact: dict[tuple[str, ...], str] = field(init=False, repr=False, compare=False)
    # phrases with a prefix, by the first MIN_PREFIX letters of their first word
    _prefixed: dict[str, list[tuple[tuple[str, ...], str]]] = field(
        init=False, repr=False, compare=False
    )
    _longest: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        exact: dict[tuple[str, ...], str] = {}
        prefixed: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for phrase, kind in self.phrases.items():
            if any(word.endswith(PREFIX) for word in phrase):
                key = phrase[0].removesuffix(PREFIX)[:MIN_PREFIX]
                prefixed.setdefault(key, []).append((phrase, kind))
            else:
                exact[phrase] = kind
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_prefixed", prefixed)
        object.__setattr__(self, "_longest", max((len(p) for p in exact), default=0))

    def find(self, question: str) -> Cue | None:
        """The first cue phrase in the question whose kind's condition holds, or None."""
        words = fold(question)
        for i in range(len(words)):
            for n in range(min(self._longest, len(words) - i), 0, -1):
                cue = self._counted(words, i, n, self._exact.get(tuple(words[i : i + n])))
                if cue is not None:
                    return cue
            for phrase, kind in self._prefixed.get(words[i][:MIN_PREFIX], ()):
                if _matches_at(phrase, words, i):
                    cue = self._counted(words, i, len(phrase), kind)
                    if cue is not None:
                        return cue
        return None

    def _counted(self, words: Sequence[str], start: int, n: int, kind: str | None) -> Cue | None:
        if kind is None:
            return None
        condition = self.conditions.get(kind)
        if condition is not None and not condition.holds(words, start, start + n):
            return None
        return Cue(kind, " ".join(words[start : start + n]), self.reasons[kind])


def _matches_at(phrase: tuple[str, ...], words: Sequence[str], start: int) -> bool:
    if start + len(phrase) > len(words):
        return False
    for expected, word in zip(phrase, words[start:], strict=False):
        if expected.endswith(PREFIX):
            if not word.startswith(expected[:-1]):
                return False
        elif word != expected:
            return False
    return True


@cache
def cues() -> Cues:
    """The packaged table (cues.toml)."""
    return parse_cues(files("muni_crawl").joinpath(CUES_FILE).read_text(encoding="utf-8"))


def parse_cues(text: str) -> Cues:
    """Cues from the TOML text of cues.toml: per kind a `reason`, lists of phrases by
    language and optionally `needs`, `near` (with `within`) and `unless` word lists; a
    malformed table is a ConfigError naming it."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{CUES_FILE}: invalid TOML: {exc}") from exc
    phrases: dict[tuple[str, ...], str] = {}
    reasons: dict[str, str] = {}
    conditions: dict[str, Condition] = {}
    for kind, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{CUES_FILE}: [{kind}] must be a table")
        reason = table.get("reason")
        if not isinstance(reason, str) or not reason:
            raise ConfigError(f"{CUES_FILE}: [{kind}] needs a reason")
        reasons[kind] = reason
        condition = _condition(kind, table)
        if condition is not None:
            conditions[kind] = condition
        for language, listed in table.items():
            if language in _SETTINGS:
                continue
            for phrase in _phrases(listed, f"[{kind}] {language}"):
                words = _folded(phrase)
                if not words:
                    raise ConfigError(f"{CUES_FILE}: [{kind}] {language}: {phrase!r} has no words")
                phrases.setdefault(words, kind)
    return Cues(phrases, reasons, conditions)


def _condition(kind: str, table: Mapping[str, Any]) -> Condition | None:
    lists = {
        key: _words(kind, key, table[key]) for key in ("needs", "near", "unless") if key in table
    }
    within = table.get("within", NEAR_WITHIN)
    if "within" in table and "near" not in table:
        raise ConfigError(f"{CUES_FILE}: [{kind}] within needs a near list")
    if isinstance(within, bool) or not isinstance(within, int) or within < 1:
        raise ConfigError(f"{CUES_FILE}: [{kind}] within must be a whole number of words >= 1")
    if not lists:
        return None
    return Condition(
        needs=lists.get("needs"), near=lists.get("near"), within=within, unless=lists.get("unless")
    )


def _words(kind: str, key: str, value: Any) -> Words:
    exact: set[str] = set()
    prefixes: set[str] = set()
    for entry in _phrases(value, f"[{kind}] {key}"):
        for word in _folded(entry):
            if word.endswith(PREFIX):
                prefixes.add(word[:-1])
            else:
                exact.add(word)
    if not exact and not prefixes:
        raise ConfigError(f"{CUES_FILE}: [{kind}] {key} must list words")
    return Words(frozenset(exact), tuple(sorted(prefixes)))


def _folded(phrase: str) -> tuple[str, ...]:
    """The phrase's folded words, a trailing `*` kept on the word it ends ("polsk*"); a
    prefix shorter than MIN_PREFIX letters would match too much and is a ConfigError."""
    words: list[str] = []
    for part in phrase.split():
        folded = fold(part)
        if part.endswith(PREFIX) and folded:
            if len(folded[-1]) < MIN_PREFIX:
                raise ConfigError(
                    f"{CUES_FILE}: the prefix {part!r} is too short (at least {MIN_PREFIX} letters)"
                )
            folded[-1] += PREFIX
        words.extend(folded)
    return tuple(words)


def _phrases(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{CUES_FILE}: {where} must be a list of phrases")
    return value
