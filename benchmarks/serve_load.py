"""Serving benchmark: `muni-crawl serve` under 1, 4 and 16 concurrent HTTP clients.

Why: a hosted chatbot calls the HTTP API for many citizens at once, and each waits for its
answer. This starts the real command (`muni-crawl serve`, a subprocess on 127.0.0.1) over the
built example, and sends a fixed number of questions (the example question set, cycled) from
1, 4 and 16 client threads, each with its own keep-alive connection. It does so twice:
extractive answers (no LLM), and answers through the local OpenAI-compatible test server
(tests/fake_openai.py) that replies after a fixed delay, standing in for the LLM's own time.
Every question is answered afresh (MUNI_CRAWL_REUSE_PENDING_SECONDS=0).

Printed per run: throughput, p50/p95/p99 latency as the client sees it, and errors (anything
but a 200, or no response). The single-client p50 of each mode is the anchor; "p95/p50(1)"
is the run's p95 over that anchor, with the LLM delay taken out of both for the LLM rows.

Run: python benchmarks/serve_load.py [--home DIR] [--quick]
Goal: 0 errors; p95 at 4 clients within 3x the single-client p50 (LLM time excluded).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2

from benchmarks.common import (
    DEFAULT_CACHE,
    REPO,
    BenchmarkError,
    built_example,
    format_table,
    machine,
    percentile,
    today,
)
from benchmarks.retrieval_quality import DEFAULT_QUESTIONS, load_questions
from tests.fake_openai import FakeOpenAI, start_fake_openai

CLIENTS = (1, 4, 16)
QUESTIONS = 96  # per run; --quick: 32
LLM_DELAY_S = 0.2  # the test LLM's own time per reply
SERVER_THREADS = 4  # `muni-crawl serve --threads` (its default)
SERVER_WORKERS = 1  # `muni-crawl serve --workers` (its default); --workers 2 to compare
TARGET_FACTOR = 3.0
BENCH_KEY = "serve-load-benchmark-key-0123456789"
REPLY = "Svaret står i kilden: se vejledningen på kommunens side [1]."


@dataclass(frozen=True)
class LoadRow:
    """One run: a mode (extractive or llm) at one number of concurrent clients."""

    mode: str
    clients: int
    n: int
    errors: int
    wall_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    statuses: dict[str, int]
    llm_delay_ms: float  # subtracted for the p95/p50(1) ratio (0 for extractive)

    @property
    def throughput(self) -> float:
        return self.n / self.wall_s if self.wall_s else 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(
    home: Path, cache: Path, llm: FakeOpenAI | None, workers: int = SERVER_WORKERS
) -> Iterator[str]:
    """`muni-crawl serve` on a free port of 127.0.0.1, ready; yields its base URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MUNI_CRAWL_", "OPENAI_"))}
    env.update(
        MUNI_CRAWL_HOME=str(home),
        MUNI_CRAWL_EMBEDDING_CACHE=str(cache),
        MUNI_CRAWL_API_KEYS=BENCH_KEY,
        MUNI_CRAWL_REUSE_PENDING_SECONDS="0",
    )
    if llm is not None:
        env.update(
            OPENAI_BASE_URL=llm.url,
            OPENAI_API_KEY="bench",
            MUNI_CRAWL_LLM_MODEL="gpt-4o-mini",
            MUNI_CRAWL_LLM_RETRIES="0",
        )
    command = [sys.executable, "-m", "muni_crawl", "-q", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--threads", str(SERVER_THREADS), "--workers", str(workers)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        yield url
    finally:
        process.terminate()
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        if process.returncode not in (0, -15):
            print(err, file=sys.stderr)


def _wait_ready(url: str, process: subprocess.Popen[str], deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(
                f"muni-crawl serve exited: {process.stderr and process.stderr.read()}"
            )
        try:
            if httpx2.get(url + "/readyz", timeout=5).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    raise BenchmarkError(f"muni-crawl serve was not ready after {deadline_s} s")


def load(
    url: str, items: list[tuple[str, str]], clients: int
) -> tuple[list[float], int, dict[str, int], float]:
    """Send every (tenant, question) from `clients` threads; (latencies ms, errors, answer
    statuses, wall seconds)."""
    lock = threading.Lock()
    queue = list(reversed(items))
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0

    def client() -> None:
        nonlocal errors
        headers = {"Authorization": f"Bearer {BENCH_KEY}"}
        with httpx2.Client(base_url=url, headers=headers, timeout=60) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    tenant, question = queue.pop()
                started = time.perf_counter()
                try:
                    response = http.post(
                        f"/v1/tenants/{tenant}/answers", json={"question": question}
                    )
                    status = response.json().get("status") if response.status_code == 200 else None
                except (httpx2.HTTPError, ValueError):
                    status = None
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    if status is None:
                        errors += 1
                    else:
                        statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, statuses, time.perf_counter() - started


def run(
    home: Path | None = None,
    cache: Path = DEFAULT_CACHE,
    *,
    quick: bool = False,
    workers: int = SERVER_WORKERS,
) -> list[LoadRow]:
    """Both modes at 1, 4 and 16 clients; without `home`, the example is built first. The
    Danish questions only: a question in another language may take a second LLM call (the
    retry after a reply in the wrong language), which would blur "LLM time excluded"."""
    n = 32 if quick else QUESTIONS
    questions = [
        (q.tenant, q.question) for q in load_questions(DEFAULT_QUESTIONS) if q.language == "da"
    ]
    items = [questions[i % len(questions)] for i in range(n)]
    fake = start_fake_openai()
    rows: list[LoadRow] = []
    try:
        with built_example(home, cache) as settings:
            for mode, llm in (("extractive", None), ("llm", fake)):
                delay = LLM_DELAY_S if llm is not None else 0.0
                with running_server(settings.home, cache, llm, workers) as url:
                    # warm every worker and thread: the first answers open connections
                    warm = 4 * workers * SERVER_THREADS
                    for _ in range(warm):
                        fake.enqueue(REPLY, completion_tokens=14, delay=delay)
                    load(url, [items[i % n] for i in range(warm)], workers * SERVER_THREADS)
                    for clients in CLIENTS:
                        fake.replies.clear()
                        for _ in range(2 * n):  # more than enough: a retry takes a second one
                            fake.enqueue(REPLY, completion_tokens=14, delay=delay)
                        latencies, errors, statuses, wall = load(url, items, clients)
                        rows.append(
                            LoadRow(
                                mode=mode,
                                clients=clients,
                                n=n,
                                errors=errors,
                                wall_s=wall,
                                p50_ms=percentile(latencies, 0.50),
                                p95_ms=percentile(latencies, 0.95),
                                p99_ms=percentile(latencies, 0.99),
                                statuses=statuses,
                                llm_delay_ms=delay * 1000,
                            )
                        )
    finally:
        fake.stop()
    return rows


def anchor(rows: list[LoadRow], mode: str) -> float:
    """The single-client p50 of a mode, LLM time excluded."""
    single = next(r for r in rows if r.mode == mode and r.clients == 1)
    return single.p50_ms - single.llm_delay_ms


def ratio(row: LoadRow, rows: list[LoadRow]) -> float:
    base = anchor(rows, row.mode)
    return (row.p95_ms - row.llm_delay_ms) / base if base > 0 else 0.0


def target_failures(rows: list[LoadRow]) -> list[str]:
    """Why the rows miss the goal (errors, or p95 at 4 clients over 3x the anchor)."""
    problems = [f"{r.mode} x{r.clients}: {r.errors} errors" for r in rows if r.errors]
    for row in rows:
        if row.clients == 4 and ratio(row, rows) > TARGET_FACTOR:
            problems.append(
                f"{row.mode} x4: p95 is {ratio(row, rows):.1f}x the single-client p50"
                f" (target {TARGET_FACTOR:.0f}x)"
            )
    return problems


def table(rows: list[LoadRow]) -> str:
    header = (
        "mode",
        "clients",
        "n",
        "answers/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "p95/p50(1)",
        "errors",
        "statuses",
    )
    cells = [
        [
            r.mode,
            f"{r.clients}",
            f"{r.n}",
            f"{r.throughput:.1f}",
            f"{r.p50_ms:.0f}",
            f"{r.p95_ms:.0f}",
            f"{r.p99_ms:.0f}",
            f"{ratio(r, rows):.1f}x",
            f"{r.errors}",
            " ".join(f"{k}:{v}" for k, v in sorted(r.statuses.items())),
        ]
        for r in rows
    ]
    return format_table(header, cells, align="lrrrrrrrrl")


def report(rows: list[LoadRow], workers: int = SERVER_WORKERS) -> str:
    """What `python benchmarks/serve_load.py` prints."""
    problems = target_failures(rows)
    verdict = "target met" if not problems else "target missed: " + "; ".join(problems)
    return (
        f"serve load benchmark: {today()}, {machine()}, {workers} worker(s) x {SERVER_THREADS}"
        f" threads, test LLM delay {LLM_DELAY_S * 1000:.0f} ms\n{table(rows)}\n{verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a home with the example already indexed")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--workers", type=int, default=SERVER_WORKERS, help="serve --workers")
    parser.add_argument("--quick", action="store_true", help=f"32 questions a run, not {QUESTIONS}")
    args = parser.parse_args(argv)
    rows = run(args.home, args.cache, quick=args.quick, workers=args.workers)
    print(report(rows, args.workers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
