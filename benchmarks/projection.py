"""Projection: the daily cycle of forty municipalities, from rates measured on this machine.

Why: whether one machine keeps 40 municipalities of ~8,000 pages (~60,000 passages each) and
borger.dk fresh is a question of a few rates, and those rates change with the code. This
script measures them here and prints the projection with its assumptions, so the numbers follow
the code rather than a spreadsheet:

- crawling: a generated municipal site (benchmarks/crawl.py's generator) served on 127.0.0.1
  and crawled with the real crawler, then re-crawled after `changed_share` of its pages changed
  (pages/min, CPU per page, and the share of unchanged pages answered 304);
- passages per page, and the re-index of that site: unchanged (this code, told from page
  versions alone), the same re-index as it was before the chunk cache (every page chunked
  again), and after the re-crawl;
- embedding passages/s of the configured embedder on real passages of the site;
- index build seconds per 10k passages, at the size of one municipality (HNSW above the
  threshold), and what adding 1% of vectors to a built HNSW graph costs instead;
- disk bytes per page (the pages database) and per passage (index version, embedding cache,
  chunk cache), and RAM per loaded passage.

The site's index is built with vectors that are mixtures of real embeddings of its passages
(as in retrieval_speed.py): embedding thousands of passages would take most of an hour on two
cores, and the embedding rate is measured on its own.

Run: python benchmarks/projection.py [--quick] [--pages N] [--municipalities 40] ...
(--quick: a 300-page site and a 10k-passage build, a few minutes; default 1,500 pages and a
build at the assumed passages per municipality.)
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import random
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import format_table, machine, scratch_dir, timed, today
from benchmarks.crawl import SOURCE, measured_crawl, write_home, write_site
from benchmarks.retrieval_speed import synthetic_passages, synthetic_vectors
from muni_crawl import Settings, build_indexes
from muni_crawl.chunk import chunk_page
from muni_crawl.embed import embedder_for
from muni_crawl.example.server import serve
from muni_crawl.home import Home
from muni_crawl.index import current_version, load_current, tenant_dir, tenant_pages
from muni_crawl.index.chunk_cache import ChunkCache
from muni_crawl.index.layout import write_version
from muni_crawl.store import PageStore
from muni_crawl.types import Vectors

MIXTURE_MODEL = "bench/mixture-of-real-embeddings"


class MixtureEmbedder:
    """Stand-in vectors for the site's index: each text gets a fixed mixture of real passage
    embeddings (the rate of the real embedder is measured separately)."""

    def __init__(self, base: Vectors) -> None:
        self.base = base

    @property
    def model_id(self) -> str:
        return MIXTURE_MODEL

    @property
    def dim(self) -> int:
        return int(self.base.shape[1])

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        rows = [
            synthetic_vectors(self.base, 1, int(hashlib.sha256(t.encode()).hexdigest()[:8], 16))[0]
            for t in texts
        ]
        return np.vstack(rows).astype(np.float32)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self.embed_passages(texts)


@dataclass(frozen=True)
class Rates:
    """What was measured on this machine."""

    site_pages: int
    crawl_pages_per_min: float  # first crawl, 127.0.0.1, no download delay
    crawl_cpu_ms_per_page: float  # the crawl worker's CPU
    recrawl_pages_per_min: float  # the re-crawl after changed_share of pages changed
    recrawl_cpu_ms_per_page: float
    recrawl_changed: int  # pages the re-crawl found changed
    not_modified_share: float  # of the unchanged pages, the share answered 304
    passages_per_page: float
    reindex_unchanged_s: float  # this code: told from page versions alone
    reindex_rechunk_s: float  # the same re-index before the chunk cache: every page chunked
    reindex_changed_s: float  # after the re-crawl (changed pages chunked, new version built)
    reindex_changed_chunked: int  # pages chunked by it
    embed_passages_per_s: float
    build_passages: int
    build_s_per_10k: float  # FAISS + BM25 + passages + switch, at build_passages
    hnsw_add_1pct_s: float  # adding 1% more vectors to the built graph instead
    store_bytes_per_page: float
    index_bytes_per_passage: float  # one index version on disk
    cache_bytes_per_passage: float  # embedding cache + chunk cache
    ram_bytes_per_passage: float  # one loaded index


@dataclass(frozen=True)
class Assumptions:
    """What the projection assumes; each can be set on the command line."""

    municipalities: int = 40
    pages_per_municipality: int = 8_000
    passages_per_municipality: int = 60_000
    national_pages: int = 3_000  # borger.dk articles shared by every tenant
    changed_share: float = 0.01  # of pages changed per day
    download_delay: float = 0.5  # seconds between requests to one host (the default)
    workers: int = 8  # sources crawled at once
    keep_versions: int = 3  # index versions kept per tenant (the default)
    max_loaded_tenants: int = 16  # tenants one process holds in memory (the default)


@dataclass(frozen=True)
class ProjectionRow:
    step: str
    quantity: str
    figure: str


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _files_size(path: Path) -> int:
    """A SQLite file with its WAL and shared-memory files."""
    return sum(
        _size(Path(f"{path}{suffix}"))
        for suffix in ("", "-wal", "-shm")
        if Path(f"{path}{suffix}").exists()
    )


_LOAD_AND_MEASURE = """
import sys
from pathlib import Path
from muni_crawl.index import load_current

