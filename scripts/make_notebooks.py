"""Generate notebooks/evaluation.ipynb and notebooks/costs.ipynb from the cells below.

The notebooks are written from this script, so that what they do is reviewable as plain Python
in a diff; edit the cells here and regenerate, never the .ipynb files by hand. They are written
without outputs and with `execution_count` null (stripped, as git holds them), with stable
cell ids, so regenerating an unchanged script reproduces the files byte for byte.

Both notebooks use only muni_crawl's public API (plus muni_crawl.usage for the billing report)
and run headless: matplotlib's Agg backend draws off-screen and each figure is handed to the
notebook as a PNG.

    python scripts/make_notebooks.py          # (re)write both notebooks
    python scripts/make_notebooks.py --check  # exit 1 when a notebook differs from this script

tests/test_notebooks.py executes both notebooks and checks they are stripped and up to date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

# Cells shared by both notebooks ------------------------------------------------------------

BACKEND = r"""
import matplotlib

matplotlib.use("Agg")  # draw off-screen: the notebook must run headless (CI, a server)
"""

SHOW = r'''
def find_repo(start: Path) -> Path:
    """The repository folder: `start` or the first of its parents holding the questions."""
    for folder in (start, *start.parents):
        if (folder / "benchmarks" / "questions.toml").is_file():
            return folder
    raise FileNotFoundError(f"no benchmarks/questions.toml in {start} or above it")


def show(fig: plt.Figure) -> None:
    """Show a figure. Agg draws off-screen, so plt.show() would display nothing in a kernel:
    render the figure to PNG and hand that to the notebook instead."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    display(Image(data=buffer.getvalue(), format="png"))
