"""Hybrid retrieval within one tenant's view: dense + BM25 fused by reciprocal rank fusion.

`Library` is the reusable object for a chatbot process: its constructor is cheap, it loads a
tenant's index on first use (or `warm_up()`), notices a newer version on disk without a
restart, and is safe to call from many threads.
"""

from __future__ import annotations

import asyncio
import heapq
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self

from muni_crawl.embed import Embedder, embedder_for
from muni_crawl.errors import ConfigError, InvalidQuestionError
from muni_crawl.home import Home, HomeLike
from muni_crawl.index import TenantIndex, current_version, load_current
from muni_crawl.index.layout import SHARED_PREFIX, current_version_in, load_current_in, shared_dir
from muni_crawl.index.view import IndexView
from muni_crawl.language import detect_language
from muni_crawl.question import validate_question
from muni_crawl.redact import redact
from muni_crawl.sources import Registry
from muni_crawl.types import Passage, Vectors

RRF_K = 60
CANDIDATES = 50
# question languages searched lexically as well as densely: Danish, the pages' language, and
# Norwegian and Swedish, which share most of its stems. Others are searched by meaning only:
# on benchmarks/questions.toml that raised recall@1 for the 48 questions in other languages
# from 0.750 to 0.792 (MRR 0.792 to 0.828), as an English question's words otherwise pull
# up the tenant's few English pages whatever they are about.
LEXICAL_LANGUAGES = frozenset({"da", "no", "sv"})


@dataclass(frozen=True)
class Retrieval:
    """The passages found for one question, and what was searched to find them."""

    tenant: str
    question: str
    passages: tuple[Passage, ...]
    documents_searched: int
    passages_searched: int
    index_version: str  # the tenant's own index
    model_id: str
    # source -> the version of its shared index of national text searched beside it
    shared_versions: dict[str, str] = field(default_factory=dict)
    # the two candidate lists fused into `passages`, best first: (position in the tenant's
    # index, score) with the dense cosine and the BM25 score; what the evidence gate reads.
    # Internal: positions mean nothing outside this process, so to_dict and the API omit them
    dense_hits: tuple[tuple[int, float], ...] = field(default=(), metadata={"internal": True})
    lexical_hits: tuple[tuple[int, float], ...] = field(default=(), metadata={"internal": True})

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
            "shared_versions": dict(self.shared_versions),
            "model_id": self.model_id,
            "evidence": round(self.evidence, 3),
        }


