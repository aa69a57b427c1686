"""Hybrid retrieval within one tenant's view: dense + BM25 fused by reciprocal rank fusion.

`Library` is the reusable object for a chatbot process: its constructor is cheap, it loads a
tenant's index on first use (or `warm_up()`), notices a newer version on disk without a
restart, and is safe to call from many threads.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Self

from muni_crawl.embed import Embedder, embedder_for
from muni_crawl.errors import ConfigError, InvalidQuestionError
from muni_crawl.home import Home, HomeLike
from muni_crawl.index import TenantIndex, current_version, load_current
from muni_crawl.question import validate_question
from muni_crawl.redact import redact
from muni_crawl.sources import Registry
from muni_crawl.types import Passage, Vectors

RRF_K = 60
CANDIDATES = 50


@dataclass(frozen=True)
class Retrieval:
    """The passages found for one question, and what was searched to find them."""

    tenant: str
    question: str
    passages: tuple[Passage, ...]
    documents_searched: int
    passages_searched: int
    index_version: str
    model_id: str

    @property
    def evidence(self) -> float:
        """The best passage's cosine similarity to the question. Its scale depends on the model:
        compare it only with a threshold calibrated for `model_id` (see answer thresholds)."""
        return max((p.dense_score for p in self.passages), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "question": self.question,
            "passages": [p.to_dict() for p in self.passages],
            "documents_searched": self.documents_searched,
            "passages_searched": self.passages_searched,
            "index_version": self.index_version,
            "model_id": self.model_id,
            "evidence": round(self.evidence, 3),
        }


class Library:
    """Loads tenants' indexes once and answers retrieval queries against them.

    `home` is an opened Home or the path of one (default: $MUNI_CRAWL_HOME, else the current
    directory). Long-lived: `close()` (or a `with` block) drops the loaded indexes.
    """

    def __init__(self, home: HomeLike = None, *, embedder: Embedder | None = None) -> None:
        self.home = Home.of(home)
        self._indexes_dir = self.home.paths.indexes_dir
        self._max_question_chars = self.home.settings.answering.max_question_chars
        self._embedder = embedder
        self._indexes: dict[str, TenantIndex] = {}
        self._lock = threading.RLock()

    @property
    def registry(self) -> Registry:
        with self._lock:
            return self.home.registry

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = embedder_for(self.home.settings.embedding)
            return self._embedder

    def close(self) -> None:
        """Drop the loaded indexes (the next question loads them again)."""
        with self._lock:
            self._indexes.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def loaded_versions(self) -> dict[str, str]:
        """Tenant -> the index version held in memory now (what a readiness check reports)."""
        with self._lock:
            return {tenant: index.version for tenant, index in self._indexes.items()}

    async def aretrieve(self, tenant: str, question: str, k: int = 5) -> Retrieval:
        """`retrieve()` in a worker thread, so that the caller's event loop never blocks."""
        return await asyncio.to_thread(self.retrieve, tenant, question, k)

    def warm_up(self, tenants: list[str] | None = None) -> None:
        """Load indexes and the embedding model now rather than on the first question."""
        for tenant in tenants if tenants is not None else list(self.registry.tenants):
            if current_version(self._indexes_dir, tenant) is not None:
                self.index(tenant)
        self.embedder.embed_queries(["opvarmning"])

    def index(self, tenant: str) -> TenantIndex:
        """The tenant's current index, reloaded when a newer version was switched in."""
        self.registry.tenant(tenant)  # UnknownTenantError for a slug that is not declared
        on_disk = current_version(self._indexes_dir, tenant)
        loaded = self._indexes.get(tenant)
        if loaded is not None and loaded.version == on_disk:
            return loaded
        with self._lock:
            loaded = self._indexes.get(tenant)
            if loaded is None or loaded.version != current_version(self._indexes_dir, tenant):
                loaded = load_current(self._indexes_dir, tenant)
                self._indexes[tenant] = loaded
            return loaded

    def retrieve(
        self, tenant: str, question: str, k: int = 5, *, query: Vectors | None = None
    ) -> Retrieval:
        """The k best passages of the tenant's view for the question.

        `query` is the question's embedding when the caller already has it (from this
        library's embedder); it is computed otherwise. The question is redacted first
        (muni_crawl.redact): `Retrieval.question` is the redacted text.
        """

        # nothing personal is embedded, searched, logged or handed back in the Retrieval
        redaction = redact(validate_question(question, self._max_question_chars))
        text = redaction.text
        search = redaction.search_text or text
        if k < 1:
            raise InvalidQuestionError("k must be at least 1")
        index = self.index(tenant)
        if self.embedder.model_id != index.manifest.model_id:
            raise ConfigError(
                f"{tenant}: the index was built with {index.manifest.model_id}, but the"
                f" configured embedder is {self.embedder.model_id}; re-index after changing it"
            )
        if query is None:
            query = self.embedder.embed_queries([search])[0]
        depth = max(CANDIDATES, 4 * k)
        dense = index.dense_search(query, depth)
        lexical = index.lexical_search(search, depth)
        fused: dict[int, float] = {}
        for ranking in (dense, lexical):
            for rank, (i, _score) in enumerate(ranking):
                fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + rank + 1)
        best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        passages = tuple(
            replace(
                index.passages[i],
                score=round(score, 6),
                dense_score=round(float(index.vector(i) @ query), 6),
            )
            for i, score in best
        )
        return Retrieval(
            tenant=tenant,
            question=text,
            passages=passages,
            documents_searched=index.manifest.documents,
            passages_searched=index.manifest.passages,
            index_version=index.version,
            model_id=index.manifest.model_id,
        )


_default: dict[str, Library] = {}
_default_lock = threading.Lock()


def default_library(home: Path | str | None = None) -> Library:
    """One shared Library per home for the module-level helpers."""
    opened = Home.open(home)
    key = str(opened.path.resolve())
    with _default_lock:
        if key not in _default:
            _default[key] = Library(opened)
        return _default[key]


def retrieve(
    tenant: str, question: str, k: int = 5, *, home: Path | str | None = None
) -> Retrieval:
    """Retrieve passages for a tenant (home from MUNI_CRAWL_HOME, or the current directory)."""
    return default_library(home).retrieve(tenant, question, k)
