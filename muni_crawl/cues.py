"""Questions no municipal source answers, told by their words: the citizen's own case, small talk.

The evidence gate's retrieval signals cannot see that "Hvem er min sagsbehandler?" asks about a
case file no public page holds, or that "fortæl en vittighed" is small talk: both land near
some page. A short table of phrases per kind (cues.toml, in the languages the chatbot meets)
recognises them; such a question is refused before any LLM call, and the refusal points to the
municipality's contact page, which is where either belongs.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

from muni_crawl.errors import ConfigError
from muni_crawl.places import fold

CUES_FILE = "cues.toml"


@dataclass(frozen=True)
class Cue:
    """A phrase found in a question: its kind ("own_case", "small_talk"), the phrase and the
    reason a refusal gives."""

    kind: str
    phrase: str
    reason: str


@dataclass(frozen=True)
class Cues:
    """Every kind's phrases (as folded word tuples), its reason, and the words a kind's
    phrases need beside them in the question to count (where the kind has `needs`)."""

    phrases: Mapping[tuple[str, ...], str]  # phrase -> kind
    reasons: Mapping[str, str]  # kind -> reason
    needs: Mapping[str, frozenset[str]] = field(default_factory=dict)  # kind -> any of these

    def find(self, question: str) -> Cue | None:
        """The first cue phrase in the question (with a word its kind needs), or None."""
        words = fold(question)
        present = set(words)
        longest = max((len(p) for p in self.phrases), default=0)
        for i in range(len(words)):
            for n in range(min(longest, len(words) - i), 0, -1):
                kind = self.phrases.get(tuple(words[i : i + n]))
                if kind is None:
                    continue
                needed = self.needs.get(kind)
                if needed is not None and not needed & present:
                    continue
                return Cue(kind, " ".join(words[i : i + n]), self.reasons[kind])
        return None


@cache
def cues() -> Cues:
    """The packaged table (cues.toml)."""
    return parse_cues(files("muni_crawl").joinpath(CUES_FILE).read_text(encoding="utf-8"))


def parse_cues(text: str) -> Cues:
    """Cues from the TOML text of cues.toml: per kind a `reason`, lists of phrases by
    language and optionally `needs` (words one of which must also be in the question); a
    malformed table is a ConfigError naming it."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{CUES_FILE}: invalid TOML: {exc}") from exc
    phrases: dict[tuple[str, ...], str] = {}
    reasons: dict[str, str] = {}
    needs: dict[str, frozenset[str]] = {}
    for kind, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{CUES_FILE}: [{kind}] must be a table")
        reason = table.get("reason")
        if not isinstance(reason, str) or not reason:
            raise ConfigError(f"{CUES_FILE}: [{kind}] needs a reason")
        reasons[kind] = reason
        if "needs" in table:
            needed = {w for word in _phrases(table["needs"], f"[{kind}] needs") for w in fold(word)}
            if not needed:
                raise ConfigError(f"{CUES_FILE}: [{kind}] needs must list words")
            needs[kind] = frozenset(needed)
        for language, listed in table.items():
            if language in ("reason", "needs"):
                continue
            for phrase in _phrases(listed, f"[{kind}] {language}"):
                words = tuple(fold(phrase))
                if not words:
                    raise ConfigError(f"{CUES_FILE}: [{kind}] {language}: {phrase!r} has no words")
                phrases.setdefault(words, kind)
    return Cues(phrases, reasons, needs)


def _phrases(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{CUES_FILE}: {where} must be a list of phrases")
    return value