'''

# notebooks/evaluation.ipynb ----------------------------------------------------------------

EVALUATION: list[tuple[str, str]] = [
    (
        "markdown",
        r"""
# Retrieval quality per language and topic

The chatbot can only answer from the passages retrieval hands it. This notebook runs the
retrieval-quality benchmark (`benchmarks/retrieval_quality.py`, questions in
`benchmarks/questions.toml`) through muni_crawl's public API and breaks the result down
further than the benchmark's table does:

* **recall@k for k = 1 … 10 per question language**: is a relevant page among the first k
  passages? Citizens ask in informal Danish, but also in English, Arabic, Ukrainian, Polish,
  Turkish, Somali and German, all answered from Danish pages;
* **recall@1 and recall@5 per topic** (affald, pas, skole, …).

A hit is a retrieved passage whose URL is one of the question's `relevant` URLs; a question's
rank is the position of its first hit.

**Which example it measures.** With `MUNI_CRAWL_HOME` set, the notebook uses that home, where
the example must already be crawled and indexed for the tenants `example` and `naboby` (for
instance one built by `python benchmarks/retrieval_quality.py`'s build or by the tests).
Without it, the notebook builds the example in a temporary folder exactly as the benchmark
does: it serves the example sites on 127.0.0.1 (ports 8761-8764, so `muni-crawl demo` must not
be running), crawls and indexes them. Embeddings are cached in `MUNI_CRAWL_EMBEDDING_CACHE`,
or else in the benchmark's cache (`benchmarks/.cache/embeddings.db`).
""",
    ),
    ("code", BACKEND),
    (
        "code",
        r"""
import importlib.util
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Image, display

import muni_crawl
""",
    ),
    ("code", SHOW),
    (
        "markdown",
        r"""
## The benchmark's own code

The questions file and the example build come from `benchmarks/retrieval_quality.py`, loaded
by path (it is a script, not part of the package), so this notebook measures exactly what the
benchmark measures. The repository is found by walking up from the working directory.
""",
    ),
    (
        "code",
        r"""
REPO = find_repo(Path.cwd().resolve())
spec = importlib.util.spec_from_file_location(
    "retrieval_quality", REPO / "benchmarks" / "retrieval_quality.py"
)
assert spec is not None and spec.loader is not None
bench = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench  # its dataclasses look themselves up there
spec.loader.exec_module(bench)

questions = bench.load_questions(REPO / "benchmarks" / "questions.toml")
print(f"repository {REPO}: {len(questions)} questions")
""",
    ),
    (
        "markdown",
        r"""
## The home: given, or built now

`MUNI_CRAWL_HOME` (and `MUNI_CRAWL_EMBEDDING_CACHE`, if set) are read by
`muni_crawl.Settings.load`. Without a home, the example is built in a temporary folder that
the last cell removes.
""",
    ),
    (
        "code",
        r"""
scratch = None  # the temporary home, when the notebook builds the example itself
if os.environ.get("MUNI_CRAWL_HOME"):
    settings = muni_crawl.Settings.load()
    print(f"using the example already indexed in {settings.home}")
else:
    scratch = tempfile.TemporaryDirectory(prefix="muni-crawl-evaluation-")
    built = Path(scratch.name)
    shutil.copytree(REPO / "spiders", built / "spiders")
    overrides = {}
    if not os.environ.get("MUNI_CRAWL_EMBEDDING_CACHE"):
        bench.prepare_cache(bench.DEFAULT_CACHE)
        overrides["embedding_cache"] = bench.DEFAULT_CACHE
    settings = muni_crawl.Settings.load(built, **overrides)
    print(f"building the example in {built} (crawl and index; slower on a cold cache)")
    bench.build_example(settings)

library = muni_crawl.Library(settings)
bench.check_relevant_indexed(library, questions)  # a typo in questions.toml is not a miss
model = library.index(bench.TENANTS[0]).manifest.model_id
print(f"embedding model {model}")
""",
    ),
    (
        "markdown",
        r"""
## Retrieve once per question

Each question is asked of its tenant once, with `Library.retrieve(tenant, question, k=10)`;
every recall@k for k ≤ 10 follows from the rank of the first relevant passage.
""",
    ),
    (
        "code",
        r"""
K_MAX = 10
KS = list(range(1, K_MAX + 1))

ranks: dict[str, int | None] = {}  # question id -> rank of the first hit, None: not in the top 10
for q in questions:
    result = library.retrieve(q.tenant, q.question, k=K_MAX)
    urls = [p.url for p in result.passages]
    ranks[q.id] = next((i for i, url in enumerate(urls, start=1) if url in q.relevant), None)

found = sum(rank is not None for rank in ranks.values())
print(f"{found} of {len(questions)} questions have a relevant passage in the top {K_MAX}")
""",
    ),
    (
        "markdown",
        r"""
For comparison, the benchmark's own table (top 5, grouped Danish / other languages / tenant),
from its `run_questions` and `group_metrics`. Its recall@1 and recall@5 are the k = 1 and
k = 5 points of the curves below.
""",
    ),
    (
        "code",
        r"""
bench.print_table(bench.group_metrics(bench.run_questions(library, questions)))
""",
    ),
    (
        "markdown",
        r"""
## Recall@k per language

Languages with fewer than `MIN_GROUP` questions are pooled as "other", so that no curve
rests on a single question.
""",
    ),
    (
        "code",
        r'''
MIN_GROUP = 3


def recall_curve(group: list) -> list[float]:
    """recall@k for k = 1..10: the share of the group's questions with a hit at rank <= k."""
    found = [ranks[q.id] for q in group]
    return [sum(r is not None and r <= k for r in found) / len(found) for k in KS]


def mrr(group: list) -> float:
    """Mean reciprocal rank of the first hit within the top 10."""
    return sum(1 / ranks[q.id] for q in group if ranks[q.id] is not None) / len(group)


def grouped(key) -> dict[str, list]:
    """Questions grouped by key(question), largest group first."""
    groups: dict[str, list] = {}
    for q in questions:
        groups.setdefault(key(q), []).append(q)
    return dict(sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])))


by_language: dict[str, list] = {}
rare: list = []
for language, group in grouped(lambda q: q.language).items():
    if len(group) >= MIN_GROUP:
        by_language[language] = group
    else:
        rare += group
if rare:
    by_language[f"other ({', '.join(sorted({q.language for q in rare}))})"] = rare
by_topic = grouped(lambda q: q.topic)

fig, ax = plt.subplots(figsize=(9, 5))
ax.plot(KS, recall_curve(questions), color="black", linewidth=3, label=f"all (n={len(questions)})")
for language, group in by_language.items():
    ax.plot(KS, recall_curve(group), marker="o", label=f"{language} (n={len(group)})")
