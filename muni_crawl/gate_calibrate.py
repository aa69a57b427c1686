"""Refitting the evidence gate on a deployment's own index and verdicts (`muni-crawl calibrate`).

Why: the shipped gate weights (calibration.toml) were fitted on the bundled example, a few
dozen pages. A municipality's index of thousands of pages moves the cosines and margins the
gate reads, and a deployment with another embedding model has no gate weights at all (every
question then reaches the LLM). A running deployment labels questions as it works:

- answerable: generated answers the review team approved (`muni-crawl review approve`);
- not answerable: questions the LLM found the passages do not answer (its "cannot answer"
  reply) and answers a reviewer rejected as outside the sources (`review reject --outside`);
- and any labelled questions file the team writes (`--questions`, format in load_labelled).

Each labelled question is retrieved again from the current index exactly as the Answerer
retrieves it, its signals measured, and each profile's weights fitted (muni_crawl.gate_fit)
where it has at least `min_cases` questions of each label that no rule refuses. A profile is
written only where its cross-validated share of answerable questions refused stays within
gate_fit.WRONG_TARGET and it does better than the gate in use on the same questions (which
that gate was not fitted on): the refit refuses more off-topic ones out of fold, or the
gate in use refuses more answerable ones than WRONG_TARGET, beyond chance. The home's
calibration.toml then holds the new weights, which replace the shipped ones for this model
from the next answer on (muni_crawl.calibration).
The cosine floor and the intent margin are left as they are: they guard answerable
questions that a deployment's labels may never have covered.
"""

from __future__ import annotations

import math
import os
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from muni_crawl.calibration import (
    CALIBRATION_FILE,
    COSINE_KEYS,
    Calibration,
    check_home_calibration,
    home_calibration_file,
    home_calibrations,
    parse_calibrations,
)
from muni_crawl.errors import ConfigError, InvalidQuestionError
from muni_crawl.evidence import Gate, Signals, Weights, decide, gate_for, measure, refusing_rule
from muni_crawl.gate_fit import (
    WRONG_TARGET,
    FitCase,
    ProfileFit,
    by_profile,
    fit_profile,
    fold_of,
    gate_table,
)
from muni_crawl.home import Home
from muni_crawl.index import current_version
from muni_crawl.language import detect_language
from muni_crawl.places import places_for
from muni_crawl.question import validate_question
from muni_crawl.redact import redact
from muni_crawl.retrieve import Library

MIN_CASES = 20  # of each label per profile, by default, before a profile is fitted
SIGNIFICANCE = 0.05  # how sure the labels must make us that the gate in use refuses too much
LABELS = ("approved", "llm", "reviewer", "file")  # where a label came from
_FILE_KEYS = {"tenant", "question", "answerable"}


@dataclass(frozen=True)
class LabelledQuestion:
    """A question of one tenant, whether the sources answer it, and who said so (LABELS)."""

    tenant: str
    question: str
    answerable: bool
    label: str


@dataclass(frozen=True)
class MeasuredQuestion:
    """A labelled question with the gate's signals on today's index (a gate_fit.FitCase)."""

    labelled: LabelledQuestion
    signals: Signals

    @property
    def answerable(self) -> bool:
        return self.labelled.answerable

    @property
    def fold(self) -> int:
        # by the words alone: one question asked of several tenants is in one fold, so that
        # no fold is tried on a question it was fitted on
        return fold_of(_words(self.labelled.question))


@dataclass(frozen=True)
class Shares:
    """How a gate treats a set of labelled questions."""

    answerable: int
    answerable_refused: int
    off_topic: int
    off_topic_refused: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class ProfileOutcome:
    """One profile's refit: the fit (None where not fitted) and why it is or is not written."""

    profile: str
    answerable: int  # cases no rule refuses, of each label
    off_topic: int
    fit: ProfileFit | None
    written: bool
    note: str


