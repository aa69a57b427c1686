"""No-evidence benchmark: the evidence gate refuses what the sources cannot answer, at 0 tokens.

Why: every question that reaches the LLM costs the municipality tokens, even when the LLM then
declines. The gate (muni_crawl/evidence.py) decides "no evidence" before any LLM call from
several retrieval signals. This script measures, on the bundled example:

- the share of off-topic questions refused (benchmarks/off_topic.toml: 230 questions in 12
  languages, each asked of both example tenants); a refusal is made before the composer, so
  it costs 0 tokens (tests/test_evidence_gate.py checks that no request reaches the LLM);
- the same share on a second, held-out set (benchmarks/off_topic_heldout.toml: 124 questions
  written after the gate was first fitted and never used to fit or choose anything): what the
  gate learnt from the first set, tried on questions nobody tuned it for; on a third
  (benchmarks/off_topic_third.toml: 130 questions written by someone who had seen neither the
  gate's rules nor its misses) and a fourth, written the same way and sealed: its misses are
  never listed (SEALED_SETS), so no rule is written from them;
- the share of answerable questions wrongly refused (benchmarks/questions.toml);
- that no answerable question whose words brush against a rule of the gate (a place the
  citizen lived in, "my application" in a how-to question, the weather as a condition;
  benchmarks/near_rules.toml), and none of the answerable personal or chatty questions
  written apart from the rules (benchmarks/near_intent.toml), is refused by a rule; and the
  share of the latter that the gate refuses at all;

overall, for Danish and for other languages, and by kind of off-topic question, "before" (the
single cosine threshold 0.79 shipped until the gate) and "after" (the shipped gate).

Calibration (`--calibrate`): fits the gate's weights for the embedding model in use and
prints them as the TOML to paste into muni_crawl/calibration.toml; the figures printed are
then those of the fitted gate. To limit overfitting, a stable third of the questions (sha256
of the id, modulo 3) is held out of the fit, and the table reports the held-out part apart.
The rules that come before the score (another place named, a cue, the cosine floor) are not
fitted: the weights are fitted on the cases none of them refuses. The fit is a
class-weighted, L2-regularised logistic regression on standardised signals, one per profile
(questions detected as Danish weigh all six signals; others only the two dense ones: a
Danish index has no words in common with them, and the title signal did not separate them in
cross-validation). Its cut is then moved to z standard deviations below the mean score of the
fit part's answerable questions (and never above the lowest of them): a tail estimate,
steadier on a few dozen questions than the lowest score alone. z is chosen per profile from
TAIL_ZS by five-fold cross-validation within the fit part (neither held-out set takes part):
the largest share of off-topic questions refused while at most 2% of the answerable ones
were. The method lives in muni_crawl/gate_fit.py, shared with `muni-crawl calibrate` (which
refits a deployment's gate on its own index and verdicts).

`--curve` prints the trade-off: the share of off-topic questions refused when the cut is
moved so that at most 1%, 2% or 3% of the answerable questions are wrongly refused (chosen
on the cases it is measured on, so an upper bound of what the gate's signals can do here).
`--misses` lists the answerable questions refused and the off-topic ones let through.

Re-run it whenever the analyser, the embedder, the chunker or the example changes: one
command,

    python benchmarks/no_evidence.py --calibrate      # fit, print the TOML and the table
    python benchmarks/no_evidence.py                  # the shipped gate, before and after
    python benchmarks/no_evidence.py --check          # ... exit 1 below a floor
    python benchmarks/no_evidence.py --curve --misses # the trade-off, and every mistake
    python benchmarks/no_evidence.py --home DIR       # a home with the example indexed
                                                      # (its own calibration.toml if any)
    python benchmarks/no_evidence.py --held-out FILE  # another held-out off-topic set
    python benchmarks/no_evidence.py --write-labels F # the fit part, for muni-crawl calibrate

The header line also gives the gate's own cost per question, after retrieval (p50 and p95 of
measuring the signals, title vectors cached as in a running service).

`--rewritten` also measures the same gate on every question (answerable and off-topic) as
typed in a hurry on a phone: lower case, no end punctuation. Never fitted.

`--again` also replays the off-topic questions through a real Answerer whose LLM is a local
OpenAI-compatible server that declines every question ("the sources do not answer it"), in
a copy of the home: the first asking of each question the gate lets through costs tokens;
asked again, in the same words or rewritten as people type on a phone (lower case, no end
punctuation), it should cost none (muni_crawl.unanswerable). Then every answerable question
is asked once more, and none may be refused by what was remembered.

Exit codes: 0 fine, 1 a figure is beyond its floor (with --check), 2 the question files or the
example build are broken.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import tomllib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run or loaded as a file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    BENCH_DIR,
    DEFAULT_CACHE,
    EXAMPLE_TENANTS,
    BenchmarkError,
    built_example,
    format_table,
    today,
)
from benchmarks.retrieval_quality import DEFAULT_QUESTIONS, load_questions
from muni_crawl import Answerer, MuniCrawlError, Settings
from muni_crawl.calibration import home_calibration_file
from muni_crawl.evidence import (
    Gate,
    Signals,
    decide,
    gate_for,
    refusing_rule,
)
from muni_crawl.gate_calibrate import measure_question
from muni_crawl.gate_fit import (
    INTENT_SPARE,
    ProfileFit,
    by_profile,
    fit_intent_margin,
    fit_profile,
    fold_of,
    gate_table,
)
from muni_crawl.prompts import CANNOT_ANSWER
from muni_crawl.retrieve import Library
from tests.fake_openai import start_fake_openai

DEFAULT_OFF_TOPIC = BENCH_DIR / "off_topic.toml"
DEFAULT_HELD_OUT = BENCH_DIR / "off_topic_heldout.toml"  # never fitted: the second set
DEFAULT_THIRD = BENCH_DIR / "off_topic_third.toml"  # never fitted, nor seen by the rules' author
DEFAULT_FOURTH = BENCH_DIR / "off_topic_fourth.toml"  # the same, and sealed until measured once
HELD_SETS = ("second set", "third set", "fourth set")  # the never-fitted sets, in order
# sets whose misses --misses does not list, so that no rule or example is written from them:
# they measure what the gate does on questions nobody has looked at through it
SEALED_SETS = ("fourth set",)
# answerable questions whose words brush against a rule: none may be refused by one
DEFAULT_NEAR_RULES = BENCH_DIR / "near_rules.toml"
# answerable questions, personal or chatty, written apart from the rules: they guard the rules
# too, and what the score refuses of them counts as wrongly refused (reported apart)
DEFAULT_NEAR_INTENT = BENCH_DIR / "near_intent.toml"
OFF_TOPIC_KEYS = ("id", "language", "kind", "question")
KINDS = ("general", "chitchat", "near_miss", "other_town", "national", "uncovered", "personal")
OLD_THRESHOLD = 0.79  # the one cosine threshold shipped before the gate: "before"
HELD_OUT_MODULUS = 3  # sha256(id) % 3 == 0: held out of the fit
RULES = ("place", "cue", "intent")  # what refuses a question for what it asks, whatever it finds
CURVE_SHARES = (0.01, 0.02, 0.03)  # the trade-off printed by --curve

# Floors for --check, with the shipped gate. Measured 2026-12-03 on the first set's 230
# off-topic questions (460 cases) and 149 answerable ones: off-topic refused 84.6% (before: one
# cosine threshold, 18.3%; the five-signal gate before the title signal, 78.9%; before the
# foreign-document cue, 82.0%), answerable wrongly refused 0.7% (1 of 149); held-out third:
# 83.1% and 2.3% (1 of 43). The second set (124 questions, 248 cases, never fitted): 73.8%
# (56.9% with the five-signal gate). The third set (130 questions, 260 cases, written by
# someone who had seen neither the rules nor the misses): 57.7% when first measured, 60.8%
# after rules written from its misses. The fourth (132 questions, 264 cases, written the same
# way, sealed): 51.1%, the same as with the rules before that day; 54.9% once the place rule
# knew Danish towns and villages (a later session, from the kind counts alone). The ceiling is
# the target (at most 2%); each floor sits about 3-4 points below the measured
# share. Re-measure and record here when they move; do not lower a floor to make --check pass.
FLOORS = {
    "off_topic_refused": 0.80,
    "second_set_refused": 0.69,
    "third_set_refused": 0.56,
    "fourth_set_refused": 0.52,
    # near_intent.toml, measured once before it guarded anything: 3 of 63 cases (4.8%), all by
    # the score; the target of 2% is not met on it
    "written_apart_wrongly_refused": 0.09,
    "answerable_wrongly_refused": 0.02,
}


@dataclass(frozen=True)
class Case:
    """One question asked of one tenant, with its retrieval's signals."""

    id: str
    tenant: str
    language: str  # as declared in the question file
    kind: str  # "answerable" or the off-topic kind
    question: str
    signals: Signals
    held_set: str = ""  # the never-fitted off-topic set it is from ("second set"); "": not
    seconds: float = 0.0  # measuring the signals, after retrieval

    @property
    def answerable(self) -> bool:
        return self.kind == "answerable"

    @property
    def held_out(self) -> bool:
        """Held out of the fit: a stable third of the first set, and all of the others."""
        return bool(self.held_set) or _held_out_id(self.id)

    @property
    def fold(self) -> int:
        """The cross-validation fold of a case of the fit part (independent of held_out)."""
        return fold_of(self.id, skip=HELD_OUT_MODULUS)


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


