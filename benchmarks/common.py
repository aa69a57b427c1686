"""What the benchmarks share: timing, percentiles, the machine, tables, homes and the example.

Each benchmark (crawl, retrieval_speed, retrieval_quality, answer, redaction) has a `run(...)`
that measures and returns its rows, and a `main()` that prints them; run_all.py calls every
`run(...)` in one process and prints one summary table. This module holds what they have in
common, so the same figure is computed the same way everywhere.
"""

from __future__ import annotations

import fcntl
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from muni_crawl import Settings
from muni_crawl.crawl import run_crawl
from muni_crawl.example.server import serve_examples
from muni_crawl.index import build_indexes

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_CACHE = BENCH_DIR / ".cache" / "embeddings.db"  # git-ignored

# the bundled example: its sources (served on 127.0.0.1:8761-8764) and its two tenants
EXAMPLE_SOURCES = ["example", "naboby", "example-borger", "example-selvbetjening"]
EXAMPLE_TENANTS = ["example", "naboby"]

# the one tenant of the generated benchmark homes (crawl, retrieval_speed)
BENCH_TENANT = "bench"
BENCH_TENANT_NAME = "Bench Kommune"

T = TypeVar("T")


class BenchmarkError(Exception):
    """A benchmark's input or set-up is unusable (questions file, example build, ports)."""


# -- measuring --------------------------------------------------------------------------------


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """call()'s result and the wall-clock seconds it took."""
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def percentile(values: Sequence[float], q: float) -> float:
    """The value at rank int(q * n) of the sorted values (the largest for q near 1); 0 if none."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


# -- the machine --------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> str:
    """'<CPU model>, <n> cores', for the first line of every benchmark's output."""
    return f"{cpu_model()}, {os.cpu_count()} cores"


def today() -> str:
    return time.strftime("%Y-%m-%d")


# -- tables -----------------------------------------------------------------------------------


def format_table(
    header: Sequence[str] | None,
    rows: Sequence[Sequence[str]],
    *,
    align: str = "",
    rule: bool = False,
) -> str:
    """A plain-text table, each column as wide as its widest cell and two spaces apart.

    `align` has one letter per column, "l" (left) or "r" (right); by default the first column
    is left-aligned and the others right-aligned. `rule` underlines the header (if any)."""
    table = [list(row) for row in ([header] if header is not None else []) + list(rows)]
    columns = len(table[0]) if table else 0
    align = align or "l" + "r" * (columns - 1)
    if len(align) != columns or set(align) - {"l", "r"}:
        raise ValueError(f"align {align!r} does not fit {columns} columns")
    widths = [max(len(row[i]) for row in table) for i in range(columns)]
    lines = []
    for row in table:
        cells = [
            cell.ljust(width) if side == "l" else cell.rjust(width)
            for cell, width, side in zip(row, widths, align, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    if rule and header is not None:
        lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


# -- homes ------------------------------------------------------------------------------------


@contextmanager
def scratch_dir(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temporary folder, removed afterwards unless `keep` (then its path goes to stderr)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        if keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def write_bench_tenant(home: Path) -> Path:
    """Make `home` a home with the one tenant `bench` (spiders/tenants.toml); returns spiders/."""
    spiders = home / "spiders"
    spiders.mkdir(parents=True, exist_ok=True)
    (spiders / "tenants.toml").write_text(
        f'[{BENCH_TENANT}]\nname = "{BENCH_TENANT_NAME}"\ncode = 990\n'
        'contact_url = "https://bench.invalid/kontakt"\n',
        encoding="utf-8",
    )
    return spiders


def prepare_cache(cache: Path) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)  # benchmarks/.cache/ is git-ignored


# -- the bundled example ----------------------------------------------------------------------


@contextmanager
def example_home(home: Path | None) -> Iterator[Path]:
    """The given home, or a temporary one holding the repository's spiders/ (nothing built)."""
    if home is not None:
        yield home
        return
    with tempfile.TemporaryDirectory(prefix="muni-crawl-quality-") as tmp:
        built = Path(tmp)
        shutil.copytree(REPO / "spiders", built / "spiders")
        yield built


@contextmanager
def example_ports() -> Iterator[None]:
    """The example's fixed ports, shared with test sessions (tests/conftest.py's lock)."""
    path = Path(tempfile.gettempdir()) / "muni_crawl-example-ports.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def crawl_example(settings: Settings) -> None:
    """Serve the bundled example and crawl it into settings.home (nothing is indexed)."""
    try:
        sites = serve_examples()
    except OSError as exc:
        raise BenchmarkError(
            f"cannot serve the example sites on ports 8761-8764 (is a demo running?): {exc}"
        ) from exc
    try:
        summaries = run_crawl(EXAMPLE_SOURCES, home=settings)
    finally:
        for site in sites:
            site.stop()
    failed = [f"{s.source}: {s.message}" for s in summaries if s.status == "failed"]
    if failed:
        raise BenchmarkError("crawl failed: " + "; ".join(failed))


def build_example(settings: Settings) -> None:
    """Serve, crawl and index the bundled example in settings.home."""
    started = time.perf_counter()
    crawl_example(settings)
    crawled = time.perf_counter()
    results = build_indexes(EXAMPLE_TENANTS, home=settings)
    new = sum(r.new_embeddings for r in results)
    print(
        f"built the example: crawl {crawled - started:.1f} s, index"
        f" {time.perf_counter() - crawled:.1f} s ({new} new embeddings)",
        file=sys.stderr,
    )


@contextmanager
def built_example(home: Path | None, cache: Path) -> Iterator[Settings]:
    """Settings for `home` (already crawled and indexed), or for a temporary home in which the
    example is built now; passage embeddings are cached in `cache`."""
    prepare_cache(cache)
    with example_home(home) as folder:
        settings = Settings.load(folder, embedding_cache=cache)
        if home is None:
            build_example(settings)
        yield settings
