"""The evidence gate: decide "no evidence" from several retrieval signals, before any LLM call.

One cosine threshold cannot do it: the packaged model's cosines are compressed (unrelated
passages score about 0.79, relevant ones about 0.92), so a question about football and one
about bulky waste in another town both clear it. The gate reads six signals of one
`Retrieval`, all cheap and explainable:

- similarity  the best passage's dense cosine;
- margin      how far the best cosine stands above the median of the dense candidates (a
              question near everything in the index is near nothing in particular);
- coverage    the share of the question's content words (IDF-weighted stems, compound parts
              included) found in the passages retrieved;
- unknown     the share of the question's content words the tenant's index never uses
              ("Kolding", "fleksjob"): the sources do not talk about them;
- agreement   the share of the dense top five that the lexical top five also holds;
- title       the best cosine between the question and the titles of the pages retrieved,
              both embedded as queries. A page's title says what the page is for ("Storskrald",
              "Pas"), and two short question-like texts compare more sharply in this model
              than a question and a passage do: a question on a topic no page is about (a
              change of surname) finds passages sharing its words, but no page named for it.
              Title vectors are kept (TITLE_CACHE of them, per model), so a title is embedded
              once, not per question.

The lexical signals only mean something for a question in the pages' language: a question in
Danish is scored with the `danish` weights (all six signals), any other with the `other`
weights (which the calibration fits on what is left to it: the dense signals; the title
signal did not separate questions in other languages, so it is measured only where weighed).
The score is a linear sum, `bias + sum(weight * signal)`; below 0 the question is refused.
Besides, a best cosine below the model's `floor` is always refused (MUNI_CRAWL_MIN_EVIDENCE
overrides it).
The weights are fitted per embedding model by benchmarks/no_evidence.py --calibrate and
shipped in calibration.toml; a model without them gets the floor alone.

Three rules come before the score, because what they see no retrieval signal can (a question
about bulky waste in another town finds the tenant's bulky-waste page at a high similarity):

- another place  the question names a place that is not the tenant's and that its sources
                 never mention: another municipality, a country or city abroad
                 (muni_crawl.places; where someone moves from or to does not count);
- a cue          the question is about the citizen's own case ("min sagsbehandler") or is
                 small talk ("fortæl en vittighed"): no page answers either (muni_crawl.cues);
- an intent      the question's meaning is nearer to examples of those two than to any
                 example of a question the pages answer, by the model's `intent_margin`
                 (muni_crawl.intents): the same, in wordings no phrase table holds.

The first two apply to every model (they read the question, not the vectors); `places` must
be given for the first (the tenant's name and the registry's other tenants). The third
applies to a model with an `intent_margin` in calibration.toml.
"""

from __future__ import annotations

import math
import statistics
import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muni_crawl.calibration import GATE_SIGNALS, calibration_for
from muni_crawl.cues import Cue, cues
from muni_crawl.embed import Embedder
from muni_crawl.index import IndexView
from muni_crawl.intents import Intent, nearest_intent
from muni_crawl.lexical import analyse, stem
from muni_crawl.places import TenantPlaces
from muni_crawl.retrieve import Retrieval
from muni_crawl.types import Vectors

SIGNALS = GATE_SIGNALS
AGREEMENT_DEPTH = 5  # the dense and lexical top-N compared by `agreement`
LEXICAL_LANGUAGE = "da"  # the language of the pages: lexical signals count for it only
TITLE_CACHE = 8192  # page-title vectors kept per process (a few MB): each embedded once


@dataclass(frozen=True)
class Signals:
    """What the gate reads from one retrieval; each in [0, 1] but `similarity`, `margin` and
    `title` (cosines and their differences). `title` is None where it was not measured (no
    embedder given): a gate whose weights use it then cannot score the question."""

    similarity: float
    margin: float
    coverage: float
    unknown: float
    agreement: float
    title: float | None
    words: int  # the question's distinct content stems
    found: int  # of which in the passages retrieved
    lexical: bool  # whether the question is in the pages' language (the `danish` weights)
    elsewhere: tuple[str, ...] = ()  # places named that are not the tenant's nor in its sources
    cue: Cue | None = None  # a phrase no source answers: the citizen's own case, small talk
    intent: Intent | None = None  # the nearest intent but information (None: not measured)

    def value(self, name: str) -> float:
        value = getattr(self, name)
        if value is None:
            raise ValueError(
                f"the gate weighs the {name} signal, which was not measured: give measure()"
                " the embedder"
            )
        return float(value)