@dataclass(frozen=True)
class Rates:
    off_topic: int
    refused_before: float
    refused_after: float
    answerable: int
    wrong_before: float
    wrong_after: float


@dataclass(frozen=True)
class Asking:
    """One round of --again: how many questions, how many reached the LLM, at what cost,
    and how many the memory of unanswerable questions refused."""

    label: str
    questions: int
    reached_llm: int
    prompt_tokens: int
    remembered: int


@dataclass(frozen=True)
class NoEvidenceResult:
    """Every case, the gate measured and the figures per group (in display order)."""

    cases: list[Case]
    gate: Gate
    groups: dict[str, Rates]
    model: str
    fitted: Fitted | None  # the fit, with --calibrate; None: the shipped gate
    again: list[Asking] | None = None  # with --again
    near_rules: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    # near_intent.toml's cases: (id, tenant, question, what refused it: a rule, "floor",
    # "score", or None)
    near_intent: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    rewritten: dict[str, Rates] | None = None  # with --rewritten: the same gate, typed forms
    own_calibration: bool = False  # the --home's own calibration.toml was measured

    @property
    def overall(self) -> Rates:
        return self.groups["all"]


# -- questions --------------------------------------------------------------------------------


def load_off_topic(path: Path) -> list[dict[str, str]]:
    """Read and check the off-topic file: every key present, ids unique, kinds known."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BenchmarkError(f"cannot read {path}: {exc}") from exc
    raw = data.get("question")
    if not isinstance(raw, list) or not raw:
        raise BenchmarkError(f"{path}: no [[question]] tables")
    seen: set[str] = set()
    for number, entry in enumerate(raw, start=1):
        missing = [key for key in OFF_TOPIC_KEYS if key not in entry]
        if missing:
            raise BenchmarkError(f"{path}: question {number} lacks {', '.join(missing)}")
        if entry["kind"] not in KINDS:
            raise BenchmarkError(f"{path}: {entry['id']}: unknown kind {entry['kind']!r}")
        if entry["id"] in seen:
            raise BenchmarkError(f"{path}: duplicate id {entry['id']!r}")
        seen.add(entry["id"])
    return [{key: str(entry[key]) for key in OFF_TOPIC_KEYS} for entry in raw]


def collect(
    library: Library,
    off_topic: list[dict[str, str]],
    answerable_file: Path,
    held: Sequence[tuple[str, Sequence[dict[str, str]]]] = (),
    *,
    rewrite: bool = False,
) -> list[Case]:
    """Retrieve for every question exactly as the Answerer does and measure the signals
    (every signal, whatever the shipped gate weighs, so that --calibrate can fit them);
    `held` names the never-fitted sets and their questions; with `rewrite`, every question
    as typed in a hurry (`rewritten`)."""
    asked = [
        (q.id, q.tenant, q.language, "answerable", q.question, "")
        for q in load_questions(answerable_file)
    ]
    asked += [
        (q["id"], tenant, q["language"], q["kind"], q["question"], held_set)
        for held_set, questions in (("", off_topic), *held)
        for q in questions
        for tenant in EXAMPLE_TENANTS
    ]
    cases = []
    for id_, tenant, language, kind, question, held_set in asked:
        if rewrite:
            question = rewritten(question)
        signals, seconds = measure_question(library, tenant, question)
        cases.append(Case(id_, tenant, language, kind, question, signals, held_set, seconds))
    return cases


# -- fitting (the method is muni_crawl.gate_fit's, shared with `muni-crawl calibrate`) -------


def refusing_step(signals: Signals, gate: Gate) -> str | None:
    """What refuses a case: a rule, the floor, "score", or None where the gate passes it."""
    step = refusing_rule(signals, gate)
    if step is None and not decide(signals, gate).passed:
        step = "score"
    return step


def question_rule(signals: Signals, gate: Gate) -> str | None:
    """The rule that refuses a case for what the question asks, whatever it retrieves:
    "place", "cue" or "intent" (the rules near_rules.toml guards against)."""
    rule = refusing_rule(signals, gate)
    return rule if rule in RULES else None


@dataclass(frozen=True)
class Fitted:
    """A fitted gate, and each profile's fit (the z of its cut, its cross-validated shares)."""

    gate: Gate
    profiles: dict[str, ProfileFit]