def rss():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmRSS:"))

before = rss()
index = load_current(Path(sys.argv[1]), "bench")
print(rss() - before)
"""


def _loaded_bytes(indexes: Path) -> int:
    """The resident memory a fresh process gains by loading the index (no build before it
    whose freed memory the load could reuse)."""
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_MEASURE, str(indexes)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return int(done.stdout.split()[-1])


def _median_time(call: Callable[[], object], repeat: int = 3) -> float:
    times = sorted(timed(call)[1] for _ in range(repeat))
    return times[len(times) // 2]


def _change_pages(site: Path, share: float, seed: int = 14) -> int:
    """Add a paragraph to `share` of the site's pages (at least one); returns how many."""
    pages = sorted(site.rglob("index.html"))[1:]  # not the front page
    chosen = random.Random(seed).sample(pages, max(1, round(share * len(pages))))
    for path in chosen:
        html = path.read_text(encoding="utf-8")
        note = "<p>Opdateret: åbningstiderne er ændret fra næste uge, se kalenderen.</p>\n"
        path.write_text(html.replace("    </article>", note + "    </article>", 1), "utf-8")
    return len(chosen)


def _rechunk_all(settings: Settings) -> None:
    """What every re-index did before the chunk cache: read and chunk every page."""
    limits = settings.index
    with PageStore(settings.database) as store:
        pages = tenant_pages(store, Home.of(settings).registry, SOURCE)
    for page in pages:
        chunk_page(page, min_tokens=limits.chunk_min_tokens, max_tokens=limits.chunk_max_tokens)