@dataclass(frozen=True)
class Weights:
    """One linear score: bias + sum(weights[signal] * signal)."""

    bias: float
    weights: Mapping[str, float]

    def score(self, signals: Signals) -> float:
        return self.bias + sum(w * signals.value(name) for name, w in self.weights.items())

    @classmethod
    def from_table(cls, table: Mapping[str, float]) -> Weights:
        """A profile as calibration.toml holds it: `bias` and a weight per signal."""
        return cls(table["bias"], {k: v for k, v in table.items() if k != "bias"})

    def as_table(self) -> dict[str, float]:
        """The profile as calibration.toml holds it (`from_table`'s inverse), bias first."""
        return {"bias": self.bias, **self.weights}


@dataclass(frozen=True)
class Gate:
    """A model's gate: the cosine floor and, where calibrated, the weights per profile and
    the intent margin (a question nearer to an own-case or small-talk example than to any
    information example by at least this much is refused)."""

    floor: float = 0.0
    danish: Weights | None = None
    other: Weights | None = None
    intent_margin: float | None = None

    def weights_for(self, signals: Signals) -> Weights | None:
        return self.profile(signals.lexical)

    def profile(self, lexical: bool) -> Weights | None:
        """The weights of questions in the pages' language (`lexical`) or of the others."""
        return self.danish if lexical else self.other

    def weighs(self, signal: str, *, language: str) -> bool:
        """Whether a question in `language` is scored on `signal` (so it must be measured)."""
        weights = self.profile(language == LEXICAL_LANGUAGE)
        return weights is not None and bool(weights.weights.get(signal))


def gate_for(model_id: str, min_evidence: float | None = None, home: Path | None = None) -> Gate:
    """The gate of an embedding model: shipped, with `home`'s own calibration over it where
    the home has one (`muni-crawl calibrate --write`); `min_evidence` (MUNI_CRAWL_MIN_EVIDENCE)
    replaces its cosine floor. An unmeasured, uncalibrated model gets neither floor nor weights."""
    calibration = calibration_for(model_id, home)
    floor = calibration.evidence_threshold if min_evidence is None else min_evidence

    def weights(profile: str) -> Weights | None:
        raw = calibration.gate.get(profile)
        return None if raw is None else Weights.from_table(raw)

    return Gate(
        floor=0.0 if floor is None else floor,
        danish=weights("danish"),
        other=weights("other"),
        intent_margin=calibration.intent_margin,
    )


@dataclass(frozen=True)
class Verdict:
    """The gate's decision: `passed` or not, the score (None when no weights applied) and a
    reason naming the signals, for the refused answer and the logs."""

    passed: bool
    score: float | None
    signals: Signals
    reason: str


def assess(
    question: str,
    retrieval: Retrieval,
    index: IndexView,
    *,
    language: str,
    gate: Gate,
    embedder: Embedder,
    query: Vectors | None = None,
    places: TenantPlaces | None = None,
) -> Verdict:
    """The gate's verdict on one retrieval (`question` is the text that was searched, `query`
    its vector where the caller has it). The embedder is used where the gate weighs the title
    signal for the question's language, and for the intent where the gate has a margin."""
    signals = measure(
        question,
        retrieval,
        index,
        language=language,
        embedder=embedder,
        query=query,
        places=places,
        titled=gate.weighs("title", language=language),
        intended=gate.intent_margin is not None,
    )
    return decide(signals, gate)