def calibrate(cases: Sequence[Case], floor: float, near: Sequence[Signals] = ()) -> Fitted:
    """A gate fitted on the cases that are not held out and that the floor, a named place or
    a cue does not refuse (those need no weights). The intent margin is set on its own,
    above every answerable case and every near-rule question (`near`); the score is fitted
    as if it were not there, so that adding or moving intent examples never refits the
    weights."""
    margin = fit_intent_margin([*(c.signals for c in cases if c.answerable), *near])
    fit = [c for c in cases if not c.held_out and refusing_rule(c.signals, Gate(floor)) is None]
    profiles = {name: fit_profile(group, name) for name, group in by_profile(fit).items()}
    gate = Gate(
        floor,
        danish=profiles["danish"].weights,
        other=profiles["other"].weights,
        intent_margin=margin,
    )
    return Fitted(gate, profiles)


def toml_snippet(model: str, fitted: Fitted, cases: Sequence[Case]) -> str:
    """The [<model>.gate.*] tables to paste into muni_crawl/calibration.toml."""
    gate = fitted.gate
    used = sum(not c.held_out and refusing_rule(c.signals, Gate(gate.floor)) is None for c in cases)
    first = sum(not c.held_set for c in cases)
    lines = [
        f"# gate fitted {today()} by benchmarks/no_evidence.py --calibrate on {used} of"
        f" {first} cases (a third held out; what a rule refuses needs no weights)",
        *(
            f"# {name}: cut {fit.z} sd below the answerable mean (five-fold, out of fold:"
            f" off-topic refused {fit.off_topic_refused:.1%}, answerable"
            f" {fit.answerable_refused:.1%})"
            for name, fit in fitted.profiles.items()
        ),
    ]
    if gate.intent_margin is not None:
        lines.append(
            f"# intent_margin: {INTENT_SPARE} above the highest answerable or near-rule question's"
        )
    profiles = {name: fit.weights.as_table() for name, fit in fitted.profiles.items()}
    lines.append(gate_table(model, profiles, gate.intent_margin))
    return "\n".join(lines)


