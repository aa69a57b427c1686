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
from dataclasses import dataclass
from functools import partial
from pathlib import Path

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    DEFAULT_CACHE,
    EXAMPLE_TENANTS,
    built_example,
    format_table,
    machine,
    percentile,
    timed,
    today,
)
from benchmarks.retrieval_quality import DEFAULT_QUESTIONS, load_questions
from muni_crawl import Answerer, Settings
from muni_crawl.tokens import get_encoding
from tests.fake_openai import start_fake_openai

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


@dataclass(frozen=True)
class AnswerRow:
    """One run over a question set: the share answered, prompt tokens and our own latency."""

    label: str
    n: int
    answered: float  # share of the questions not answered with no_answer
    tokens_mean: float  # prompt tokens, over the answers that sent a prompt
    tokens_p95: float
    latency_p50_ms: float
    latency_p95_ms: float
    prompt_tokens: int = 0  # all prompts, counted by us (tiktoken, before sending)
    provider_prompt_tokens: int = 0  # the same prompts, counted by the provider on arrival

    @property
    def token_ratio(self) -> float | None:
        """Our prompt-token count over the provider's (1.0: billing needs no correction)."""
        if not self.provider_prompt_tokens:
            return None
        return self.prompt_tokens / self.provider_prompt_tokens


def measure(label: str, answerer: Answerer, items: list[tuple[str, str]]) -> AnswerRow:
    """Answer every (tenant, question) of `items` in turn."""
    tokens: list[float] = []
    latencies: list[float] = []
    answered = 0
    ours = theirs = 0
    for tenant, question in items:
        answer, seconds = timed(partial(answerer.answer, tenant, question))
        latencies.append(seconds * 1000)
        if answer.status != "no_answer":
            answered += 1
        if answer.usage.prompt_tokens:
            tokens.append(answer.usage.prompt_tokens)
        if answer.usage.provider_prompt_tokens is not None:
            ours += answer.usage.prompt_tokens
            theirs += answer.usage.provider_prompt_tokens
    return AnswerRow(
        label=label,
        n=len(items),
        answered=answered / len(items),
        tokens_mean=statistics.mean(tokens) if tokens else 0.0,
        tokens_p95=percentile(tokens, 0.95),
        latency_p50_ms=statistics.median(latencies),
        latency_p95_ms=percentile(latencies, 0.95),
        prompt_tokens=ours,
        provider_prompt_tokens=theirs,
    )


def provider_count(messages: list[dict[str, str]]) -> int:
    """The prompt tokens of a chat request as the provider counts what arrived: the model's
    encoding (o200k_base for the gpt-4o family) over each message's fields, 3 tokens of
    framing per message and 3 to prime the reply (OpenAI's published rule). The anchor for
    our own count, which is made before sending, from the messages we meant to send."""
    encoding = get_encoding("o200k_base")  # the packaged encoding file (MODELS.md)
    return 3 + sum(
        3 + sum(len(encoding.encode(str(v), disallowed_special=())) for v in m.values())
        for m in messages
    )


def run(home: Path | None = None, cache: Path = DEFAULT_CACHE) -> list[AnswerRow]:
    """The example questions answered extractively and through a local instant "LLM", then
    the off-topic questions asked of each tenant: one row each. Without `home`, the example is
    built in a temporary home first."""
    questions = load_questions(DEFAULT_QUESTIONS)
    fake = start_fake_openai()
    fake.count_prompt = provider_count
    try:
        with built_example(home, cache) as settings:
            on_topic = [(q.tenant, q.question) for q in questions]
            off_topic = [(t, q) for q in OFF_TOPIC for t in EXAMPLE_TENANTS]
            rows = []
            extractive = Answerer(home=settings)
            os.environ.update(OPENAI_BASE_URL=fake.url, OPENAI_API_KEY="bench")
            llm = Answerer(
                home=Settings.load(settings.home, embedding_cache=cache, llm_model="gpt-4o-mini")
            )
            extractive.warm_up(list(EXAMPLE_TENANTS))
            for label, answerer, items, reply in (
                ("extractive, on-topic", extractive, on_topic, False),
                ("llm, on-topic", llm, on_topic, True),
                ("llm, off-topic", llm, off_topic, True),
            ):
                if reply:
                    # two replies a question: a question in another language gets its Danish
                    # reply refused and asked once more (as a real model that answers in the
                    # wrong language would be); with one, the queue runs dry and the client's
                    # retry backoff on the 500s that follow would be timed as our latency
                    for _ in range(2 * len(items)):
                        fake.enqueue("Svaret står i kilden [1].", completion_tokens=8)
                rows.append(measure(label, answerer, items))
                fake.replies.clear()
    finally:
        fake.stop()
    return rows


def table(rows: list[AnswerRow]) -> str:
    header = (
        "run",
        "n",
        "answered",
        "prompt tok mean",
        "p95",
        "ours/provider tok",
        "latency p50 ms",
        "p95 ms",
    )
    cells = [
        [
            r.label,
            f"{r.n}",
            f"{r.answered:.0%}",
            f"{r.tokens_mean:.0f}",
            f"{r.tokens_p95:.0f}",
            "-" if r.token_ratio is None else f"{r.token_ratio:.4f}",
            f"{r.latency_p50_ms:.1f}",
            f"{r.latency_p95_ms:.1f}",
        ]
        for r in rows
    ]
    return format_table(header, cells)


def report(rows: list[AnswerRow]) -> str:
    """What `python benchmarks/answer.py` prints."""
    return (
        f"answer benchmark: {today()}, {machine()}, LLM time excluded (local instant server)\n"
        + table(rows)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a home with the example already indexed")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    print(report(run(args.home, args.cache)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
