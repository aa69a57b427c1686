"""Fitting the evidence gate's weights from labelled questions (muni_crawl.evidence).

One fit serves two callers: `benchmarks/no_evidence.py --calibrate`, which fits the shipped
calibration on the bundled example, and `muni-crawl calibrate`, which refits a deployment's
gate on its own index from its own verdicts (muni_crawl.gate_calibrate). Both need the same
method, so neither keeps a copy of it.

The method: per profile (questions in the pages' language weigh every signal; the others
only the two dense ones, since a Danish index shares no words with them), a class-weighted,
L2-regularised logistic regression on standardised signals; its cut is then moved to z
standard deviations below the mean score of the answerable questions (never above the
lowest of them), a tail estimate steadier on a few dozen questions than the lowest score
alone. z is chosen from TAIL_ZS by cross-validation: the largest share of off-topic
questions refused, out of fold, while at most WRONG_TARGET of the answerable ones were.
The rules before the score (a place named, a cue, the cosine floor) are not fitted: the
caller fits only the cases none of them refuses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from muni_crawl.calibration import GATE_SIGNALS
from muni_crawl.errors import MuniCrawlError
from muni_crawl.evidence import Signals, Weights

ANSWERABLE_WEIGHT = 3.0  # the answerable class weighs this many times the off-topic class
TAIL_ZS = (1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0)  # the cut's candidate z (see above)
FOLDS = 5
WRONG_TARGET = 0.02  # at most this share of answerable questions refused, out of fold
INTENT_SPARE = 0.01  # the intent margin sits this far above any answerable question's
L2 = 1.0  # ridge penalty on the standardised weights
DENSE_SIGNALS = ("similarity", "margin")  # what the `other` profile weighs
PROFILE_SIGNALS = {"danish": GATE_SIGNALS, "other": DENSE_SIGNALS}


class FitError(MuniCrawlError):
    """The labelled questions cannot be fitted (one class missing in a profile)."""


class FitCase(Protocol):
    """A labelled question with its measured signals and its cross-validation fold."""

    @property
    def answerable(self) -> bool: ...

    @property
    def signals(self) -> Signals: ...

    @property
    def fold(self) -> int: ...


def fold_of(key: str, *, skip: int = 1) -> int:
    """A stable fold for a case named `key` (its sha256, after dividing by `skip`, so that a
    caller that holds out by the same digest modulo `skip` gets independent folds)."""
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) // skip % FOLDS


@dataclass(frozen=True)
class ProfileFit:
    """One profile's fitted weights, the z its cut sits at, and the shares out of fold."""

    weights: Weights
    z: float
    off_topic_refused: float  # out of fold
    answerable_refused: float  # out of fold
    off_topic: int  # cases fitted
    answerable: int


def profile_of(signals: Signals) -> str:
    """The profile that scores a question: "danish" (the pages' language) or "other"."""
    return "danish" if signals.lexical else "other"


def by_profile(cases: Sequence[FitCase]) -> dict[str, list[FitCase]]:
    """The cases of each profile, in PROFILE_SIGNALS order."""
    return {name: [c for c in cases if profile_of(c.signals) == name] for name in PROFILE_SIGNALS}


def _logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted, L2-regularised logistic regression by Newton's method; x has a leading
    column of ones (the intercept, not penalised). Returns the coefficients."""
    beta = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], L2)
    penalty[0] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        gradient = x.T @ (weight * (y - p)) - penalty * beta
        hessian = (x * (weight * p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if np.max(np.abs(step)) < 1e-9:
            break
    return beta


def fit_weights(cases: Sequence[FitCase], signals: Sequence[str], tail_z: float) -> Weights:
    """Weights for one profile: logistic regression, then the cut moved `tail_z` standard
    deviations below the answerable questions' mean score (never above the lowest)."""
    answerable = [c for c in cases if c.answerable]
    if not answerable or len(answerable) == len(cases):
        raise FitError("a profile needs answerable and off-topic questions to fit")
    raw = np.array([[c.signals.value(s) for s in signals] for c in cases])
    mean, spread = raw.mean(axis=0), raw.std(axis=0)
    spread[spread == 0] = 1.0
    x = np.hstack([np.ones((len(cases), 1)), (raw - mean) / spread])
    y = np.array([c.answerable for c in cases], dtype=float)
    share = (len(cases) - len(answerable)) / len(answerable)
    weight = np.where(y == 1, ANSWERABLE_WEIGHT * share, 1.0)
    beta = _logistic(x, y, weight)
    slopes = beta[1:] / spread
    bias = float(beta[0] - slopes @ mean)
    scores = bias + raw @ slopes
    kept = scores[y == 1]
    spread_kept = float(kept.std(ddof=1)) if kept.size > 1 else 0.0
    cut = min(float(kept.mean()) - tail_z * spread_kept, float(kept.min()) - 1e-3)
    return Weights(bias - cut, {s: float(w) for s, w in zip(signals, slopes, strict=True)})


def choose_tail(cases: Sequence[FitCase], signals: Sequence[str]) -> tuple[float, float, float]:
    """The z of TAIL_ZS that, fitted on the other folds and tried on each, refuses the most
    off-topic cases while at most WRONG_TARGET of the answerable ones are refused:
    (z, off-topic refused, answerable refused), out of fold. The smallest-risk z (the last)
    where none meets the target. A fold without both classes to fit on is skipped."""
    results = []
    answerable = sum(c.answerable for c in cases)
    for z in TAIL_ZS:
        wrong = caught = 0
        for fold in range(FOLDS):
            train = [c for c in cases if c.fold != fold]
            if not any(c.answerable for c in train) or all(c.answerable for c in train):
                continue
            weights = fit_weights(train, signals, z)
            for case in (c for c in cases if c.fold == fold):
                refused = weights.score(case.signals) < 0
                wrong += refused and case.answerable
                caught += refused and not case.answerable
        results.append((z, caught / (len(cases) - answerable), wrong / answerable))
    met = [r for r in results if r[2] <= WRONG_TARGET]
    return max(met, key=lambda r: (r[1], r[0])) if met else results[-1]


def fit_profile(cases: Sequence[FitCase], profile: str) -> ProfileFit:
    """Fit one profile's weights on its cases (both classes needed: FitError otherwise)."""
    signals = PROFILE_SIGNALS[profile]
    answerable = sum(c.answerable for c in cases)
    if not answerable or answerable == len(cases):
        raise FitError(
            f"the {profile} profile needs answerable and off-topic questions to fit"
            f" (has {answerable} answerable, {len(cases) - answerable} off-topic)"
        )
    z, caught, wrong = choose_tail(cases, signals)
    return ProfileFit(
        fit_weights(cases, signals, z), z, caught, wrong, len(cases) - answerable, answerable
    )


def fit_intent_margin(guards: Sequence[Signals]) -> float | None:
    """The intent rule's margin: INTENT_SPARE above the highest margin of any question the
    pages answer (`guards`); None where none was measured."""
    margins = [s.intent.margin for s in guards if s.intent is not None]
    return round(max(margins) + INTENT_SPARE, 4) if margins else None


def gate_table(
    model: str, profiles: Mapping[str, Mapping[str, float]], intent_margin: float | None
) -> str:
    """The TOML of a model's gate profiles (each as `Weights.as_table` gives it) and intent
    margin, as calibration.toml holds them."""
    lines = []
    if intent_margin is not None:
        lines += [f'["{model}"]', f"intent_margin = {intent_margin}"]
    for profile, table in profiles.items():
        lines.append(f'["{model}".gate.{profile}]')
        lines += [f"{name} = {value:.4f}" for name, value in table.items()]
    return "\n".join(lines)