# -- measuring --------------------------------------------------------------------------------


def rates(cases: Sequence[Case], after: Gate) -> Rates:
    """Refused shares "before" (the one old cosine threshold, no rules) and "after"."""

    def refused(group: list[Case], gate: Gate | None) -> float:
        if not group:
            return 0.0
        if gate is None:
            return sum(c.signals.similarity < OLD_THRESHOLD for c in group) / len(group)
        return sum(not decide(c.signals, gate).passed for c in group) / len(group)

    off = [c for c in cases if not c.answerable]
    on = [c for c in cases if c.answerable]
    return Rates(
        off_topic=len(off),
        refused_before=refused(off, None),
        refused_after=refused(off, after),
        answerable=len(on),
        wrong_before=refused(on, None),
        wrong_after=refused(on, after),
    )


def group_rates(cases: Sequence[Case], gate: Gate) -> dict[str, Rates]:
    """Figures for the first set and the answerable ones, by language group and by held-out
    part; each never-fitted set's off-topic figures (beside all answerable ones); then by
    kind, every off-topic set together."""
    first = [c for c in cases if not c.held_set]
    selections: list[tuple[str, Callable[[Case], bool]]] = [
        ("all", lambda c: True),
        ("da", lambda c: c.language == "da"),
        ("other languages", lambda c: c.language != "da"),
        ("held out", lambda c: c.held_out),
        ("held out, da", lambda c: c.held_out and c.language == "da"),
        ("held out, other", lambda c: c.held_out and c.language != "da"),
    ]
    groups = {name: rates([c for c in first if keep(c)], gate) for name, keep in selections}
    for held_set in dict.fromkeys(c.held_set for c in cases if c.held_set):
        held = [c for c in cases if c.held_set == held_set or c.answerable]
        for name, keep in selections[:3]:
            label = held_set + ("" if name == "all" else f", {name}")
            groups[label] = rates([c for c in held if keep(c)], gate)
    for kind in KINDS:
        groups[f"kind {kind}"] = rates([c for c in cases if c.kind == kind], gate)
    return groups


def run(
    home: Path | None = None,
    cache: Path = DEFAULT_CACHE,
    *,
    fit: bool = False,
    off_topic_file: Path = DEFAULT_OFF_TOPIC,
    answerable_file: Path = DEFAULT_QUESTIONS,
    held_out_files: Sequence[Path] = (DEFAULT_HELD_OUT, DEFAULT_THIRD, DEFAULT_FOURTH),
    again: bool = False,
    rewrite: bool = False,
    near_rules_file: Path | None = DEFAULT_NEAR_RULES,
    near_intent_file: Path | None = DEFAULT_NEAR_INTENT,
) -> NoEvidenceResult:
    """Measure the shipped gate (or, with `fit`, a freshly fitted one) against the single old
    threshold, in `home` or in a temporary home where the example is built first; the
    off-topic questions of `held_out_files` are measured too, never fitted (the second set,
    the third set: at most len(HELD_SETS)). With `again`, the
    off-topic questions are also replayed through an Answerer (ask_again); with `rewrite`,
    the gate is also measured on every question as typed in a hurry (never fitted). The
    questions of `near_rules_file` and `near_intent_file` guard the rules (and the intent
    margin, with `fit`); what the gate refuses of the latter's is reported apart."""
    off_topic = load_off_topic(off_topic_file)
    if len(held_out_files) > len(HELD_SETS):
        raise BenchmarkError(f"at most {len(HELD_SETS)} held-out sets, not {len(held_out_files)}")
    held = [
        (name, load_off_topic(path)) for name, path in zip(HELD_SETS, held_out_files, strict=False)
    ]
    seen = {q["id"]: off_topic_file for q in off_topic}
    for path, (_name, questions) in zip(held_out_files, held, strict=True):
        clash = sorted(q["id"] for q in questions if q["id"] in seen)
        if clash:
            raise BenchmarkError(f"{path}: ids also in {seen[clash[0]]}: {clash}")
        seen.update((q["id"], path) for q in questions)
    all_off_topic = [q for _name, questions in (("", off_topic), *held) for q in questions]
    replayed = None
    typed: list[Case] = []
    near = load_near_rules(near_rules_file) if near_rules_file is not None else []
    apart = load_near_rules(near_intent_file) if near_intent_file is not None else []
    with built_example(home, cache) as settings:
        library = Library(settings)
        cases = collect(library, off_topic, answerable_file, held)
        measured_near = near_signals(library, near)
        measured_apart = near_signals(library, apart)
        model = library.index(EXAMPLE_TENANTS[0]).manifest.model_id
        if rewrite:
            typed = collect(library, off_topic, answerable_file, held, rewrite=True)
        if again:
            asked = [(t, q["question"]) for q in all_off_topic for t in EXAMPLE_TENANTS]
            answerable = [(q.tenant, q.question) for q in load_questions(answerable_file)]
            replayed = ask_again(settings, cache, asked, answerable)
        # a --home with its own calibration.toml (`muni-crawl calibrate --write`) is measured
        # with it, as its answers are
        own = home_calibration_file(settings.home).exists()
        shipped = gate_for(model, home=settings.home)
    near_guards = [signals for *_named, signals in (*measured_near, *measured_apart)]
    fitted = calibrate(cases, shipped.floor, near_guards) if fit else None
    gate = fitted.gate if fitted is not None else shipped
    rewritten_rates = group_rates(typed, gate) if typed else None
    return NoEvidenceResult(
        cases,
        gate,
        group_rates(cases, gate),
        model,
        fitted,
        again=replayed,
        rewritten=rewritten_rates,
        near_rules=refused_near(measured_near, gate),
        near_intent=[
            (i, t, q, refusing_step(signals, gate)) for i, t, q, signals in measured_apart
        ],
        own_calibration=own,
    )