class Library:
    """Loads tenants' indexes once and answers retrieval queries against them.

    `home` is an opened Home or the path of one (default: $MUNI_CRAWL_HOME, else the current
    directory). Long-lived: `close()` (or a `with` block) drops the loaded indexes.

    At most `max_loaded_tenants` indexes (the index setting; 0: no limit) stay in memory: loading
    one more drops the least recently used, which loads again on its next question. Loading a
    tenant holds only that tenant's load lock, so questions for tenants already in memory never
    wait for it.
    """

    def __init__(self, home: HomeLike = None, *, embedder: Embedder | None = None) -> None:
        self.home = Home.of(home)
        self._indexes_dir = self.home.paths.indexes_dir
        self._max_question_chars = self.home.settings.answering.max_question_chars
        self.max_loaded_tenants = self.home.settings.index.max_loaded_tenants
        self._embedder = embedder
        # least recently used first; `_lock` guards it and is never held while loading
        self._indexes: OrderedDict[str, IndexView] = OrderedDict()
        self._shared: dict[str, TenantIndex] = {}  # shared indexes of national text, by source
        self._lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {}
        self._registry_lock = threading.Lock()
        self._embedder_lock = threading.Lock()

    @property
    def registry(self) -> Registry:
        with self._registry_lock:
            return self.home.registry

    @property
    def embedder(self) -> Embedder:
        embedder = self._embedder
        if embedder is not None:
            return embedder
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = embedder_for(self.home.settings.embedding)
            return self._embedder

    def close(self) -> None:
        """Drop the loaded indexes (the next question loads them again)."""
        with self._lock:
            self._indexes.clear()
            self._shared.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def loaded_versions(self) -> dict[str, str]:
        """Tenant -> the version of its own index held in memory now (what a readiness check
        reports; `holds_current` also compares the shared ones)."""
        with self._lock:
            return {tenant: index.version for tenant, index in self._indexes.items()}

    def holds_current(self, tenant: str) -> bool:
        """Whether the tenant's index and the shared ones it names are in memory at the
        versions on disk (False: its next question, or warm-up, loads them)."""
        with self._lock:
            loaded = self._indexes.get(tenant)
        return loaded is not None and self._is_current(tenant, loaded)

    @property
    def full(self) -> bool:
        """Whether loading another tenant's index would drop one (the bound is reached)."""
        with self._lock:
            return 0 < self.max_loaded_tenants <= len(self._indexes)

    async def aretrieve(self, tenant: str, question: str, k: int = 5) -> Retrieval:
        """`retrieve()` in a worker thread, so that the caller's event loop never blocks."""
        return await asyncio.to_thread(self.retrieve, tenant, question, k)

    def warm_up(self, tenants: list[str] | None = None) -> None:
        """Load indexes (as many as the bound keeps) and the embedding model now rather than
        on the first question."""
        for tenant in tenants if tenants is not None else list(self.registry.tenants):
            if self.full:
                break
            if current_version(self._indexes_dir, tenant) is not None:
                self.index(tenant)
        self.embedder.embed_queries(["opvarmning"])

    def index(self, tenant: str) -> IndexView:
        """What the tenant searches now: its current index beside the current shared indexes
        it names, reloaded when a newer version of either was switched in (while another
        thread loads the newer one, the version in memory still answers)."""
        self.registry.tenant(tenant)  # UnknownTenantError for a slug that is not declared
        with self._lock:
            loaded = self._indexes.get(tenant)
        if loaded is not None and self._is_current(tenant, loaded):
            with self._lock:
                if tenant in self._indexes:
                    self._indexes.move_to_end(tenant)
            return loaded
        with self._lock:
            load_lock = self._load_locks.setdefault(tenant, threading.Lock())
        if loaded is None:
            load_lock.acquire()  # one load per tenant at a time; other tenants carry on
        elif not load_lock.acquire(blocking=False):
            return loaded  # another thread loads the newer version; this one answers meanwhile
        try:
            with self._lock:
                loaded = self._indexes.get(tenant)
            if loaded is None or not self._is_current(tenant, loaded):
                loaded = self._load(tenant, loaded)
            with self._lock:
                self._indexes[tenant] = loaded
                self._indexes.move_to_end(tenant)
                while 0 < self.max_loaded_tenants < len(self._indexes):
                    self._indexes.popitem(last=False)
                used = {name for view in self._indexes.values() for name in view.shared}
                for name in [name for name in self._shared if name not in used]:
                    del self._shared[name]
            return loaded
        finally:
            load_lock.release()

    def _is_current(self, tenant: str, view: IndexView) -> bool:
        """Whether every index of the view is the version CURRENT names on disk."""
        if view.own.version != current_version(self._indexes_dir, tenant):
            return False
        return all(
            index.version == current_version_in(shared_dir(self._indexes_dir, name))
            for name, index in view.shared.items()
        )

    def _load(self, tenant: str, loaded: IndexView | None) -> IndexView:
        """The tenant's view with the versions on disk, keeping what is still current."""
        own = loaded.own if loaded is not None else None
        if own is None or own.version != current_version(self._indexes_dir, tenant):
            own = load_current(self._indexes_dir, tenant)
        shared = {name: self._shared_index(name) for name in own.manifest.shared}
        return IndexView(own, shared)

    def _shared_index(self, name: str) -> TenantIndex:
        """The current version of a shared index, loaded once for every tenant that names it."""
        root = shared_dir(self._indexes_dir, name)
        key = SHARED_PREFIX + name
        with self._lock:
            loaded = self._shared.get(name)
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        if loaded is not None and loaded.version == current_version_in(root):
            return loaded
        with load_lock:
            with self._lock:
                loaded = self._shared.get(name)
            if loaded is None or loaded.version != current_version_in(root):
                loaded = load_current_in(root, key)
                with self._lock:
                    self._shared[name] = loaded
            return loaded

    def retrieve(
        self,
        tenant: str,
        question: str,
        k: int = 5,
        *,
        query: Vectors | None = None,
        language: str | None = None,
    ) -> Retrieval:
        """The k best passages of the tenant's view for the question.

        `query` is the question's embedding and `language` the language detected in it
        (muni_crawl.language) when the caller already has them (the embedding from this
        library's embedder); they are computed otherwise. The question is redacted first
        (muni_crawl.redact): `Retrieval.question` is the redacted text.
        """

        # nothing personal is embedded, searched, logged or handed back in the Retrieval
        redaction = redact(validate_question(question, self._max_question_chars))
        text = redaction.text
        search = redaction.search_text or text
        if k < 1:
            raise InvalidQuestionError("k must be at least 1")
        index = self.index(tenant)
        embedder = self.embedder
        if embedder.model_id != index.manifest.model_id:
            raise ConfigError(
                f"{tenant}: the index was built with {index.manifest.model_id}, but the"
                f" configured embedder is {embedder.model_id}; re-index after changing it"
            )
        if query is None:
            query = embedder.embed_queries([search])[0]
        depth = max(CANDIDATES, 4 * k)
        dense = index.dense_search(query, depth)
        # words match words only in the pages' language: in another, the lexical list holds
        # just the few pages written in it, whatever they are about (see LEXICAL_LANGUAGES)
        lexical = (
            index.lexical_search(search, depth)
            if (language or detect_language(search)) in LEXICAL_LANGUAGES
            else []
        )
        best = fuse(dense, lexical, k)
        # the cosine of each passage found: from the dense search, else computed (few)
        cosines = dict(dense)
        missing = [i for i, _ in best if i not in cosines]
        cosines.update(zip(missing, index.dense_scores(missing, query), strict=True))
        passages = tuple(
            replace(
                index.passages[i],
                score=round(score, 6),
                dense_score=round(cosines[i], 6),
            )
            for i, score in best
        )
        return Retrieval(
            tenant=tenant,
            question=text,
            passages=passages,
            documents_searched=index.document_count,
            passages_searched=index.passage_count,
            index_version=index.own.version,
            model_id=index.manifest.model_id,
            shared_versions={name: shared.version for name, shared in index.shared.items()},
            dense_hits=tuple(dense),
            lexical_hits=tuple(lexical),
        )


def fuse(
    dense: list[tuple[int, float]], lexical: list[tuple[int, float]], k: int
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of two candidate lists: the k best (position, fused score),
    best first, ties by position."""
    fused: dict[int, float] = {}
    for ranking in (dense, lexical):
        for rank, (i, _score) in enumerate(ranking):
            fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + rank + 1)
    return heapq.nsmallest(k, fused.items(), key=lambda item: (-item[1], item[0]))


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
