"""Choosing the sentences of an extractive answer: the few that answer the question, in page order.

Without an LLM the answer is the sources' own words, so everything depends on picking the
right ones. Candidate sentences (list items and table rows count as sentences) come from the
best passages; each is scored by

- words: the question's topic stems it shares (its words but those asking for a type of
  answer, "hvad koster", "how much", which the type below covers), weighted by how rare each
  stem is among the candidates (a topic word found in every sentence decides nothing), at
  half weight for stems only in its heading or page title;
- the question's type: a price question wants an amount, a "when" question a day, date or
  opening hours, a deadline question a time limit, a where/how question a place, address,
  link or procedure (muni_crawl.question_types);
- rank: a preference for the passage retrieval ranked higher;
- meaning, only when the words cannot decide (no candidate shares a rare stem with the
  question, e.g. one in another language): the cosine to the question of the MAX_EMBEDDED
  best candidates, from the embedder's query engines. Each costs a query embedding, so it is
  spent only there; measured on benchmarks/questions.toml it changes little (see
  docs/answering.md), and without an embedder the composer works the same otherwise.

The answer is short: at most MAX_SENTENCES sentences and about MAX_WORDS words (the single
best sentence is always kept whole). Sentences keep their page order, a heading is put in
front of a list item, a table row or a short sentence when the heading adds words they lack,
each run of sentences from one passage cites it, and a sentence that repeats a chosen one
(the national text and its local copy) is left out.

Sources in the question's language are preferred when they answer as well: a passage in the
question's language whose cosine is within PASSAGE_MARGIN of the best passage's, and whose
best sentence scores within SENTENCE_MARGIN of the best sentence overall, supplies the answer
on its own (an English question gets the municipality's English page, where there is one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from muni_crawl.language import detect_language
from muni_crawl.lexical import analyse
from muni_crawl.question_types import question_types, type_match, without_cues
from muni_crawl.reply_markup import EMPHASIS
from muni_crawl.types import Passage, Vectors

MAX_SENTENCES = 3
MAX_WORDS = 60  # the extract's words, without the intro sentence and the [n] marks
MAX_PASSAGES = 5  # the best passages that offer sentences (plus any in the question's language)
MAX_EMBEDDED = 6  # candidate sentences embedded per question (each costs a query embedding)
PASSAGE_MARGIN = (
    0.03  # cosine: how far behind the best passage one in the question's language may be
)
SENTENCE_MARGIN = 0.35  # score: how far behind the best sentence its best sentence may be
REPEAT_SHARE = 0.7  # share of the shorter sentence's stems that makes another one a repeat
KEEP_WITHIN = 0.6  # score: further sentences are added while this close to the best
OTHER_PASSAGE = 0.3  # score: how much closer a sentence from another passage must come

SHORT_SENTENCE = 5  # words: a sentence shorter than this is shown under its heading
ROW_WORDS = 12  # words: a line shorter than this, without a full stop, may be a table row
EMBEDDED_WORDS = 40  # words of a candidate that are embedded (the cost grows with the length)
CONTEXT_SHARE = 0.5  # weight of a question word found only in a sentence's heading or page title
WORDS_DECIDE = 0.3  # word score from which the words alone choose (no embedding)
MEANING_SPREAD = 0.08  # cosine: a candidate this far below the closest one gets no meaning score

WEIGHT_MEANING = 1.0
WEIGHT_WORDS = 1.2
WEIGHT_TYPE = 0.8
WEIGHT_RANK = 1.0

EmbedTexts = Callable[[Sequence[str]], Vectors]

# -- the candidate sentences --------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÆØÅ0-9\"'(])")
_ABBREVIATIONS = ("kl.", "ca.", "f.eks.", "nr.", "tlf.", "jf.", "bl.a.", "evt.", "inkl.", "max.")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*$")
_BULLET = re.compile(r"^(?:[-*+•]|\d{1,2}[.)])\s+")
_TABLE_RULE = re.compile(r"^\|?[\s:|-]*-{2,}[\s:|-]*\|?$")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)[^)]*\)")
# lines that describe the page, not its subject ("Sidst opdateret: 12. januar 2026" would
# otherwise answer every "when" question)
_PAGE_NOTES = re.compile(
    r"^(sidst opdateret|senest opdateret|opdateret|last updated|updated|læs også|læs mere|se også"
    r"|see also|read more|del siden|print)\b",
    re.IGNORECASE,
)
_END_PUNCTUATION = (".", "!", "?", ":", ";")


def split_sentences(text: str) -> list[str]:
    """Sentences of Danish text; no split after "kl.", "f.eks." and other abbreviations."""
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(text):
        if sentences and sentences[-1].lower().endswith(_ABBREVIATIONS):
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    return [s.strip() for s in sentences if s.strip()]


def _plain(text: str) -> str:
    """Markdown-ish inline markup out: images, emphasis, code marks; links as text (url)."""
    text = _IMAGE.sub("", text)
    text = _LINK.sub(
        lambda m: f"{m.group(1)} ({m.group(2)})" if m.group(2).startswith("http") else m.group(1),
        text,
    )
    text = EMPHASIS.sub("", text).replace("`", "")
    return " ".join(text.split())


@dataclass(frozen=True)
class Unit:
    """One candidate: a sentence, a list item or a table row, under its nearest heading."""

    passage: int  # 0-based position in the passages given
    position: int  # order within the passage
    text: str
    heading: str
    kind: str  # sentence | item | row

    @property
    def words(self) -> int:
        return len(self.text.split())

    def needs_heading(self) -> bool:
        """A list item, a table row or a short sentence reads better under its heading,
        unless the heading adds no word the text lacks."""
        if not self.heading or (self.kind == "sentence" and self.words >= SHORT_SENTENCE):
            return False
        return not set(analyse(self.heading)) <= set(analyse(self.text))


def _ends_row(line: str, following: str) -> bool:
    """A short line without a full stop, followed by a capitalised one, is a row of a table
    that lost its markup (PDF text); a long one is prose wrapped mid-sentence."""
    return (
        not line.endswith(_END_PUNCTUATION)
        and len(line.split()) < ROW_WORDS
        and (following[:1].isupper() or following[:1].isdigit())
    )


def units_of(passage: Passage, number: int) -> list[Unit]:
    """The passage's candidate sentences in page order; headings, rules and page notes out."""
    heading = passage.heading.rsplit(" > ", 1)[-1].strip()
    header: list[str] = []
    units: list[Unit] = []

    def add(text: str, kind: str) -> None:
        text = _plain(text)
        if len(text) < 3 or _PAGE_NOTES.match(text) or not re.search(r"\w", text):
            return
        if text.endswith(":"):
            return  # it introduces a list: the items say what it only announces
        if not text.endswith(_END_PUNCTUATION):
            text = text.rstrip(",;–- ") + "."
        units.append(Unit(number, len(units), text, heading, kind))

    paragraph: list[str] = []

    def end_paragraph() -> None:
        for sentence in split_sentences(" ".join(paragraph)):
            add(sentence, "sentence")
        paragraph.clear()

    for raw in passage.text.splitlines():
        line = raw.strip().lstrip(">").strip()
        heading_line = _HEADING.match(line)
        if not line or heading_line or line.startswith("|") or _BULLET.match(line):
            end_paragraph()  # a paragraph's lines may be wrapped: it ends at a blank line
        if not line:
            continue
        if heading_line:
            heading, header = _plain(heading_line.group(1)), []
            continue
        if _TABLE_RULE.match(line):
            continue
        if line.startswith("|"):
            cells = [_plain(c) for c in line.strip("|").split("|")]
            cells = [c for c in cells if c]
            if not header:
                header = cells  # the first row names the columns
            elif cells:
                add(cells[0] + ": " + ", ".join(cells[1:]) if len(cells) > 1 else cells[0], "row")
            continue
        header = []
        if bullet := _BULLET.match(line):
            for sentence in split_sentences(line[bullet.end() :]):
                add(sentence, "item")
            continue
        if paragraph and _ends_row(paragraph[-1], line):
            end_paragraph()
        paragraph.append(line)
    end_paragraph()
    return units