def load_near_rules(path: Path) -> list[dict[str, str]]:
    """Read and check near_rules.toml (or near_intent.toml): id, language, rule and question
    in every entry, and optionally the example tenant whose site answers it (`tenant`;
    without one the question is asked of both)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8")).get("question")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BenchmarkError(f"cannot read {path}: {exc}") from exc
    keys = ("id", "language", "rule", "question")
    if not isinstance(raw, list) or not raw:
        raise BenchmarkError(f"{path}: no [[question]] tables")
    for number, entry in enumerate(raw, start=1):
        missing = [key for key in keys if key not in entry]
        if missing:
            raise BenchmarkError(f"{path}: question {number} lacks {', '.join(missing)}")
        if "tenant" in entry and entry["tenant"] not in EXAMPLE_TENANTS:
            raise BenchmarkError(
                f"{path}: {entry['id']}: tenant {entry['tenant']!r} is not one of"
                f" {', '.join(EXAMPLE_TENANTS)}"
            )
    return [{key: str(entry[key]) for key in (*keys, "tenant") if key in entry} for entry in raw]


def near_signals(
    library: Library, questions: Sequence[dict[str, str]]
) -> list[tuple[str, str, str, Signals]]:
    """Each near-rule question asked of each example tenant: (id, tenant, question, its
    signals), measured as the Answerer measures."""
    return [
        (q["id"], tenant, q["question"], measure_question(library, tenant, q["question"])[0])
        for q in questions
        for tenant in ((q["tenant"],) if "tenant" in q else EXAMPLE_TENANTS)
    ]


def rule_refusals(
    library: Library, questions: Sequence[dict[str, str]], gate: Gate | None = None
) -> list[tuple[str, str, str, str | None]]:
    """Each near-rule question asked of each example tenant: (id, tenant, question, the rule
    that refused it: "place", "cue", "intent" or None) under `gate` (the shipped one if
    None)."""
    measured_near = near_signals(library, questions)
    if gate is None:
        gate = gate_for(library.index(EXAMPLE_TENANTS[0]).manifest.model_id)
    return refused_near(measured_near, gate)


def refused_near(
    measured_near: Sequence[tuple[str, str, str, Signals]], gate: Gate
) -> list[tuple[str, str, str, str | None]]:
    """The rule that refuses each measured near-rule case under `gate`, or None."""
    return [(i, t, q, question_rule(signals, gate)) for i, t, q, signals in measured_near]


def rewritten(question: str) -> str:
    """The question as typed in a hurry on a phone: lower case, no end punctuation."""
    return question.lower().rstrip("?!.。؟ ")


def ask_again(
    settings: Settings,
    cache: Path,
    off_topic: Sequence[tuple[str, str]],
    answerable: Sequence[tuple[str, str]],
) -> list[Asking]:
    """Replay (tenant, question) pairs through an Answerer, in a copy of the home, with a
    local LLM that declines every question: asked once, again in the same words, again
    rewritten; then the answerable questions, answered by the LLM, none of which may be
    refused by what the first rounds remembered."""
    fake = start_fake_openai()
    saved = {name: os.environ.get(name) for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    os.environ.update(OPENAI_BASE_URL=fake.url, OPENAI_API_KEY="bench")
    try:
        with tempfile.TemporaryDirectory(prefix="muni-crawl-again-") as folder:
            copy = Path(folder) / "home"
            shutil.copytree(settings.home, copy)
            answerer = Answerer(
                home=Settings.load(copy, embedding_cache=cache, llm_model="gpt-4o-mini")
            )

            def asking(label: str, pairs: Sequence[tuple[str, str]], reply: str) -> Asking:
                reached = tokens = remembered = 0
                for tenant, question in pairs:
                    before = len(fake.chat_requests)
                    fake.enqueue(reply, completion_tokens=8)
                    fake.enqueue(reply, completion_tokens=8)  # a retry for the language
                    answer = answerer.answer(tenant, question)
                    fake.replies.clear()
                    reached += len(fake.chat_requests) > before
                    tokens += answer.usage.prompt_tokens
                    remembered += "found a close question" in (answer.reason or "")
                return Asking(label, len(pairs), reached, tokens, remembered)

            rounds = [
                asking("off-topic, first asking", off_topic, CANNOT_ANSWER),
                asking("off-topic, same words again", off_topic, CANNOT_ANSWER),
                asking(
                    "off-topic, rewritten",
                    [(t, rewritten(q)) for t, q in off_topic],
                    CANNOT_ANSWER,
                ),
                asking("answerable, afterwards", answerable, "Svaret står i kilden [1]."),
            ]
            answerer.close()
            return rounds
    finally:
        fake.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def again_table(rounds: Sequence[Asking]) -> str:
    header = ("round", "questions", "reached the LLM", "prompt tokens", "refused as known")
    rows = [
        [r.label, f"{r.questions}", f"{r.reached_llm}", f"{r.prompt_tokens:,}", f"{r.remembered}"]
        for r in rounds
    ]
    return format_table(header, rows, rule=True)


# -- reporting --------------------------------------------------------------------------------


def table(groups: dict[str, Rates]) -> str:
    header = (
        "group",
        "off-topic",
        "refused before",
        "after",
        "answerable",
        "wrongly before",
        "after",
    )
    rows = [
        [
            name,
            f"{r.off_topic}",
            f"{r.refused_before:.1%}",
            f"{r.refused_after:.1%}",
            *(
                (f"{r.answerable}", f"{r.wrong_before:.1%}", f"{r.wrong_after:.1%}")
                if r.answerable
                else ("", "", "")
            ),
        ]
        for name, r in groups.items()
    ]
    return format_table(header, rows, rule=True)


def kinds_by_set(result: NoEvidenceResult) -> str:
    """The share of each kind of off-topic question refused, per set: counts only, so a
    sealed set's cases stay unseen."""
    sets = list(dict.fromkeys(c.held_set for c in result.cases if not c.answerable))
    header = ("kind refused", *(held_set or "first set" for held_set in sets))
    rows = []
    for kind in KINDS:
        row = [kind]
        for held_set in sets:
            cases = [c for c in result.cases if c.kind == kind and c.held_set == held_set]
            shares = rates(cases, result.gate)
            row.append(f"{shares.refused_after:.0%} of {shares.off_topic}" if cases else "")
        rows.append(row)
    return format_table(header, rows, rule=True)


