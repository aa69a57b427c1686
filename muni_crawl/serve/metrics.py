"""Prometheus metrics of one server: answers, latency, tokens and documents by tenant.

Each app gets its own registry (two apps in one process never share counts). With several
uvicorn workers, `muni-crawl serve` sets PROMETHEUS_MULTIPROC_DIR before they start: each
worker then writes its counts to files there and /metrics adds up every worker's, so a scrape
that reaches any one worker sees the whole server.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, values
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from muni_crawl.types import Answer

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# seconds: an extractive answer takes tens of milliseconds, one through an LLM seconds
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


class Metrics:
    """The server's counters and histograms, and their text exposition."""

    def __init__(self) -> None:
        # the mode prometheus_client chose when it was imported (it reads the variable then)
        multiprocess = values.ValueClass is not values.MutexValue
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_VARIABLE) if multiprocess else None
        # in multiprocess mode the values live in files, read back by MultiProcessCollector
        self.registry = CollectorRegistry() if self.multiprocess_dir is None else None
        registry = self.registry
        self.answers = Counter(
            "muni_crawl_answers",
            "Answers served, by tenant and answer status.",
            ["tenant", "status"],
            registry=registry,
        )
        self.answer_seconds = Histogram(
            "muni_crawl_answer_seconds",
            "Time to answer one question, LLM time included, by tenant.",
            ["tenant"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "muni_crawl_tokens",
            "LLM tokens billed for answers, by tenant and kind (prompt, completion).",
            ["tenant", "kind"],
            registry=registry,
        )
        self.documents = Counter(
            "muni_crawl_documents_searched",
            "Documents searched for answers (billed per answer), by tenant.",
            ["tenant"],
            registry=registry,
        )
        self.searches = Counter(
            "muni_crawl_searches",
            "Searches served by the search endpoint, by tenant.",
            ["tenant"],
            registry=registry,
        )
        self.requests = Counter(
            "muni_crawl_http_requests",
            "HTTP requests, by route template, method and status code.",
            ["route", "method", "status"],
            registry=registry,
        )

    def answered(self, answer: Answer, seconds: float) -> None:
        tenant = answer.tenant
        self.answers.labels(tenant, answer.status).inc()
        self.answer_seconds.labels(tenant).observe(seconds)
        self.tokens.labels(tenant, "prompt").inc(answer.usage.prompt_tokens)
        self.tokens.labels(tenant, "completion").inc(answer.usage.completion_tokens)
        self.documents.labels(tenant).inc(answer.usage.documents_searched)

    def request(self, route: str, method: str, status: int) -> None:
        self.requests.labels(route, method, str(status)).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format of every count (of every worker), and its content type."""
        if self.registry is not None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
