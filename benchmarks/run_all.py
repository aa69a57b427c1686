"""Every benchmark in one run, summarised in one table where each figure stands beside its
anchor measured in the same run, with the ratio.

Calls the `run(...)` of crawl.py (our crawler beside a bare Scrapy spider, one that also runs
trafilatura, and an ETag re-crawl; medians of 3 runs, 1 with --quick), embedding_speed.py
(passages/s and tokens/s as a share of this machine's matmul limit), retrieval_speed.py
(retrieve() alone and beside a bulk embedding process; search beside raw FAISS),
retrieval_quality.py, no_evidence.py, answer.py (our token count beside the provider's) and
serve_load.py (the last four share one example build), and projection.py (forty
municipalities), then prints the summary table followed by each benchmark's own tables. It
exits with an error when the crawl benchmark finds a problem or retrieval quality is below a
floor.

Run: python benchmarks/run_all.py [--quick]   (--quick: 500-page crawl, 10k passages only)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import (
    answer,
    crawl,
    embedding_speed,
    no_evidence,
    projection,
    retrieval_quality,
    retrieval_speed,
    serve_load,
)
from benchmarks.common import DEFAULT_CACHE, built_example, format_table, machine, today
from benchmarks.crawl_anchors import AnchorRow


def _running(what: str) -> None:
    print(f"running {what} ...", file=sys.stderr, flush=True)


def _per_minute(row: crawl.CrawlRow | AnchorRow) -> str:
    rate = row.pages_per_minute
    return "-" if rate is None else f"{rate:.0f}"


def _mib(row: crawl.CrawlRow) -> str:
    return "- MiB" if row.peak_rss_mib is None else f"{row.peak_rss_mib:.0f} MiB"


def _embedding_rows(result: embedding_speed.EmbeddingSpeed) -> list[tuple[str, str, str]]:
    """Passage embedding per runtime, as a share of the machine's matmul limit."""
    rows = []
    for row in result.rows:
        if row.order != "sorted":
            continue
        rows.append(
            (
                "embedding passages",
                f"{row.runtime}, {os.cpu_count()} cores",
                f"{row.passages_per_s:.1f} passages/s, {row.tokens_per_s:.0f} tokens/s ="
                f" {result.share(row):.1%} of the matmul limit ({result.limit_gflops:.0f}"
                " GFLOP/s)",
            )
        )
    return rows


def _latency_rows(row: retrieval_speed.SpeedRow) -> tuple[str, str, str]:
    """retrieve() with its query embedding, alone and beside a bulk embedding process."""
    alone, busy = row.alone, row.loaded
    loaded = (
        ""
        if busy is None
        else (
            f"; busy machine p50 {busy.p50_ms:.1f}, p95 {busy.p95_ms:.1f} ms ({busy.tail:.1f}x p50)"
        )
    )
    return (
        "query latency",
        f"{row.passages // 1000}k, {row.kind}",
        f"p50 {alone.p50_ms:.1f}, p95 {alone.p95_ms:.1f} ms ({alone.tail:.1f}x p50){loaded}",
    )