ax.set(
    xlabel="k (passages retrieved)",
    ylabel="recall@k",
    title="Recall@k per question language",
    xticks=KS,
    ylim=(0, 1.05),
)
ax.grid(alpha=0.3)
ax.legend(loc="lower right")
show(fig)
''',
    ),
    (
        "markdown",
        r"""
## Recall@1 and recall@5 per topic

Topics with few questions move in big steps: one miss in a topic of two is 0.5.
""",
    ),
    (
        "code",
        r"""
labels = [f"{topic} ({len(group)})" for topic, group in by_topic.items()]
at_1 = [recall_curve(group)[0] for group in by_topic.values()]
at_5 = [recall_curve(group)[4] for group in by_topic.values()]
positions = list(range(len(by_topic)))
width = 0.4

fig, ax = plt.subplots(figsize=(12, 4.5))
ax.bar([p - width / 2 for p in positions], at_1, width, label="recall@1")
ax.bar([p + width / 2 for p in positions], at_5, width, label="recall@5")
ax.set_xticks(positions, labels, rotation=45, ha="right")
ax.set(ylabel="recall", title="Recall@1 and recall@5 per topic (questions)", ylim=(0, 1.15))
ax.grid(axis="y", alpha=0.3)
ax.legend(loc="upper center", ncols=2)
show(fig)
""",
    ),
    (
        "markdown",
        r"""
## Summary

The same numbers as a table (pandas is not a dependency: plain formatting), and the questions
whose relevant page is not even in the top 10.
""",
    ),
    (
        "code",
        r"""
def print_table(title: str, groups: dict[str, list]) -> None:
    shown = (1, 3, 5, 10)
    header = f"{title:<26}{'n':>4}" + "".join(f"{f'R@{k}':>7}" for k in shown) + f"{'MRR@10':>8}"
    print(header)
    print("-" * len(header))
    for name, group in groups.items():
        curve = recall_curve(group)
        cells = "".join(f"{curve[k - 1]:>7.3f}" for k in shown)
        print(f"{name:<26}{len(group):>4}{cells}{mrr(group):>8.3f}")


print_table("language", {"all": questions, **by_language})
print()
print_table("topic", by_topic)

misses = [q for q in questions if ranks[q.id] is None]
print(f"\nNot in the top {K_MAX}: {len(misses)}")
for q in misses:
    print(f"  {q.id} [{q.language}, {q.tenant}, {q.topic}] {q.question}")
""",
    ),
    (
        "code",
        r"""
if scratch is not None:
    scratch.cleanup()
""",
    ),
]

# notebooks/costs.ipynb ---------------------------------------------------------------------

COSTS: list[tuple[str, str]] = [
    (
        "markdown",
        r"""
# Costs: tokens, documents searched and DKK per tenant and month

Every answer muni_crawl gives is recorded in the home's SQLite database with its usage:
prompt and completion tokens (the provider's counts where it reported them, else our
tiktoken counts), the number of documents searched and the cost in integer micro-DKK, so
sums are exact. This notebook reads those records and shows

* the per-tenant totals of `muni_crawl.usage.usage_report` (what `muni-crawl usage` bills);
* tokens in and out, documents searched and DKK per tenant and month;
* the mean cost of an answer per status (approved, generated, extractive, no_answer), and how
  much serving reviewed, approved answers instead of generating new ones saved.

It reads the home in `MUNI_CRAWL_HOME`, or else the repository folder (where `make demo`
keeps its database). It only reads: a home without a database reports that no answers are
recorded yet.
""",
    ),
    ("code", BACKEND),
    (
        "code",
        r"""
import io
import os
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Image, display

import muni_crawl
from muni_crawl.usage import COLUMNS, Period, format_dkk, usage_report
""",
    ),
    ("code", SHOW),
    (
        "code",
        r"""
STATUSES = ("approved", "generated", "extractive", "no_answer")  # Answer.status values

home = os.environ.get("MUNI_CRAWL_HOME") or find_repo(Path.cwd().resolve())
settings = muni_crawl.Settings.load(home)
print(f"home {settings.home}\ndatabase {settings.database}")
# muni_crawl.Store creates a missing database: open it only when there is one to read
store = muni_crawl.Store(settings.database) if settings.database.is_file() else None
""",
    ),
    (
        "markdown",
        r"""
## Per tenant, all time

`usage_report` over an open period (`Period(None, None)`): one row per tenant and a TOTAL
row when there are several.
""",
    ),
    (
        "code",
        r'''
