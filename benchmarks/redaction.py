"""Redaction benchmark: misses, damage and time per question on the generated corpus.

Why it exists: the redactor runs on every question before it is logged, stored, embedded
or sent to an LLM. A miss leaks a citizen's CPR number, phone number, e-mail, name or address;
damage turns "affaldsgebyret 2023-2024" into "[TELEFONNUMMER]" and the answer is about
something else. Both must stay at zero, and the redactor must stay cheap.

It runs muni_crawl.redact over the seeded corpus of benchmarks/redaction_corpus.py (planted
personal data in every written form, in eight languages, plus ordinary numbers) and prints
one row per category:
  questions  how many questions of the category
  planted    personal items planted in them
  misses     planted items of which a digit run or word survives (folded, so full-width or
             Arabic-Indic digits count too)
  altered    questions with planted data whose text outside the planted items changed, or
             whose placeholder is of the wrong kind
  damaged    benign questions changed in any way (false positives)
and the time per question (mean, p50, p99, max, in µs) over every corpus question.

Run (from the repository root): python benchmarks/redaction.py [--check] [--json]
[--seed N] [--show N]. Exit codes: 0 fine, 1 a miss, alteration or damage with --check.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import format_table, percentile, timed
from benchmarks.redaction_corpus import SEED, Case, benign_cases, leaks, pii_cases
from muni_crawl.redact import redact

COLUMNS = ("questions", "planted", "misses", "altered", "damaged")


def evaluate(
    cases: list[Case], redactor: Callable[[str], str] = lambda text: redact(text).text
) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Counts per category, and one line per failing question."""
    rows: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COLUMNS, 0))
    failures: list[str] = []
    for case in cases:
        output = redactor(case.text)
        row = rows[case.category]
        row["questions"] += 1
        row["planted"] += len(case.planted)
        if case.planted:
            missed = leaks(case, output)
            row["misses"] += len({id(planted) for planted, _ in missed})
            row["altered"] += output != case.expected
            if missed or output != case.expected:
                what = ", ".join(f"{p.kind}: {w}" for p, w in missed) or "altered"
                failures.append(
                    f"{case.category} / {case.form}: {case.text!r} -> {output!r} ({what})"
                )
        elif output != case.text:
            row["damaged"] += 1
            failures.append(f"{case.category} / {case.form}: {case.text!r} -> {output!r}")
    return dict(rows), failures


def timing(cases: list[Case], rounds: int = 5) -> dict[str, float]:
    """Microseconds per question: each question redacted `rounds` times, the best round kept."""
    samples: list[float] = []
    for case in cases:
        best = min(timed(partial(redact, case.text))[1] for _ in range(rounds))
        samples.append(best * 1e6)
    return {
        "mean": statistics.fmean(samples),
        "p50": percentile(samples, 0.5),
        "p99": percentile(samples, 0.99),
        "max": max(samples),
    }


def table(rows: dict[str, dict[str, int]]) -> str:
    total = dict.fromkeys(COLUMNS, 0)
    cells = []
    for category in sorted(rows, key=lambda c: (c.startswith("benign"), c)):
        row = rows[category]
        benign = category.startswith("benign")
        cells.append(
            [
                category,
                str(row["questions"]),
                "-" if benign else str(row["planted"]),
                "-" if benign else str(row["misses"]),
                "-" if benign else str(row["altered"]),
                str(row["damaged"]) if benign else "-",
            ]
        )
        for column in COLUMNS:
            total[column] += row[column]
    cells.append(["total", *(str(total[c]) for c in COLUMNS)])
    return format_table(("category", *COLUMNS), cells)


@dataclass(frozen=True)
class RedactionResult:
    """The corpus's figures per category, its failing questions and the time per question."""

    questions: int
    rows: dict[str, dict[str, int]]  # category -> questions, planted, misses, altered, damaged
    failures: list[str]  # one line per failing question
    time_us: dict[str, float]  # mean, p50, p99, max

    def timing_line(self) -> str:
        t = self.time_us
        return (
            f"time per question ({self.questions} questions): mean {t['mean']:.0f} µs,"
            f" p50 {t['p50']:.0f} µs, p99 {t['p99']:.0f} µs, max {t['max']:.0f} µs"
        )


def run(seed: int = SEED) -> RedactionResult:
    """Redact every question of the corpus generated from `seed`, and time it."""
    cases = pii_cases(seed) + benign_cases(seed)
    rows, failures = evaluate(cases)
    return RedactionResult(len(cases), rows, failures, timing(cases))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 on any miss or damage")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--seed", type=int, default=SEED, help="corpus seed")
    parser.add_argument("--show", type=int, default=20, help="failing questions to list")
    args = parser.parse_args(argv)
    result = run(args.seed)
    print(table(result.rows))
    print(result.timing_line())
    for line in result.failures[: args.show]:
        print("FAIL", line)
    if args.json:
        figures = {"seed": args.seed, "categories": result.rows, "time_us": result.time_us}
        print(json.dumps(figures, indent=2))
    return 1 if args.check and result.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