@dataclass(frozen=True)
class CalibrationReport:
    """What `muni-crawl calibrate` measured and fitted, before anything is written."""

    model: str
    labels: dict[str, int]  # questions per label source
    current: Shares  # the gate in use today, on every labelled question
    refit: Shares  # the gate with the written profiles, on the same questions (in sample)
    profiles: list[ProfileOutcome]
    gate: Gate  # the refitted gate (the current one where nothing is written)

    @property
    def writable(self) -> bool:
        return any(p.written for p in self.profiles)

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "labels": self.labels,
            "current": self.current.to_dict(),
            "refit": self.refit.to_dict(),
            "profiles": [
                {
                    "profile": p.profile,
                    "answerable": p.answerable,
                    "off_topic": p.off_topic,
                    "written": p.written,
                    "note": p.note,
                    **(
                        {
                            "z": p.fit.z,
                            "off_topic_refused_out_of_fold": round(p.fit.off_topic_refused, 4),
                            "answerable_refused_out_of_fold": round(p.fit.answerable_refused, 4),
                            "weights": p.fit.weights.as_table(),
                        }
                        if p.fit is not None
                        else {}
                    ),
                }
                for p in self.profiles
            ],
        }


# -- the labels ---------------------------------------------------------------------------------


def from_history(home: Home, tenants: Sequence[str]) -> list[LabelledQuestion]:
    """The verdicts the deployment has recorded for these tenants: approved answers
    (answerable) and questions found unanswerable by the LLM or a reviewer; the newest
    verdict where one question has several."""
    with home.answer_store() as store:
        rows = store.verdicts(tenants)
    newest: dict[tuple[str, str], LabelledQuestion] = {}
    for row in rows:  # newest first
        key = (row.tenant, row.question_hash)
        if key in newest:
            continue
        judged = row.unanswerable
        newest[key] = LabelledQuestion(
            row.tenant,
            row.question,
            answerable=judged is None,
            label=judged if judged is not None else "approved",
        )
    return list(newest.values())


def load_labelled(
    path: Path, tenants: Sequence[str], *, max_chars: int = 1000
) -> list[LabelledQuestion]:
    """A labelled questions file: TOML `[[question]]` tables with `question` (text),
    `answerable` (true or false) and optionally `tenant` (one of `tenants`; without it, the
    question is asked of each of them). The gate reads the language the question is written
    in, so no language is given: it is detected, as for an answer. Each question is cleaned
    and checked as an asked one is (`max_chars`: MUNI_CRAWL_MAX_QUESTION_CHARS).
    Every mistake is a ConfigError naming the file and the entry."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    entries = data.get("question")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: no [[question]] tables")
    labelled = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: question {number}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a table")
        unknown = sorted(set(entry) - _FILE_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown} (known: {sorted(_FILE_KEYS)})")
        question = entry.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ConfigError(f"{where}: `question` must be a non-empty string")
        try:
            question = validate_question(question, max_chars)
        except InvalidQuestionError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        answerable = entry.get("answerable")
        if not isinstance(answerable, bool):
            raise ConfigError(f"{where}: `answerable` must be true or false, not {answerable!r}")
        tenant = entry.get("tenant")
        if tenant is not None and tenant not in tenants:
            raise ConfigError(
                f"{where}: tenant {tenant!r} is not one being calibrated ({', '.join(tenants)})"
            )
        for each in [tenant] if tenant is not None else tenants:
            labelled.append(LabelledQuestion(each, question, answerable, "file"))
    return labelled


def combined(*sources: Iterable[LabelledQuestion]) -> list[LabelledQuestion]:
    """Every labelled question once per tenant and words; a later source's label wins."""
    kept: dict[tuple[str, str], LabelledQuestion] = {}
    for source in sources:
        for question in source:
            kept[(question.tenant, _words(question.question))] = question
    return list(kept.values())


def _words(question: str) -> str:
    """A question as its words: case and spacing aside, "the same question"."""
    return " ".join(question.casefold().split())


# -- measuring ------------------------------------------------------------------------------------