report = usage_report(store, period=Period(None, None)) if store is not None else []
has_answers = bool(report)


def print_rows(rows: list[dict], columns: list[str]) -> None:
    """A plain text table (pandas is not a dependency): names left, numbers right."""
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}

    def line(values: list[str]) -> str:
        return "  ".join(
            value.ljust(widths[c]) if c in ("tenant", "month") else value.rjust(widths[c])
            for c, value in zip(columns, values, strict=True)
        )

    print(line(columns))
    for row in rows:
        print(line([str(row[c]) for c in columns]))


if has_answers:
    print_rows(report, COLUMNS)
else:
    print("no answers recorded yet")
''',
    ),
    (
        "markdown",
        r"""
## Per tenant and month

The same sums per calendar month (UTC, from `created_at`), read from the `answers` table
with the billing rule of `usage_report`: tokens are the provider's counts where reported.
""",
    ),
    (
        "code",
        r'''
MONTHLY = """
    SELECT substr(created_at, 1, 7) AS month, tenant, COUNT(*) AS answers,
        SUM(COALESCE(provider_prompt_tokens, prompt_tokens)) AS tokens_in,
        SUM(COALESCE(provider_completion_tokens, completion_tokens)) AS tokens_out,
        SUM(documents_searched) AS documents_searched,
        SUM(cost_micro_dkk) AS cost_micro_dkk
    FROM answers GROUP BY month, tenant ORDER BY month, tenant
"""
monthly = [dict(row) for row in store.db.execute(MONTHLY)] if has_answers else []
months = sorted({row["month"] for row in monthly})
tenants = sorted({row["tenant"] for row in monthly})
by_cell = {(row["month"], row["tenant"]): row for row in monthly}


def series(column: str, scale: float = 1.0) -> dict[str, list[float]]:
    """tenant -> the column's sum for each month (0 where the tenant had no answers)."""
    return {
        tenant: [
            by_cell[(month, tenant)][column] * scale if (month, tenant) in by_cell else 0
            for month in months
        ]
        for tenant in tenants
    }


if has_answers:
    # the monthly sums add up to the report's total, to the micro-DKK
    assert format_dkk(sum(row["cost_micro_dkk"] for row in monthly)) == report[-1]["cost_dkk"]
    for row in monthly:
        row["cost_dkk"] = format_dkk(row["cost_micro_dkk"])
    print_rows(
        monthly,
        ["month", "tenant", "answers", "tokens_in", "tokens_out", "documents_searched", "cost_dkk"],
    )
else:
    print("no answers recorded yet")
''',
    ),
    (
        "code",
        r'''
