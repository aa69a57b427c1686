"""The evidence gate: decide "no evidence" from several retrieval signals, before any LLM call.

One cosine threshold cannot do it: the packaged model's cosines are compressed (unrelated
passages score about 0.79, relevant ones about 0.92), so a question about football and one
about bulky waste in another town both clear it. The gate reads five signals of one
`Retrieval`, all cheap and explainable:

- similarity  the best passage's dense cosine;
- margin      how far the best cosine stands above the median of the dense candidates (a
              question near everything in the index is near nothing in particular);
- coverage    the share of the question's content words (IDF-weighted stems, compound parts
              included) found in the passages retrieved;
- unknown     the share of the question's content words the tenant's index never uses
              ("Kolding", "fleksjob"): the sources do not talk about them;
- agreement   the share of the dense top five that the lexical top five also holds.

The lexical signals only mean something for a question in the pages' language: a question in
Danish is scored with the `danish` weights (all five signals), any other with the `other`
weights (which the calibration fits on what is left to it: the dense signals). The score is
a linear sum, `bias + sum(weight * signal)`; below 0 the question is refused. Besides, a best
cosine below the model's `floor` is always refused (MUNI_CRAWL_MIN_EVIDENCE overrides it).
The weights are fitted per embedding model by benchmarks/no_evidence.py --calibrate and
shipped in calibration.toml; a model without them gets the floor alone.

Two rules come before the score, because what they see no retrieval signal can (a question
about bulky waste in another town finds the tenant's bulky-waste page at a high similarity):

- another place  the question names a place that is not the tenant's and that its sources
                 never mention: another municipality, a country or city abroad
                 (muni_crawl.places; where someone moves from or to does not count);
- a cue          the question is about the citizen's own case ("min sagsbehandler") or is
                 small talk ("fortæl en vittighed"): no page answers either (muni_crawl.cues).

Both apply to every model (they read the question, not the vectors); `places` must be given
for the first (the tenant's name and the registry's other tenants).
"""

from __future__ import annotations

import math
import statistics
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from muni_crawl.calibration import GATE_SIGNALS, calibration_for
from muni_crawl.cues import Cue, cues
from muni_crawl.index import IndexView
from muni_crawl.lexical import analyse, stem
from muni_crawl.places import TenantPlaces
from muni_crawl.retrieve import Retrieval

SIGNALS = GATE_SIGNALS
AGREEMENT_DEPTH = 5  # the dense and lexical top-N compared by `agreement`
LEXICAL_LANGUAGE = "da"  # the language of the pages: lexical signals count for it only


@dataclass(frozen=True)
class Signals:
    """What the gate reads from one retrieval; each in [0, 1] but `similarity` and `margin`
    (cosines and their differences)."""

    similarity: float
    margin: float
    coverage: float
    unknown: float
    agreement: float
    words: int  # the question's distinct content stems
    found: int  # of which in the passages retrieved
    lexical: bool  # whether the question is in the pages' language (the `danish` weights)
    elsewhere: tuple[str, ...] = ()  # places named that are not the tenant's nor in its sources
    cue: Cue | None = None  # a phrase no source answers: the citizen's own case, small talk

    def value(self, name: str) -> float:
        return float(getattr(self, name))


@dataclass(frozen=True)
class Weights:
    """One linear score: bias + sum(weights[signal] * signal)."""

    bias: float
    weights: Mapping[str, float]

    def score(self, signals: Signals) -> float:
        return self.bias + sum(w * signals.value(name) for name, w in self.weights.items())


@dataclass(frozen=True)
class Gate:
    """A model's gate: the cosine floor and, where calibrated, the weights per profile."""

    floor: float = 0.0
    danish: Weights | None = None
    other: Weights | None = None

    def weights_for(self, signals: Signals) -> Weights | None:
        return self.danish if signals.lexical else self.other


def gate_for(model_id: str, min_evidence: float | None = None) -> Gate:
    """The shipped gate of an embedding model; `min_evidence` (MUNI_CRAWL_MIN_EVIDENCE)
    replaces its cosine floor. An unmeasured model gets neither floor nor weights."""
    calibration = calibration_for(model_id)
    floor = calibration.evidence_threshold if min_evidence is None else min_evidence

    def weights(profile: str) -> Weights | None:
        raw = calibration.gate.get(profile)
        if raw is None:
            return None
        return Weights(raw["bias"], {k: v for k, v in raw.items() if k != "bias"})

    return Gate(
        floor=0.0 if floor is None else floor, danish=weights("danish"), other=weights("other")
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
    places: TenantPlaces | None = None,
) -> Verdict:
    """The gate's verdict on one retrieval (`question` is the text that was searched)."""
    return decide(measure(question, retrieval, index, language=language, places=places), gate)


def measure(
    question: str,
    retrieval: Retrieval,
    index: IndexView,
    *,
    language: str,
    places: TenantPlaces | None = None,
) -> Signals:
    """The signals of one retrieval. `index` is the tenant's index the retrieval came from
    (its analyser and document frequencies); `language` the question's detected language;
    `places` the tenant's (muni_crawl.places.places_for), without which no place is held
    against the question."""
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
    return Signals(
        similarity=similarity,
        margin=similarity - statistics.median(dense) if dense else 0.0,
        coverage=sum(idf[s] for s in found) / total if total else 0.0,
        unknown=sum(idf[s] for s in unknown) / total if total else 1.0,
        agreement=len(top_dense & top_lexical) / AGREEMENT_DEPTH,
        words=len(stems),
        found=len(found),
        lexical=language == LEXICAL_LANGUAGE,
        elsewhere=places.elsewhere(question, mentioned) if places is not None else (),
        cue=cues().find(question),
    )


def decide(signals: Signals, gate: Gate) -> Verdict:
    """Refuse a question about another place or with a cue, else below the floor, else below
    a score of 0 where the profile has weights."""
    if signals.elsewhere:
        named = ", ".join(signals.elsewhere)
        reason = f"no convincing source (the question is about {named}, which the sources never"
        return Verdict(False, None, signals, reason + " mention)")
    if signals.cue is not None:
        reason = f"no convincing source ({signals.cue.reason}: {signals.cue.phrase!r})"
        return Verdict(False, None, signals, reason)
    if signals.similarity < gate.floor:
        reason = (
            f"no convincing source (best similarity {signals.similarity:.3f} < {gate.floor:.3f})"
        )
        return Verdict(False, None, signals, reason)
    weights = gate.weights_for(signals)
    if weights is None:
        return Verdict(True, None, signals, "no gate weights for this model: floor only")
    score = weights.score(signals)
    verdict = "passed" if score >= 0 else "no convincing source"
    return Verdict(score >= 0, score, signals, f"{verdict} ({_explain(signals, weights, score)})")


def _explain(signals: Signals, weights: Weights, score: float) -> str:
    """'gate score -1.20 < 0: similarity 0.845, margin 0.031, ...; weakest: coverage'."""
    parts = [f"similarity {signals.similarity:.3f}", f"margin {signals.margin:.3f}"]
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
    best = {"similarity": 1.0, "margin": 0.2, "coverage": 1.0, "unknown": 0.0, "agreement": 1.0}
    shortfall = {
        name: w * (best[name] - signals.value(name)) for name, w in weights.weights.items() if w
    }
    weakest = max(shortfall, key=lambda name: shortfall[name], default=None)
    sign = ">=" if score >= 0 else "<"
    tail = f"; weakest: {weakest}" if weakest is not None else ""
    return f"gate score {score:.2f} {sign} 0: " + ", ".join(parts) + tail


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