def measure(
    question: str,
    retrieval: Retrieval,
    index: IndexView,
    *,
    language: str,
    embedder: Embedder | None = None,
    query: Vectors | None = None,
    places: TenantPlaces | None = None,
    titled: bool = True,
    intended: bool = True,
) -> Signals:
    """The signals of one retrieval. `index` is the tenant's index the retrieval came from
    (its analyser and document frequencies); `language` the question's detected language;
    `embedder` the retrieval's (the title signal, where `titled`, and the intent, where
    `intended`, are measured only with it; `query` is the question's vector from it,
    embedded here if not given); `places` the tenant's (muni_crawl.places.places_for),
    without which no place is held against the question."""
    tokens = _tokens_of(index)
    frequencies, documents = document_frequencies(index)

    def mentioned(form: tuple[str, ...]) -> bool:
        return all(stem(word) in frequencies for word in form)

    stems = list(dict.fromkeys(tokens(question)))
    idf = {s: _idf(frequencies.get(s, 0), documents) for s in stems}
    total = sum(idf.values())
    retrieved: set[str] = set()
    for passage in retrieval.passages:
        retrieved.update(tokens(passage.search_text()))
    found = [s for s in stems if s in retrieved]
    unknown = [s for s in stems if s not in frequencies]
    dense = [score for _, score in retrieval.dense_hits]
    similarity = dense[0] if dense else retrieval.evidence
    top_dense = {i for i, _ in retrieval.dense_hits[:AGREEMENT_DEPTH]}
    top_lexical = {i for i, _ in retrieval.lexical_hits[:AGREEMENT_DEPTH]}
    if embedder is not None and query is None and (titled or intended):
        query = embedder.embed_queries([question])[0]
    return Signals(
        similarity=similarity,
        margin=similarity - statistics.median(dense) if dense else 0.0,
        coverage=sum(idf[s] for s in found) / total if total else 0.0,
        unknown=sum(idf[s] for s in unknown) / total if total else 1.0,
        agreement=len(top_dense & top_lexical) / AGREEMENT_DEPTH,
        title=(
            title_similarity(question, retrieval, embedder, query)
            if embedder is not None and titled
            else None
        ),
        words=len(stems),
        found=len(found),
        lexical=language == LEXICAL_LANGUAGE,
        elsewhere=places.elsewhere(question, mentioned) if places is not None else (),
        cue=cues().find(question),
        intent=(
            nearest_intent(query, embedder)
            if embedder is not None and query is not None and intended
            else None
        ),
    )


def refusing_rule(signals: Signals, gate: Gate) -> str | None:
    """The rule that refuses a question before any score, in the order they apply: "place",
    "cue", "intent" (what the question asks, whatever it retrieves), then "floor"; None."""
    if signals.elsewhere:
        return "place"
    if signals.cue is not None:
        return "cue"
    margin = gate.intent_margin
    if signals.intent is not None and margin is not None and signals.intent.margin >= margin:
        return "intent"
    if signals.similarity < gate.floor:
        return "floor"
    return None


def decide(signals: Signals, gate: Gate) -> Verdict:
    """Refuse a question about another place, with a cue or an intent no page answers, else
    below the floor, else below a score of 0 where the profile has weights."""
    rule = refusing_rule(signals, gate)
    if rule is not None:
        return Verdict(
            False, None, signals, f"no convincing source ({_rule_reason(rule, signals, gate)})"
        )
    weights = gate.weights_for(signals)
    if weights is None:
        return Verdict(True, None, signals, "no gate weights for this model: floor only")
    score = weights.score(signals)
    verdict = "passed" if score >= 0 else "no convincing source"
    return Verdict(score >= 0, score, signals, f"{verdict} ({_explain(signals, weights, score)})")


def _rule_reason(rule: str, signals: Signals, gate: Gate) -> str:
    """What a refusing rule saw, for the refused answer's reason."""
    if rule == "place":
        return (
            f"the question is about {', '.join(signals.elsewhere)}, which the sources never mention"
        )
    if rule == "cue" and signals.cue is not None:
        return f"{signals.cue.reason}: {signals.cue.phrase!r}"
    if rule == "intent" and signals.intent is not None:
        intent = signals.intent
        return (
            f"{intent.reason}: nearest to {intent.example!r},"
            f" by {intent.margin:.3f} over any question the pages answer"
        )
    return f"best similarity {signals.similarity:.3f} < {gate.floor:.3f}"