def measure_question(library: Library, tenant: str, question: str) -> tuple[Signals, float]:
    """The gate's signals for one question asked of one tenant, retrieved exactly as the
    Answerer retrieves (redacted, embedded once for both uses, the language detected from
    the words as the Answerer's gate detects it, whatever language a caller gave), and the
    seconds the signals took after retrieval."""
    names = tuple(t.name for t in library.registry.tenants.values())
    redaction = redact(question)
    search = redaction.search_text or redaction.text
    query = library.embedder.embed_queries([search])[0]
    retrieval = library.retrieve(
        tenant, search, k=library.home.settings.answering.answer_passages, query=query
    )
    started = time.perf_counter()
    signals = measure(
        search,
        retrieval,
        library.index(tenant),
        language=detect_language(search),
        embedder=library.embedder,
        query=query,
        places=places_for(library.registry.tenant(tenant).name, names),
    )
    return signals, time.perf_counter() - started


def shares(cases: Sequence[FitCase], gate: Gate) -> Shares:
    """How `gate` treats the cases."""
    refused = [not decide(c.signals, gate).passed for c in cases]
    return Shares(
        answerable=sum(c.answerable for c in cases),
        answerable_refused=sum(r and c.answerable for r, c in zip(refused, cases, strict=True)),
        off_topic=sum(not c.answerable for c in cases),
        off_topic_refused=sum(r and not c.answerable for r, c in zip(refused, cases, strict=True)),
    )


# -- fitting --------------------------------------------------------------------------------------


def refit(
    cases: Sequence[MeasuredQuestion], current: Gate, *, min_cases: int = MIN_CASES
) -> tuple[Gate, list[ProfileOutcome]]:
    """The current gate with each profile refitted where the cases allow and the refit
    does better than the gate in use (`_verdict`)."""
    fittable = [c for c in cases if refusing_rule(c.signals, Gate(current.floor)) is None]
    outcomes = []
    weights: dict[str, Weights | None] = {"danish": current.danish, "other": current.other}
    for profile, group in by_profile(fittable).items():
        answerable = sum(c.answerable for c in group)
        off_topic = len(group) - answerable
        if min(answerable, off_topic) < min_cases:
            note = (
                f"not fitted: {answerable} answerable and {off_topic} off-topic questions reach"
                f" the score, {min_cases} of each needed"
            )
            outcomes.append(ProfileOutcome(profile, answerable, off_topic, None, False, note))
            continue
        fit = fit_profile(group, profile)
        written, note = _verdict(fit, shares(group, current))
        if written:
            weights[profile] = fit.weights
        outcomes.append(ProfileOutcome(profile, answerable, off_topic, fit, written, note))
    gate = Gate(
        current.floor,
        danish=weights["danish"],
        other=weights["other"],
        intent_margin=current.intent_margin,
    )
    return gate, outcomes


def _verdict(fit: ProfileFit, now: Shares) -> tuple[bool, str]:
    """Whether a profile's refit replaces the weights in use, and why. The labels were not
    fitted by the gate in use, so its shares on them are a fair estimate, and the refit's
    out-of-fold shares are its own. The refit is written where it meets WRONG_TARGET out of
    fold and either refuses more of the off-topic questions than the gate in use, or the
    gate in use refuses more answerable ones than WRONG_TARGET beyond doubt (one wrongly
    refused of 34 is not that: `beyond_target`)."""
    answerable_now = now.answerable_refused / now.answerable
    off_topic_now = now.off_topic_refused / now.off_topic
    refit = (
        f"out of fold the refit refuses {fit.off_topic_refused:.1%} of the off-topic and"
        f" {fit.answerable_refused:.1%} of the answerable questions (cut {fit.z} sd below"
        " the answerable mean)"
    )
    in_use = (
        f"the gate in use refuses {off_topic_now:.1%} of the off-topic and"
        f" {answerable_now:.1%} of the answerable ones"
    )
    if fit.answerable_refused > WRONG_TARGET:
        return False, (
            f"not written: {refit}, above {WRONG_TARGET:.0%} of the answerable; label more"
            " questions"
        )
    if fit.off_topic_refused == 0:
        return False, f"not written: {refit}"
    too_strict = beyond_target(now.answerable_refused, now.answerable)
    if not too_strict and fit.off_topic_refused <= off_topic_now:
        return False, f"kept: {in_use}; {refit}"
    return True, f"fitted: {refit}; {in_use}"


