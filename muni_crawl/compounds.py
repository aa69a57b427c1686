"""Danish compound splitting for BM25, driven by the words of the index's own corpus.

Danish writes compounds as one word ("haveaffald", "parkeringstilladelse") while a citizen
asks about "affald fra haven", and BM25 over whole words never meets the two. A word is split
into two or three parts that are themselves words: frequent in the tenant's corpus, or on the
short curated lists below. The linking letters "s" and "e" may join parts ("parkering-s-
tilladelse", "skrald-e-bil"), and the last part may be inflected ("storskrald-et"). The parts
are added as extra tokens and the whole word stays, so an exact match still scores highest.

Wrong splits come from short and suffix-like parts ("passet" is not "pas" + "set", "daglige"
not "dag" + "lige", "sygdom" not "syg" + "dom"): a part under four letters must be on
SHORT_PARTS, suffix-like words are never parts, and NO_SPLIT lists words that look like
compounds but are not.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from bm25s.stopwords import STOPWORDS_DANISH


def _word_set(text: str) -> frozenset[str]:
    """The words of a curated list written as one string (easier to read and to extend)."""
    return frozenset(text.split())


# a corpus word becomes a possible part when it occurs at least this often
MIN_COUNT = 2
# the shortest part taken from the corpus; shorter ones come only from SHORT_PARTS
MIN_CORPUS_PART = 4
# the shortest word worth splitting: two parts of three letters
MIN_WORD = 6
# at most this many parts per word (three reads "stor-skrald-s-ordning")
MAX_PARTS = 3
LINKS = ("", "s", "e")
# inflections a compound's last part may carry, longest first ("skraldet" -> "skrald")
ENDINGS = ("erne", "enes", "ens", "ets", "ene", "en", "et", "er", "ne", "e", "n", "r", "s")

# Two- and three-letter words that really occur in municipal compounds ("bilnummer",
# "rådhus", "byråd", "pasfoto", "tidsbestilling"); no other short word is ever a part.
SHORT_PARTS = _word_set(
    "by bil bus hus vej dag sag pas tid råd bad fag kur lån løn sol syn tog uge kød nat træ år"
)

# Common parts of Danish public-service compounds, so that a small corpus, or a question
# using a word the tenant's pages never write on its own, still splits.
COMMON_PARTS = _word_set(
    """
    affald skrald stor have ordning bolig støtte parkering tilladelse hjælp hjemme pleje
    ældre børne barn skole fritid kort sundhed syge læge tand vagt plads station genbrug
    container beholder spand sæk tømning afhentning kalender gebyr takst betaling pris
    ydelse tilskud bidrag pension folke førtid kontant ledig dagpenge arbejde arbejds job
    center borger service kontor bibliotek sport hal svømme idræt bygge byggeri ejendom
    skat grund vand varme fjern kloak rotte flytning adresse navn person nummer attest
    ansøgning frist regel regler handicap hjælpemiddel kørsel trafik fortov cykel sti
    snerydning vinter sommer ferie jul græs blade grene jord sten mad plast papir pap
    glas metal farlig elektronik møbel madras hvidevare hunde foto rejse bevis valg stemme
    kommune region regning institution vuggestue børnehave dagpleje skift
    """
)

# Never parts: suffixes and endings that are also (rare) words or tokens ("priserne" is not
# "pris" + "erne"), and words behind classic wrong splits.
NEVER_PARTS = _word_set(
    "lige lig dom skab hed else ende ning ring sel tet bar vis vise isk erne ernes enes endes ret"
)

# Whole words that look like compounds but are not.
NO_SPLIT = _word_set(
    """
    vejledning vejledninger vejledningen vejleder vejledere vejlede vejledende vejret
    forældre sommer betaling betalingen kontakt kontakte kontakter tilbage
    """
)

# Stop words are function words and never parts, except the content homographs here:
# "have" is the verb "to have" and also the noun "garden" (haveaffald).
_STOP_PARTS = frozenset(STOPWORDS_DANISH) - {"have"}


def allowed_part(word: str) -> bool:
    """Whether `word` may ever be a part (not a function word nor suffix-like)."""
    return word not in _STOP_PARTS and word not in NEVER_PARTS


def corpus_parts(counts: Mapping[str, int]) -> dict[str, int]:
    """The corpus words a part may be: frequent, long enough, not function words."""
    return {
        w: c
        for w, c in counts.items()
        if c >= MIN_COUNT and len(w) >= MIN_CORPUS_PART and w.isalpha() and allowed_part(w)
    }


def _splittable(word: str) -> bool:
    return len(word) >= MIN_WORD and word not in NO_SPLIT and word.isalpha()


class CompoundSplitter:
    """Splits words into known parts. `counts` maps corpus words to how often they occur;
    the curated lists are always known. Safe to share between threads."""

    def __init__(self, counts: Mapping[str, int] | None = None) -> None:
        self.corpus: dict[str, int] = corpus_parts(counts or {})
        known = dict(self.corpus)
        # a word that must not be split is still a part of longer words ("affaldsvejledning")
        for word in COMMON_PARTS | SHORT_PARTS | NO_SPLIT:
            if allowed_part(word):
                known[word] = max(known.get(word, 0), MIN_COUNT)
        self._known = known
        # the analyser asks about every word of every passage and question
        self.parts = lru_cache(maxsize=1 << 16)(self._parts)

    @classmethod
    def from_words(cls, words: Iterable[str]) -> CompoundSplitter:
        """A splitter whose corpus is these lower-case words."""
        return cls(Counter(words))

    @classmethod
    def load(cls, path: Path) -> CompoundSplitter:
        """A splitter from the lexicon `save` wrote."""
        data = json.loads(path.read_text(encoding="utf-8"))
        words = data.get("words") if isinstance(data, dict) else None
        if not isinstance(words, dict):
            raise ValueError(f"{path}: not a compound lexicon (no 'words' object)")
        return cls({str(w): int(c) for w, c in words.items()})

    def save(self, path: Path) -> None:
        """Write the corpus words a part may be, with their counts."""
        words = dict(sorted(self.corpus.items()))
        path.write_text(json.dumps({"words": words}, ensure_ascii=False), encoding="utf-8")

    def _parts(self, word: str) -> tuple[str, ...]:
        """A compound's parts in their plain form, and the parts of a part that is itself a
        compound ("storskraldsordning": storskrald, ordning, stor, skrald); () otherwise."""
        found = self._split(word, MAX_PARTS) if _splittable(word) else None
        if found is None:
            return ()
        parts = list(found)
        if len(found) == 2:
            for part in found:
                inner = self._split(part, 2) if _splittable(part) else None
                parts.extend(inner or ())
        return tuple(dict.fromkeys(parts))

    def _split(self, word: str, max_parts: int) -> tuple[str, ...] | None:
        """The best reading of `word` as 2..max_parts known parts: fewest parts first, then
        the highest geometric mean of the parts' counts (the most ordinary reading)."""
        best: tuple[tuple[int, float], tuple[str, ...]] | None = None
        for end in range(2, len(word) - 1):
            head = word[:end]
            if head not in self._known:
                continue
            for link in LINKS:
                if link and not word.startswith(link, end):
                    continue
                rest = word[end + len(link) :]
                for tail in self._readings(rest, max_parts - 1):
                    parts = (head, *tail)
                    logs = sum(math.log(self._known[p]) for p in parts)
                    key = (-len(parts), logs / len(parts))
                    if best is None or key > best[0]:
                        best = (key, parts)
        return None if best is None else best[1]

    def _readings(self, rest: str, max_parts: int) -> list[tuple[str, ...]]:
        """Ways to read the rest of a word: one known word (perhaps inflected), or when
        allowed more than one part."""
        readings: list[tuple[str, ...]] = []
        plain = self._last_part(rest)
        if plain is not None:
            readings.append((plain,))
        if max_parts >= 2:
            inner = self._split(rest, max_parts)
            if inner is not None:
                readings.append(inner)
        return readings

    def _last_part(self, rest: str) -> str | None:
        """`rest` as a known word, or as one plus an inflection ("skrald-et", "bil-en"); the
        plain form, or None."""
        if rest in self._known:
            return rest
        for ending in ENDINGS:
            if rest.endswith(ending):
                plain = rest[: -len(ending)]
                short = plain in SHORT_PARTS and len(ending) > 1  # "bil-en", not "pas-s"
                if (len(plain) >= MIN_CORPUS_PART or short) and plain in self._known:
                    return plain
        return None