def measure(pages: int, build_passages: int, sample: int, changed_share: float) -> Rates:
    """Measure every rate the projection needs (see the module docstring)."""
    with scratch_dir("muni-crawl-projection-") as work:
        site, home = work / "site", work / "home"
        site.mkdir()
        pages = write_site(site, pages)
        running = serve(site, name=SOURCE)
        try:
            write_home(home, running.url, pages)
            cache = work / "embeddings.db"
            settings = Settings.load(
                home, autothrottle=False, concurrency_per_host=8, embedding_cache=cache
            )
            print(f"crawling {pages} pages ...", file=sys.stderr, flush=True)
            first = measured_crawl("first", settings)

            # real embeddings of a sample of the site's passages: the embedding rate, and the
            # base of the stand-in vectors
            with PageStore(settings.database) as store:
                site_pages = tenant_pages(store, Home.of(settings).registry, SOURCE)
            texts = [p.search_text() for page in site_pages[:sample] for p in chunk_page(page)]
            texts = texts[:sample]
            embedder = embedder_for(settings.embedding)
            embedder.embed_passages(texts[:2])  # load the model
            base, embed_s = timed(lambda: embedder.embed_passages(texts))
            stand_in = MixtureEmbedder(base)

            print("indexing ...", file=sys.stderr, flush=True)
            [built] = build_indexes([SOURCE], home=settings, embedder=stand_in)
            unchanged = _median_time(
                lambda: build_indexes([SOURCE], home=settings, embedder=stand_in)
            )
            rechunk = _median_time(lambda: _rechunk_all(settings))

            _change_pages(site, changed_share)
            again = measured_crawl("re-crawl", settings)
            [changed], changed_s = timed(
                lambda: build_indexes([SOURCE], home=settings, embedder=stand_in)
            )
            indexes = settings.paths.indexes_dir
            version = tenant_dir(indexes, SOURCE) / str(current_version(indexes, SOURCE))
            store_bytes = _files_size(settings.database) / pages
            index_bytes = _size(version) / changed.passages
            chunk_bytes = _files_size(ChunkCache.path_for(settings.database))
            cache_bytes = (_files_size(cache) + chunk_bytes) / changed.passages
        finally:
            running.stop()

        print(f"building {build_passages} passages ...", file=sys.stderr, flush=True)
        root = work / "build" / "bench"
        root.mkdir(parents=True)
        passages = synthetic_passages(build_passages, random.Random(14))
        vectors = synthetic_vectors(base, build_passages, 14)
        threshold = min(settings.index.hnsw_threshold, build_passages - 1)  # HNSW, as at 60k
        _, build_s = timed(
            lambda: write_version(
                root,
                passages,
                vectors,
                tenant="bench",
                model_id=MIXTURE_MODEL,
                digest="0" * 64,
                sources={},
                hnsw_threshold=threshold,
                keep_versions=1,
            )
        )
        ram = _loaded_bytes(work / "build") / build_passages
        loaded = load_current(work / "build", "bench")
        extra = synthetic_vectors(base, max(1, build_passages // 100), 15)
        add_s = float("nan")
        if loaded.manifest.dense_type == "hnsw":
            _, add_s = timed(lambda: loaded.dense.add(extra))

    seen_unchanged = again.seen - again.summary.changed
    return Rates(
        site_pages=pages,
        crawl_pages_per_min=first.pages_per_minute or 0.0,
        crawl_cpu_ms_per_page=1000 * first.cpu_s / max(1, first.seen),
        recrawl_pages_per_min=again.pages_per_minute or 0.0,
        recrawl_cpu_ms_per_page=1000 * again.cpu_s / max(1, again.seen),
        recrawl_changed=again.summary.changed,
        not_modified_share=again.summary.not_modified / max(1, seen_unchanged),
        passages_per_page=built.passages / max(1, built.documents),
        reindex_unchanged_s=unchanged,
        reindex_rechunk_s=rechunk,
        reindex_changed_s=changed_s,
        reindex_changed_chunked=changed.chunked_pages,
        embed_passages_per_s=len(texts) / embed_s,
        build_passages=build_passages,
        build_s_per_10k=build_s * 10_000 / build_passages,
        hnsw_add_1pct_s=add_s,
        store_bytes_per_page=store_bytes,
        index_bytes_per_passage=index_bytes,
        cache_bytes_per_passage=cache_bytes,
        ram_bytes_per_passage=ram,
    )


# -- the projection -----------------------------------------------------------------------------


def _hours(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 72 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _gib(size: float) -> str:
    return f"{size / 1024**3:.1f} GiB"


def project(rates: Rates, a: Assumptions) -> list[ProjectionRow]:
    """The daily cycle of `a.municipalities` tenants at the measured rates."""
    cores = os.cpu_count() or 1
    tenants, site_pages, own = (
        a.municipalities,
        a.pages_per_municipality,
        a.passages_per_municipality,
    )
    national = round(a.national_pages * rates.passages_per_page)  # borger.dk passages
    pages = tenants * site_pages + a.national_pages
    unique = tenants * own + national  # embedded once each: the cache shares national text
    copied = tenants * (own + national)  # national text copied into every tenant's index
    changed_passages = a.changed_share * unique
    bounded = min(tenants, a.max_loaded_tenants) if a.max_loaded_tenants > 0 else tenants

    def build_s(passages: float) -> float:
        return rates.build_s_per_10k * passages / 10_000

    builds_copied = _hours(tenants * build_s(own + national))
    builds_once = _hours(tenants * build_s(own) + build_s(national))
    # politeness: one request per download_delay per host, `workers` hosts at once
    polite = _hours(math.ceil(tenants / a.workers) * site_pages * a.download_delay)
    crawl_cpu = _hours(pages * rates.crawl_cpu_ms_per_page / 1000 / cores)
    recrawl_cpu = _hours(pages * rates.recrawl_cpu_ms_per_page / 1000 / cores)
    unchanged = _hours(tenants * site_pages * rates.reindex_unchanged_s / rates.site_pages)
    rechunked = _hours(tenants * site_pages * rates.reindex_rechunk_s / rates.site_pages)
    disk_copied = _gib(_disk(rates, a, pages, unique, copied))
    disk_once = _gib(_disk(rates, a, pages, unique, unique))
    embed_rate = rates.embed_passages_per_s
    return [
        ProjectionRow(
            "first crawl",
            f"{pages:,} pages",
            f"{crawl_cpu} of CPU on {cores} cores; {polite} at a {a.download_delay:g} s delay,"
            f" {a.workers} sites at once",
        ),
        ProjectionRow(
            "first embedding",
            f"{unique:,} passages",
            f"{_hours(unique / embed_rate)} at {embed_rate:.1f} passages/s",
        ),
        ProjectionRow(
            "first index builds",
            f"{tenants} x {own:,} + {national:,} shared passages",
            f"{builds_once} (national held once, as built now); before: {builds_copied}"
            " (national copied into every tenant)",
        ),
        ProjectionRow(
            "daily re-crawl",
            f"{pages:,} pages, {a.changed_share:.0%} changed",
            f"{recrawl_cpu} of CPU; {polite} at the delay"
            f" ({rates.not_modified_share:.0%} of unchanged pages answered 304)",
        ),
        ProjectionRow(
            "daily embedding",
            f"{changed_passages:,.0f} passages",
            _hours(changed_passages / embed_rate),
        ),
        ProjectionRow(
            "daily re-index, no change",
            f"{tenants} tenants",
            f"{unchanged} (every page re-chunked, as before: {rechunked})",
        ),
        ProjectionRow(
            "daily re-index, pages changed",
            f"{tenants} tenants",
            f"{_hours(tenants * build_s(own))} (held once); before: {builds_copied}",
        ),
        ProjectionRow(
            "re-index after a borger.dk change",
            f"1 shared index of {national:,} passages",
            f"{_hours(build_s(national))} (the tenants' own indexes are not rebuilt);"
            f" before: {builds_copied} (every tenant rebuilt)",
        ),
        ProjectionRow(
            "disk",
            f"{pages:,} pages, {a.keep_versions} index versions",
            f"{disk_once} (held once); before: {disk_copied}",
        ),
        ProjectionRow(
            "RAM, all tenants loaded",
            f"{unique:,} passages (before: {copied:,})",
            f"{_gib(unique * rates.ram_bytes_per_passage)} (held once);"
            f" before: {_gib(copied * rates.ram_bytes_per_passage)}",
        ),
        ProjectionRow(
            "RAM, bounded",
            f"at most {bounded} of {tenants} tenants loaded + shared",
            f"{_gib((bounded * own + national) * rates.ram_bytes_per_passage)}"
            " (max_loaded_tenants; the least recently asked tenant is dropped)",
        ),
    ]


def _disk(rates: Rates, a: Assumptions, pages: int, unique: int, indexed: int) -> float:
    return (
        pages * rates.store_bytes_per_page
        + a.keep_versions * indexed * rates.index_bytes_per_passage
        + unique * rates.cache_bytes_per_passage
    )


@dataclass(frozen=True)
class ProjectionResult:
    rates: Rates
    assumptions: Assumptions
    rows: list[ProjectionRow]


def run(
    quick: bool = False, pages: int | None = None, assumptions: Assumptions | None = None
) -> ProjectionResult:
    """Measure the rates and project the daily cycle (benchmarks/run_all.py calls this)."""
    a = assumptions or Assumptions()
    site_pages = pages or (300 if quick else 1500)
    build_passages = 10_000 if quick else a.passages_per_municipality
    rates = measure(site_pages, build_passages, 32 if quick else 64, a.changed_share)
    return ProjectionResult(rates, a, project(rates, a))


def report(result: ProjectionResult) -> str:
    r, a = result.rates, result.assumptions
    measured = [
        (
            "crawl, first",
            f"{r.crawl_pages_per_min:.0f} pages/min, {r.crawl_cpu_ms_per_page:.1f} CPU ms/page",
        ),
        (
            "crawl, daily",
            f"{r.recrawl_pages_per_min:.0f} pages/min, {r.recrawl_cpu_ms_per_page:.1f} CPU ms/page,"
            f" {r.recrawl_changed} changed, {r.not_modified_share:.0%} of unchanged answered 304",
        ),
        ("passages per page", f"{r.passages_per_page:.2f}"),
        ("embedding", f"{r.embed_passages_per_s:.1f} passages/s"),
        (
            "index build",
            f"{r.build_s_per_10k:.1f} s per 10k passages (at {r.build_passages:,});"
            f" adding 1% to the HNSW graph {r.hnsw_add_1pct_s:.2f} s",
        ),
        (
            f"re-index, {r.site_pages} pages",
            f"unchanged {r.reindex_unchanged_s:.2f} s (every page re-chunked:"
            f" {r.reindex_rechunk_s:.2f} s); after the re-crawl {r.reindex_changed_s:.2f} s,"
            f" {r.reindex_changed_chunked} pages chunked",
        ),
        (
            "disk",
            f"{r.store_bytes_per_page:,.0f} B/page (pages database);"
            f" {r.index_bytes_per_passage:,.0f} B/passage (index version),"
            f" {r.cache_bytes_per_passage:,.0f} B/passage (caches)",
        ),
        ("RAM", f"{r.ram_bytes_per_passage:,.0f} B per loaded passage"),
    ]
    assumed = ", ".join(f"{f.name}={getattr(a, f.name)}" for f in fields(a))
    return "\n".join(
        [
            f"projection benchmark: {today()}, {machine()}, generated site of {r.site_pages} pages",
            "measured:",
            format_table(None, measured, align="ll"),
            f"assumed: {assumed}; national passages = national_pages x passages per page;"
            " a changed page's passages all change; builds run one after another",
            format_table(
                ("step", "quantity", "projection"),
                [(x.step, x.quantity, x.figure) for x in result.rows],
                align="lll",
                rule=True,
            ),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 300-page site, a 10k build")
    parser.add_argument("--pages", type=int, help="pages of the generated site")
    defaults = Assumptions()
    for f in fields(Assumptions):
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            type=type(getattr(defaults, f.name)),
            default=getattr(defaults, f.name),
            help=f"assumed (default {getattr(defaults, f.name)})",
        )
    args = parser.parse_args(argv)
    if args.pages is not None and args.pages < 10:
        parser.error("--pages must be at least 10")
    assumed = Assumptions(**{f.name: getattr(args, f.name) for f in fields(Assumptions)})
    print(report(run(args.quick, args.pages, assumed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