def beyond_target(refused: int, questions: int) -> bool:
    """Whether refusing `refused` of `questions` answerable questions shows a share above
    WRONG_TARGET: a one-sided binomial test at SIGNIFICANCE (at the target, so many or more
    would be refused less often than that by chance)."""
    chance = 1.0 - sum(
        math.comb(questions, k) * WRONG_TARGET**k * (1 - WRONG_TARGET) ** (questions - k)
        for k in range(refused)
    )
    return chance < SIGNIFICANCE


def calibrate(
    home: Home,
    tenants: Sequence[str] = (),
    *,
    questions_file: Path | None = None,
    history: bool = True,
    min_cases: int = MIN_CASES,
) -> CalibrationReport:
    """Measure every labelled question of `tenants` (every indexed one where none are
    named) on today's index and refit the gate; nothing is written (write_calibration does that)."""
    check_home_calibration(home.path)
    registry = home.registry
    for tenant in tenants:
        registry.tenant(tenant)  # UnknownTenantError
    # none named: every tenant with an index (one not yet indexed has nothing to measure)
    chosen = list(tenants) or [
        t for t in registry.tenants if current_version(home.paths.indexes_dir, t) is not None
    ]
    labelled = combined(
        from_history(home, chosen) if history else [],
        (
            load_labelled(
                questions_file, chosen, max_chars=home.settings.answering.max_question_chars
            )
            if questions_file is not None
            else []
        ),
    )
    library = Library(home)
    model = library.embedder.model_id
    cases = [
        MeasuredQuestion(q, measure_question(library, q.tenant, q.question)[0]) for q in labelled
    ]
    current = gate_for(model, home.settings.answering.min_evidence, home.path)
    gate, outcomes = refit(cases, current, min_cases=min_cases)
    counts = {label: sum(q.label == label for q in labelled) for label in LABELS}
    return CalibrationReport(
        model, counts, shares(cases, current), shares(cases, gate), outcomes, gate
    )


# -- writing --------------------------------------------------------------------------------------


def write_calibration(home: Home, report: CalibrationReport) -> Path:
    """Write the profiles the report fitted into the home's calibration.toml (other models'
    entries, and this model's other values, kept), atomically; returns the file."""
    if not report.writable:
        raise ConfigError("nothing to write: no profile was fitted (see the report)")
    path = home_calibration_file(home.path)
    table = home_calibrations(home.path)
    own = table.get(report.model, Calibration())
    fitted = {
        p.profile: p.fit.weights.as_table()
        for p in report.profiles
        if p.written and p.fit is not None
    }
    gate = {**own.gate, **fitted}
    table[report.model] = Calibration(**{key: getattr(own, key) for key in COSINE_KEYS}, gate=gate)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = [
        f"# This home's own calibration ({CALIBRATION_FILE}): its values replace the shipped",
        "# ones for the same model. Written by `muni-crawl calibrate --write`; refit, do not edit.",
        f"# last written {stamp} for {report.model}:"
        + "".join(f" {count} {label}" for label, count in report.labels.items() if count),
        *(f"# {p.profile}: {p.note}" for p in report.profiles),
    ]
    text = "\n".join(header) + "\n" + _serialised(table) + "\n"
    parse_calibrations(text, source=str(path))  # never write what would not load
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write it: {exc}") from exc
    return path


def _serialised(table: dict[str, Calibration]) -> str:
    blocks = []
    for model, calibration in table.items():
        cosines = [
            f"{key} = {getattr(calibration, key)}"
            for key in COSINE_KEYS
            if getattr(calibration, key) is not None
        ]
        lines = [f'["{model}"]', *cosines] if cosines else []
        if calibration.gate:
            lines.append(gate_table(model, calibration.gate, None))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