def misses(result: NoEvidenceResult) -> str:
    """The answerable questions refused, and the off-topic ones let through, by name."""
    lines = []
    for case in result.cases:
        verdict = decide(case.signals, result.gate)
        if case.answerable and not verdict.passed:
            lines.append(f"  wrongly refused  {case.id} [{case.language}]: {case.question}")
    passed = [c for c in result.cases if not c.answerable and decide(c.signals, result.gate).passed]
    sealed = [c for c in passed if c.held_set in SEALED_SETS]
    lines.append(f"  off-topic let through: {len(passed)}")
    if sealed:
        lines.append(
            f"    ({len(sealed)} of the {', '.join(SEALED_SETS)} not listed: sealed, so that no"
            " rule is written from them)"
        )
    for case in (c for c in passed if c.held_set not in SEALED_SETS):
        where = case.held_set.split()[0] if case.held_set else "first"
        lines.append(
            f"    {where:6s} {case.kind:10s} {case.tenant:8s} [{case.language}] {case.question}"
        )
    return "\n".join(lines)


def refusals(result: NoEvidenceResult, held_set: str = "") -> str:
    """What refused the off-topic cases of one set (the first, or a never-fitted one) and the
    answerable cases: a rule or the score."""
    counts = {step: [0, 0] for step in ("place", "cue", "intent", "floor", "score")}
    for case in result.cases:
        if case.held_set != held_set and not case.answerable:
            continue
        step = refusing_step(case.signals, result.gate)
        if step is not None:
            counts[step][case.answerable] += 1
    parts = [f"{step} {off}/{on}" for step, (off, on) in counts.items()]
    which = f"the {held_set or 'first set'}"
    return f"refused by (off-topic of {which}/answerable): " + ", ".join(parts)