def grouped_bars(ax: plt.Axes, values: dict[str, list[float]], ylabel: str, title: str) -> None:
    """One group of bars per month, one bar per tenant."""
    width = 0.8 / len(tenants)
    for i, tenant in enumerate(tenants):
        offset = (i - (len(tenants) - 1) / 2) * width
        ax.bar([m + offset for m in range(len(months))], values[tenant], width, label=tenant)
    ax.set_xticks(range(len(months)), months)
    ax.set(xlabel="month", ylabel=ylabel, title=title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()


if has_answers:
    fig, (ax_in, ax_out) = plt.subplots(1, 2, figsize=(12, 4))
    grouped_bars(ax_in, series("tokens_in"), "tokens", "Prompt tokens (in)")
    grouped_bars(ax_out, series("tokens_out"), "tokens", "Completion tokens (out)")
    fig.suptitle("Tokens per tenant and month")
    show(fig)
else:
    print("no answers recorded yet: nothing to plot")
''',
    ),
    (
        "code",
        r"""
if has_answers:
    fig, (ax_docs, ax_dkk) = plt.subplots(1, 2, figsize=(12, 4))
    grouped_bars(
        ax_docs, series("documents_searched"), "documents", "Documents searched per tenant"
    )
    grouped_bars(ax_dkk, series("cost_micro_dkk", 1e-6), "DKK", "Cost per tenant")
    fig.suptitle("Documents searched and DKK per tenant and month")
    show(fig)
else:
    print("no answers recorded yet: nothing to plot")
""",
    ),
    (
        "markdown",
        r"""
## Approved answers versus generated ones

An answer a reviewer approved is served again, for close enough questions, without calling
the LLM. Its cost is compared with the mean cost of a generated answer; extractive answers
(no LLM, or the LLM failed) and no_answer replies are shown for scale.
""",
    ),
    (
        "code",
        r'''
by_status = {status: {"answers": 0, "cost_micro_dkk": 0} for status in STATUSES}
if has_answers:
    rows = store.db.execute(
        "SELECT status, COUNT(*) AS answers, SUM(cost_micro_dkk) AS cost_micro_dkk"
        " FROM answers GROUP BY status"
    )
    for status, answers, cost in rows:
        by_status[status] = {"answers": answers, "cost_micro_dkk": cost}


def mean_micro(status: str) -> float:
    """Mean micro-DKK per answer of this status (0 when there are none)."""
    counts = by_status[status]
    return counts["cost_micro_dkk"] / counts["answers"] if counts["answers"] else 0.0


if has_answers:
    fig, ax = plt.subplots(figsize=(8, 4))
    labels = [f"{status}\n(n={by_status[status]['answers']})" for status in STATUSES]
    bars = ax.bar(labels, [mean_micro(status) / 1e6 for status in STATUSES])
    ax.bar_label(bars, fmt="%.4f")
    ax.set(ylabel="DKK per answer", title="Mean cost of an answer by status")
    ax.grid(axis="y", alpha=0.3)
    show(fig)

    approved, generated = by_status["approved"], by_status["generated"]
    if approved["answers"] and generated["answers"]:
        would_cost = round(approved["answers"] * mean_micro("generated"))
        saved = would_cost - approved["cost_micro_dkk"]
        print(
            f"{approved['answers']} answers were served from approved answers, for"
            f" {format_dkk(approved['cost_micro_dkk'])} DKK in all.\n"
            f"A generated answer cost {format_dkk(round(mean_micro('generated')))} DKK on"
            f" average ({generated['answers']} generated), so generating those"
            f" {approved['answers']} would have cost about {format_dkk(would_cost)} DKK:\n"
            f"the approved answers saved about {format_dkk(saved)} DKK."
        )
    elif approved["answers"]:
        print(
            f"{approved['answers']} answers were served from approved answers, but no answer was"
            " generated to compare their cost with."
        )
    else:
        print("No answer was served from approved answers yet: nothing saved so far.")
else:
    print("no answers recorded yet")
''',
    ),
    (
        "code",
        r"""
if store is not None:
    store.close()
""",
    ),
]

# Writing -----------------------------------------------------------------------------------

NOTEBOOK_CELLS = {"evaluation": EVALUATION, "costs": COSTS}


def build(name: str, cells: list[tuple[str, str]]) -> NotebookNode:
    """A stripped notebook: no outputs, execution_count null, stable ids, kernel python3."""
    # nbformat's constructors are untyped (hence the ignores); they return NotebookNodes
    notebook: NotebookNode = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    notebook.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
    }
    for number, (kind, source) in enumerate(cells, start=1):
        new_cell = (
            nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        )
        text = source.strip("\n")  # no trailing newline: what ruff format keeps in a cell
        cell = new_cell(text, id=f"{name}-{number:02d}")  # type: ignore[no-untyped-call]
        notebook.cells.append(cell)
    nbformat.validate(notebook)
    return notebook


def render(name: str) -> str:
    """The notebook's file content, as nbformat writes it."""
    text: str = nbformat.writes(build(name, NOTEBOOK_CELLS[name]))  # type: ignore[no-untyped-call]
    return text + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only report notebooks that differ from this script"
    )
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOK_CELLS:
        path = NOTEBOOKS / f"{name}.ipynb"
        text = render(name)
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO)}")
    for path in stale:
        print(f"{path.relative_to(REPO)} differs from scripts/make_notebooks.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