def _search_rows(row: retrieval_speed.SpeedRow) -> tuple[str, str, str]:
    """retrieve() given the vector beside its anchor, raw FAISS, and its overhead."""
    parts = row.parts
    share = parts.overhead_ms / parts.search_ms if parts.search_ms else 0.0
    return (
        "search, vector given",
        f"{row.passages // 1000}k, {row.kind}",
        f"{parts.retrieve_ms:.2f} ms vs raw FAISS {parts.raw_faiss_ms:.2f} ms"
        f" ({parts.retrieve_ms / parts.raw_faiss_ms:.1f}x); overhead outside search"
        f" {parts.overhead_ms:.2f} ms = {share:.2f}x the search",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    pages = 500 if args.quick else 2000
    sizes = [10_000] if args.quick else [10_000, 100_000]

    repeat = 1 if args.quick else 3
    _running(f"crawl.py --pages {pages} --repeat {repeat}")
    crawled = crawl.run(pages, repeat=repeat)
    if crawled.problems:
        print(crawl.report(crawled), file=sys.stderr)
        raise SystemExit("crawl benchmark failed: " + "; ".join(crawled.problems))
    _running("embedding_speed.py" + (" --quick" if args.quick else ""))
    embedding = embedding_speed.run(quick=args.quick)
    _running(f"retrieval_speed.py --sizes {' '.join(map(str, sizes))}")
    speed = retrieval_speed.run(sizes)
    _running("retrieval_quality.py --check, then answer.py, on one example build")
    with built_example(None, DEFAULT_CACHE) as settings:
        quality = retrieval_quality.run(settings.home, DEFAULT_CACHE)
        below = retrieval_quality.floor_failures(quality.groups)
        if below:
            raise SystemExit("retrieval quality below its floors: " + "; ".join(below))
        _running("no_evidence.py, on the same build")
        gate = no_evidence.run(settings.home, DEFAULT_CACHE)
        answers = answer.run(settings.home, DEFAULT_CACHE)
        _running("serve_load.py" + (" --quick" if args.quick else ""))
        served = serve_load.run(settings.home, DEFAULT_CACHE, quick=args.quick)

    _running("projection.py" + (" --quick" if args.quick else ""))
    projected = projection.run(quick=args.quick)

    first, again = crawled.first, crawled.again
    bare, extracting, etag = crawled.comparisons
    flat = speed.row(sizes[0], "flat")
    big = speed.row(sizes[-1], "hnsw" if len(sizes) > 1 else "flat")
    layouts = [flat, big, *(r for r in speed.rows if r.shared)]  # + the shared national layout
    llm = next(r for r in answers if r.label == "llm, on-topic")
    four = next(r for r in served if r.mode == "extractive" and r.clients == 4)
    overall = quality.overall
    questions = f"{len(quality.outcomes)} questions"
    evidence = quality.evidence
    refused = gate.overall
    tokens = llm.token_ratio
    rows = [
        (
            "crawl, first",
            f"{pages} pages",
            f"{_per_minute(first)} pages/min, {first.cpu_s:.1f} CPU s, {_mib(first)}:"
            f" {bare.ratio:.2f}x Scrapy bare ({_per_minute(bare.anchor)}),"
            f" {extracting.ratio:.2f}x Scrapy+trafilatura ({_per_minute(extracting.anchor)})",
        ),
        (
            "crawl, unchanged re-crawl",
            f"{pages} pages",
            f"{_per_minute(again)} pages/min, {again.summary.changed} changed:"
            f" {etag.ratio:.2f}x Scrapy with ETags ({_per_minute(etag.anchor)})",
        ),
        *(_embedding_rows(embedding)),
        (
            "index build",
            f"{sizes[0] // 1000}k passages",
            f"{flat.build_rate:.0f} passages/s (FAISS + BM25 + switch)",
        ),
        *(_latency_rows(row) for row in dict.fromkeys(layouts)),
        *(_search_rows(row) for row in dict.fromkeys(layouts)),
        (
            "retrieval quality",
            questions,
            f"recall@1 {overall['recall@1']:.3f}, recall@5 {overall['recall@5']:.3f},"
            f" MRR {overall['mrr']:.3f}",
        ),
        (
            "extractive answers",
            questions,
            f"evidence in the answer: {evidence['overall']['evidence']:.1%} overall,"
            f" {evidence['da']['evidence']:.1%} da, {evidence['other']['evidence']:.1%} other",
        ),
        (
            "no-evidence gate",
            f"{refused.off_topic} off-topic, {refused.answerable} answerable",
            f"{refused.refused_after:.1%} off-topic refused at 0 tokens"
            f" (single threshold: {refused.refused_before:.1%}),"
            f" {refused.wrong_after:.1%} answerable wrongly refused",
        ),
        (
            "prompt tokens/answer",
            questions,
            f"mean {llm.tokens_mean:.0f}, p95 {llm.tokens_p95:.0f}; ours/provider's count"
            + (" -" if tokens is None else f" {tokens:.4f}x"),
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
    print("\n--- embedding_speed.py ---\n" + embedding_speed.report(embedding))
    print("\n--- retrieval_speed.py ---\n" + retrieval_speed.report(speed))
    print("\n--- retrieval_quality.py ---\n" + quality.summary())
    print(retrieval_quality.table(quality.groups))
    print(retrieval_quality.evidence_table(quality.evidence))
    print("\n--- no_evidence.py ---\n" + no_evidence.report(gate))
    print("\n--- answer.py ---\n" + answer.report(answers))
    print("\n--- serve_load.py ---\n" + serve_load.report(served))
    print("\n--- projection.py ---\n" + projection.report(projected))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