def gate_cost(result: NoEvidenceResult) -> str:
    """The signals' cost per question after retrieval, p50 and p95 (title vectors cached as
    a running service has them: the first question naming a page embeds its title)."""
    times = sorted(c.seconds for c in result.cases)
    if not times:
        return "gate cost: no questions"
    p50, p95 = times[len(times) // 2], times[min(len(times) - 1, int(0.95 * len(times)))]
    return f"gate cost after retrieval: p50 {p50 * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms"


def curve(
    cases: Sequence[Case], gate: Gate, shares: Sequence[float] = CURVE_SHARES
) -> list[tuple[float, float | None, float, float]]:
    """The trade-off: for each share of answerable questions that may be wrongly refused, the
    cut on the score moved (both profiles by the same amount) as far as that share allows;
    (share, cut shift, wrongly refused, off-topic refused). In-sample: the cut is chosen on
    the very cases it is measured on, so it is the best this gate's signals can do here."""
    scored: list[tuple[Case, float | None]] = []  # None: refused by a rule, whatever the cut
    for case in (c for c in cases if not c.held_set):  # the first set and the answerable
        score = decide(case.signals, gate).score  # None without weights: always passed
        ruled = refusing_rule(case.signals, gate) is not None
        scored.append((case, None if ruled else math.inf if score is None else score))
    answerable = [s for c, s in scored if c.answerable]
    off = [s for c, s in scored if not c.answerable]
    ruled_out = answerable.count(None)
    ranked = sorted(s for s in answerable if s is not None)
    rows: list[tuple[float, float | None, float, float]] = []
    for share in shares:
        spare = int(share * len(answerable) + 1e-9) - ruled_out
        if spare < 0:  # the rules alone refuse more answerable questions than allowed
            rows.append((share, None, ruled_out / len(answerable), float("nan")))
            continue
        cut = ranked[spare] if spare < len(ranked) else math.inf
        wrong = sum(s is None or s < cut for s in answerable) / len(answerable)
        caught = sum(s is None or s < cut for s in off) / len(off)
        rows.append((share, cut, wrong, caught))
    return rows


def curve_table(result: NoEvidenceResult) -> str:
    rows = [
        [
            f"{share:.0%}",
            "-" if cut is None else f"{cut:+.2f}",
            f"{wrong:.1%}",
            "-" if caught != caught else f"{caught:.1%}",
        ]
        for share, cut, wrong, caught in curve(result.cases, result.gate)
    ]
    header = ("wrongly refused at most", "score cut", "wrongly refused", "off-topic refused")
    return format_table(header, rows, rule=True)


def floor_failures(result: NoEvidenceResult) -> list[str]:
    overall = result.overall
    failures = []
    if overall.refused_after < FLOORS["off_topic_refused"]:
        failures.append(
            f"off-topic refused {overall.refused_after:.1%} is below its floor"
            f" {FLOORS['off_topic_refused']:.0%}"
        )
    for held_set in HELD_SETS:
        held = result.groups.get(held_set)
        floor = FLOORS[held_set.replace(" ", "_") + "_refused"]
        if held is not None and held.refused_after < floor:
            failures.append(
                f"{held_set} off-topic refused {held.refused_after:.1%} is below its floor"
                f" {floor:.0%}"
            )
    refused = [
        f"{id_} ({tenant}, {rule})"
        for id_, tenant, _q, rule in (*result.near_rules, *result.near_intent)
        if rule in RULES
    ]
    if refused:
        failures.append(
            "answerable questions near a rule refused by it (near_rules.toml, near_intent.toml): "
            + ", ".join(refused)
        )
    apart = result.near_intent
    wrong_apart = sum(step is not None for *_named, step in apart) / len(apart) if apart else 0.0
    if wrong_apart > FLOORS["written_apart_wrongly_refused"]:
        failures.append(
            f"answerable questions written apart (near_intent.toml) wrongly refused"
            f" {wrong_apart:.1%} is above its ceiling {FLOORS['written_apart_wrongly_refused']:.0%}"
        )
    if overall.wrong_after > FLOORS["answerable_wrongly_refused"]:
        failures.append(
            f"answerable wrongly refused {overall.wrong_after:.1%} is above its ceiling"
            f" {FLOORS['answerable_wrongly_refused']:.0%}"
        )
    return failures


def report(result: NoEvidenceResult) -> str:
    """What `python benchmarks/no_evidence.py` prints."""
    which = (
        "a gate fitted now"
        if result.fitted
        else "the home's own gate (calibration.toml)"
        if result.own_calibration
        else "the shipped gate"
    )
    lines = [
        f"no-evidence benchmark: {today()}, model {result.model}; before = one cosine"
        f" threshold {OLD_THRESHOLD}, after = {which} (floor {result.gate.floor:.3f});"
        " a third of the first set held out of the fit, the second to fourth sets never fitted",
        table(result.groups),
        kinds_by_set(result),
        refusals(result),
    ]
    for held_set in dict.fromkeys(c.held_set for c in result.cases if c.held_set):
        lines.append(refusals(result, held_set))
    if result.near_rules:
        refused = [r for r in result.near_rules if r[3]]
        lines.append(
            f"answerable questions near a rule (near_rules.toml): {len(refused)} of"
            f" {len(result.near_rules)} cases refused by a rule"
            + "".join(
                f"\n  refused by the {rule} rule: {q} ({tenant})" for _i, tenant, q, rule in refused
            )
        )
    if result.near_intent:
        refused = [r for r in result.near_intent if r[3]]
        steps = Counter(step for *_named, step in refused)
        lines.append(
            f"answerable questions written apart (near_intent.toml): {len(refused)} of"
            f" {len(result.near_intent)} cases wrongly refused"
            + (" (" + ", ".join(f"{k} {n}" for k, n in steps.items()) + ")" if steps else "")
        )
    lines.append(gate_cost(result))
    return "\n".join(lines)


def held_out_files(given: list[Path] | None) -> list[Path]:
    """The never-fitted sets named with --held-out: the default two when none is named, none
    for ''."""
    if given is None:
        return [DEFAULT_HELD_OUT, DEFAULT_THIRD, DEFAULT_FOURTH]
    return [path for path in given if str(path) not in ("", ".")]


def write_labels(path: Path, answerable_file: Path, off_topic_file: Path) -> int:
    """The first set's fit part (its held-out third left out, as --calibrate leaves it) as a
    labels file for `muni-crawl calibrate --questions`: a deployment-style refit that the
    held-out third and the other sets then measure out of sample. Returns the count."""
    answerable = [q for q in load_questions(answerable_file) if not _held_out_id(q.id)]
    off_topic = [q for q in load_off_topic(off_topic_file) if not _held_out_id(q["id"])]
    entries = [
        f"[[question]]\ntenant = {json.dumps(q.tenant)}\n"
        f"question = {json.dumps(q.question, ensure_ascii=False)}\nanswerable = true\n"
        for q in answerable
    ] + [
        f"[[question]]\nquestion = {json.dumps(q['question'], ensure_ascii=False)}\n"
        "answerable = false\n"
        for q in off_topic
    ]
    header = (
        f"# the fit part of {answerable_file.name} and {off_topic_file.name}, written by"
        " benchmarks/no_evidence.py --write-labels\n\n"
    )
    path.write_text(header + "\n".join(entries), encoding="utf-8")
    return len(entries)


def _held_out_id(id_: str) -> bool:
    return _digest(id_) % HELD_OUT_MODULUS == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a home with the example already indexed")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--off-topic", type=Path, default=DEFAULT_OFF_TOPIC)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument(
        "--held-out",
        type=Path,
        action="append",
        help="an off-topic set reported apart and never fitted, once per set (at most"
        f" {len(HELD_SETS)}; default: the second, third and fourth sets; '' for none)",
    )
    parser.add_argument("--calibrate", action="store_true", help="fit the gate, print its TOML")
    parser.add_argument("--misses", action="store_true", help="list the gate's mistakes")
    parser.add_argument("--check", action="store_true", help="exit 1 beyond a floor")
    parser.add_argument("--curve", action="store_true", help="the refused/wrongly refused curve")
    parser.add_argument(
        "--rewritten",
        action="store_true",
        help="also measure the gate on every question typed in lower case without end punctuation",
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="replay the off-topic questions through an Answerer with a declining LLM",
    )
    parser.add_argument(
        "--write-labels",
        type=Path,
        metavar="FILE",
        help="write the first set's fit part as a `muni-crawl calibrate --questions` file; stop",
    )
    args = parser.parse_args(argv)
    if args.write_labels is not None:
        try:
            count = write_labels(args.write_labels, args.questions, args.off_topic)
        except (BenchmarkError, OSError) as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {count} labelled questions to {args.write_labels}")
        return 0
    try:
        result = run(
            args.home,
            args.cache,
            fit=args.calibrate,
            off_topic_file=args.off_topic,
            answerable_file=args.questions,
            held_out_files=held_out_files(args.held_out),
            again=args.again,
            rewrite=args.rewritten,
        )
    except (BenchmarkError, MuniCrawlError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    if result.fitted is not None:
        print(toml_snippet(result.model, result.fitted, result.cases) + "\n")
    print(report(result))
    if result.rewritten is not None:
        print("\nthe same gate, every question typed in lower case without end punctuation\n")
        print(table(result.rewritten))
    if result.again is not None:
        print("\nasked again (a local LLM that declines every question; muni_crawl.unanswerable)\n")
        print(again_table(result.again))
    if args.curve:
        print("\nthe trade-off (in-sample: the cut chosen on the cases measured)\n")
        print(curve_table(result))
    if args.misses:
        print("\n" + misses(result))
    if args.check:
        failures = floor_failures(result)
        if failures:
            print("\nBeyond the floor:\n  " + "\n  ".join(failures), file=sys.stderr)
            return 1
        print("\nAll figures are within their floors.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