# -- scoring and choosing -----------------------------------------------------------------------


@dataclass(frozen=True)
class Extract:
    """The chosen sentences as answer text (with [n] marks), the passages cited (1-based
    numbers into the passages given) and the language of the sources used."""

    text: str
    cited: tuple[int, ...]
    language: str
    words: int  # the extract's words, without the [n] marks


@lru_cache(maxsize=4096)
def passage_language(text: str) -> str:
    """The language a passage is written in (cached: passages recur across questions)."""
    return detect_language(text[:600])


def _word_scores(question: str, units: Sequence[Unit], passages: Sequence[Passage]) -> list[float]:
    """Shared stems weighted by rarity among the candidates, as a share of the question's: in
    the sentence in full, in its heading, page title or heading path (its context) by half."""
    terms = set(analyse(question))
    if not terms or not units:
        return [0.0] * len(units)
    context = {i: set(analyse(f"{p.title} {p.heading}")) for i, p in enumerate(passages)}
    bags = [
        (set(analyse(u.text)), set(analyse(u.heading)) | context.get(u.passage, set()))
        for u in units
    ]
    n = len(units)
    idf = {t: math.log(1 + n / (1 + sum(t in b or t in h for b, h in bags))) for t in terms}
    total = sum(idf.values()) or 1.0
    return [
        sum(idf[t] if t in body else CONTEXT_SHARE * idf[t] if t in head else 0.0 for t in terms)
        / total
        for body, head in bags
    ]


def _repeats(one: Unit, other: Unit) -> bool:
    """Mostly the same words: national text and its local copy, a summary and its details."""
    a, b = set(analyse(one.text)), set(analyse(other.text))
    return bool(a and b) and len(a & b) / min(len(a), len(b)) >= REPEAT_SHARE


def _embedding_text(unit: Unit) -> str:
    text = f"{unit.heading}: {unit.text}" if unit.needs_heading() else unit.text
    return " ".join(text.split()[:EMBEDDED_WORDS])