def _explain(signals: Signals, weights: Weights, score: float) -> str:
    """'gate score -1.20 < 0: similarity 0.845, margin 0.031, ...; weakest: coverage'."""
    parts = [f"similarity {signals.similarity:.3f}", f"margin {signals.margin:.3f}"]
    if signals.title is not None:
        parts.append(f"best page title {signals.title:.3f}")
    if signals.lexical:
        parts += [
            f"{signals.found} of {signals.words} question words in the passages"
            f" (coverage {signals.coverage:.2f})",
            f"unknown to the sources {signals.unknown:.2f}",
            f"dense/lexical agreement {signals.agreement:.1f}",
        ]
    else:
        parts.append("not in Danish: lexical signals weigh as calibrated for other languages")
    # the signal that pulled the score down most, against a perfect value of that signal
    best = {
        "similarity": 1.0,
        "margin": 0.2,
        "coverage": 1.0,
        "unknown": 0.0,
        "agreement": 1.0,
        "title": 1.0,
    }
    shortfall = {
        name: w * (best[name] - signals.value(name)) for name, w in weights.weights.items() if w
    }
    weakest = max(shortfall, key=lambda name: shortfall[name], default=None)
    sign = ">=" if score >= 0 else "<"
    tail = f"; weakest: {weakest}" if weakest is not None else ""
    return f"gate score {score:.2f} {sign} 0: " + ", ".join(parts) + tail


def title_similarity(
    question: str, retrieval: Retrieval, embedder: Embedder, query: Vectors | None = None
) -> float:
    """The best cosine between the question and the names of the pages retrieved (a page's
    title, else the passage's heading), both embedded as queries; 0 where none has a name."""
    names = list(dict.fromkeys(p.title.strip() or p.heading.strip() for p in retrieval.passages))
    names = [name for name in names if name]
    if not names:
        return 0.0
    if query is None:
        query = embedder.embed_queries([question])[0]
    vectors = _titles.vectors(embedder, names)
    return float(np.max(vectors @ np.asarray(query, dtype=np.float32).reshape(-1)))


class _TitleVectors:
    """Query vectors of page titles by (model, title), the most recently used TITLE_CACHE
    kept; a title is embedded once however many questions retrieve its page."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._vectors: OrderedDict[tuple[str, str], Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, embedder: Embedder, titles: Sequence[str]) -> Vectors:
        model = embedder.model_id
        found: dict[str, Vectors] = {}
        with self._lock:
            for title in titles:
                vector = self._vectors.get((model, title))
                if vector is not None:
                    self._vectors.move_to_end((model, title))
                    found[title] = vector
        missing = [title for title in titles if title not in found]
        if missing:  # embedded outside the lock: other questions carry on meanwhile
            for title, vector in zip(missing, embedder.embed_queries(missing), strict=True):
                found[title] = vector
            with self._lock:
                for title in missing:
                    self._vectors[(model, title)] = found[title]
                while len(self._vectors) > self._size:
                    self._vectors.popitem(last=False)
        return np.stack([found[title] for title in titles])


_titles = _TitleVectors(TITLE_CACHE)


def _idf(frequency: int, documents: int) -> float:
    """BM25's IDF; a stem no passage uses gets the largest value."""
    return math.log(1.0 + (documents - frequency + 0.5) / (frequency + 0.5))


def _tokens_of(index: IndexView) -> Callable[[str], list[str]]:
    """The index's own analyser (compound parts included) where it has one."""
    analyser = getattr(index, "analyser", None)
    method = getattr(analyser, "analyse", None)
    return method if callable(method) else analyse


_frequencies: weakref.WeakKeyDictionary[IndexView, tuple[dict[str, int], int]] = (
    weakref.WeakKeyDictionary()
)
_frequencies_lock = threading.Lock()


def document_frequencies(index: IndexView) -> tuple[dict[str, int], int]:
    """stem -> number of passages using it, and the number of passages; counted once per
    loaded index version (a linear pass over its passages)."""
    with _frequencies_lock:
        known = _frequencies.get(index)
    if known is not None:
        return known
    tokens = _tokens_of(index)
    counts: Counter[str] = Counter()
    for passage in index.passages:
        counts.update(set(tokens(passage.search_text())))
    result = (dict(counts), len(index.passages))
    with _frequencies_lock:
        _frequencies[index] = result
    return result
