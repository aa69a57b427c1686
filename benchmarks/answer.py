"""Answer benchmark: prompt tokens per answer, answered vs no_answer, and our own latency.

Why: municipalities pay per token, and the chatbot waits for every answer. This measures, for
the example question set (benchmarks/questions.toml) plus off-topic questions, what the
answer pipeline itself costs: prompt tokens (counted with tiktoken exactly as they would be
sent), the share answered, and end-to-end latency *excluding the LLM's own time*. The "LLM"
is a local OpenAI-compatible server (tests/fake_openai.py) that replies at once with a cited
sentence, so the time measured is redaction, language detection, retrieval, prompt packing,
the HTTP round trip on 127.0.0.1, citation checks and recording.

Run: python benchmarks/answer.py [--home DIR]   (default: builds the example in a temp home)
Goal: at most 1,500 prompt tokens per answer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import retrieval_quality as rq  # noqa: E402

from muni_crawl import Answerer, Settings  # noqa: E402
from tests.fake_openai import start_fake_openai  # noqa: E402

OFF_TOPIC = [
    "Hvad er hovedstaden i Frankrig?",
    "Hvem vandt fodbold-VM i 2018?",
    "Hvordan laver man en god lasagne?",
    "What is the speed of light?",
    "Kan du anbefale en god film?",
    "Hvordan bliver jeg pilot i flyvevåbnet?",
    "Hvad er vejret i morgen?",
    "Hvordan installerer jeg Windows?",
    "Hvem er Danmarks statsminister?",
    "Hvordan strikker man en sweater?",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def run(answerer: Answerer, items: list[tuple[str, str]]) -> dict[str, float]:
    tokens, latencies, answered = [], [], 0
    for tenant, question in items:
        started = time.perf_counter()
        answer = answerer.answer(tenant, question)
        latencies.append((time.perf_counter() - started) * 1000)
        if answer.status != "no_answer":
            answered += 1
        if answer.usage.prompt_tokens:
            tokens.append(answer.usage.prompt_tokens)
    return {
        "n": len(items),
        "answered": answered / len(items),
        "tokens_mean": statistics.mean(tokens) if tokens else 0.0,
        "tokens_p95": percentile([float(t) for t in tokens], 0.95),
        "latency_p50": statistics.median(latencies),
        "latency_p95": percentile(latencies, 0.95),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a home with the example already indexed")
    parser.add_argument("--cache", type=Path, default=rq.DEFAULT_CACHE)
    args = parser.parse_args()
    questions = rq.load_questions(rq.DEFAULT_QUESTIONS)
    rq.prepare_cache(args.cache)
    fake = start_fake_openai()
    try:
        with rq.example_home(args.home) as home:
            settings = Settings.load(home, embedding_cache=args.cache)
            if args.home is None:
                rq.build_example(settings)
            on_topic = [(q.tenant, q.question) for q in questions]
            off_topic = [(t, q) for q in OFF_TOPIC for t in rq.TENANTS]
            rows = []
            extractive = Answerer(settings=settings)
            os.environ.update(OPENAI_BASE_URL=fake.url, OPENAI_API_KEY="bench")
            llm = Answerer(
                settings=Settings.load(home, embedding_cache=args.cache, llm_model="gpt-4o-mini")
            )
            extractive.warm_up(list(rq.TENANTS))
            for label, answerer, items, reply in (
                ("extractive, on-topic", extractive, on_topic, False),
                ("llm, on-topic", llm, on_topic, True),
                ("llm, off-topic", llm, off_topic, True),
            ):
                if reply:
                    for _ in items:
                        fake.enqueue("Svaret står i kilden [1].", completion_tokens=8)
                rows.append((label, run(answerer, items)))
                fake.replies.clear()
    finally:
        fake.stop()
    print(
        f"answer benchmark: {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores,"
        " LLM time excluded (local instant server)"
    )
    print(
        f"{'run':22} {'n':>4} {'answered':>9} {'prompt tok mean':>16} {'p95':>6}"
        f" {'latency p50 ms':>15} {'p95 ms':>7}"
    )
    for label, r in rows:
        print(
            f"{label:22} {r['n']:>4.0f} {r['answered']:>9.0%} {r['tokens_mean']:>16.0f}"
            f" {r['tokens_p95']:>6.0f} {r['latency_p50']:>15.1f} {r['latency_p95']:>7.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