def choose(
    question: str,
    language: str,
    passages: Sequence[Passage],
    *,
    embed: EmbedTexts | None = None,
    query: Vectors | None = None,
) -> Extract | None:
    """The extract that answers the question best; None when the passages offer no sentence.

    `embed` embeds texts as queries (the embedder's `embed_queries`) and `query` is the
    question's vector from the same embedder; without them, meaning is left out.
    """
    considered = list(range(min(MAX_PASSAGES, len(passages))))
    languages = {i: passage_language(p.text) for i, p in enumerate(passages)}
    top_cosine = max((p.dense_score for p in passages), default=0.0)
    own = [
        i
        for i, p in enumerate(passages)
        if languages[i] == language and p.dense_score >= top_cosine - PASSAGE_MARGIN
    ]
    considered += [i for i in own if i not in considered]
    units = [u for i in considered for u in units_of(passages[i], i)]
    if not units:
        return None
    kinds = question_types(question, language)
    # in another language than the pages', only a page in that language shares its words: an
    # English page's "costs" about parking must not outweigh the Danish passport prices, so
    # words asking for a type of answer count only for Danish (measured: they help there)
    topic = without_cues(question, language) if language != "da" else question
    words = _word_scores(topic if analyse(topic) else question, units, passages)
    # the passages' order: retrieval's, but by meaning alone for a question in another
    # language than the pages', whose lexical matches can only be pages in its language
    order = considered
    if language != "da":
        order = sorted(considered, key=lambda i: (-passages[i].dense_score, i))
    cheap = [
        WEIGHT_WORDS * w
        + WEIGHT_TYPE * type_match(u.text, kinds)
        + WEIGHT_RANK * (1 - order.index(u.passage) / len(order))
        for u, w in zip(units, words, strict=True)
    ]
    scores = list(cheap)
    # meaning costs an embedding per candidate: spent only when the question's words cannot
    # decide (it shares no rare stem with any candidate: another language, other words)
    if embed is not None and query is not None and max(words) < WORDS_DECIDE:
        ranked = sorted(range(len(units)), key=lambda i: (-cheap[i], i))[:MAX_EMBEDDED]
        vectors = embed([_embedding_text(units[i]) for i in ranked])
        cosines = np.asarray(vectors, dtype=np.float32) @ np.asarray(query, dtype=np.float32)
        closest = float(cosines.max())
        for i, cosine in zip(ranked, cosines, strict=True):
            meaning = max(0.0, 1.0 - (closest - float(cosine)) / MEANING_SPREAD)
            scores[i] += WEIGHT_MEANING * meaning
    best = max(range(len(units)), key=lambda i: (scores[i], -i))
    # a sentence in the question's language is preferred only when it shares a topic word
    # (a price on the English page is no answer to the passport's price)
    preferred = [i for i in range(len(units)) if units[i].passage in own and words[i] > 0]
    if preferred:
        best_own = max(preferred, key=lambda i: (scores[i], -i))
        if scores[best_own] >= scores[best] - SENTENCE_MARGIN:
            best = best_own
    # one language per answer: the best sentence's
    answer_language = languages[units[best].passage]
    pool = [i for i in range(len(units)) if languages[units[i].passage] == answer_language]
    chosen = [best]
    budget = MAX_WORDS - units[best].words
    for i in sorted(pool, key=lambda i: (-scores[i], i)):
        if len(chosen) == MAX_SENTENCES:
            break
        # another passage's sentence must come closer: answers read better from one page
        bar = KEEP_WITHIN - (OTHER_PASSAGE if units[i].passage != units[best].passage else 0.0)
        if i == best or scores[i] < scores[best] - bar or units[i].words > budget:
            continue
        if kinds and not type_match(units[i].text, kinds):
            continue  # a question of a type wants more of its answer, not more of the topic
        if any(_repeats(units[i], units[j]) for j in chosen):
            continue  # the same fact again, from another page or section
        chosen.append(i)
        budget -= units[i].words
    picked = sorted((units[i] for i in chosen), key=lambda u: (u.passage, u.position))
    text, cited = _render(picked)
    return Extract(
        text=text,
        cited=cited,
        language=answer_language,
        words=sum(u.words for u in picked),
    )


def _render(units: Sequence[Unit]) -> tuple[str, tuple[int, ...]]:
    """The sentences in order, a heading before those that need it (once per run), and [n]
    after each run of sentences from one passage."""
    parts: list[str] = []
    cited: list[int] = []
    shown_heading = ""
    for k, unit in enumerate(units):
        if unit.needs_heading() and unit.heading != shown_heading:
            joiner = " – " if ":" in unit.text else ": "
            parts.append(unit.heading + joiner + unit.text)
        else:
            parts.append(unit.text)
        shown_heading = unit.heading if unit.needs_heading() else shown_heading
        last_of_run = k + 1 == len(units) or units[k + 1].passage != unit.passage
        if last_of_run:
            parts[-1] += f" [{unit.passage + 1}]"
            cited.append(unit.passage + 1)
            shown_heading = ""
    return " ".join(parts), tuple(cited)
