"""Building tenant indexes: a tenant's passages -> embeddings -> a new index version.

A build re-chunks only pages whose version changed (the chunk cache keeps the others'
passages), re-embeds only passages whose text the embedding cache has not seen, and writes a
new version only when the tenant's passages changed. When no page version, setting or model
changed since the last build, it stops after reading the page versions, without reading any
page text. The on-disk format is in `layout`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from muni_crawl.embed import Embedder, EmbeddingCache, embedder_for
from muni_crawl.errors import IndexBuildRunningError
from muni_crawl.home import Home, HomeLike
from muni_crawl.index import dedupe
from muni_crawl.index.audience import NATIONAL, shared_view, tenant_page_heads
from muni_crawl.index.chunk_cache import (
    BuiltRecord,
    ChunkCache,
    ChunkSettings,
    code_id,
    pages_key,
)
from muni_crawl.index.dedupe import collapse_duplicates
from muni_crawl.index.layout import (
    FORMAT_VERSION,
    SHARED_PREFIX,
    Manifest,
    current_version,
    current_version_in,
    passages_digest,
    read_manifest,
    record_source_runs,
    shared_dir,
    tenant_dir,
    write_version,
)
from muni_crawl.locks import IndexLock
from muni_crawl.sources import Registry
from muni_crawl.store import PageStore
from muni_crawl.store.pages import PageHead
from muni_crawl.types import Passage

log = logging.getLogger(__name__)
_DEDUPE_CODE = code_id(dedupe)


@dataclass(frozen=True)
class BuildResult:
    """What `build_index` did for one tenant."""

    tenant: str
    version: str | None
    status: str  # built | unchanged | empty | busy (another process is building it)
    passages: int = 0
    documents: int = 0
    new_embeddings: int = 0
    seconds: float = 0.0
    message: str | None = None
    chunked_pages: int = 0  # pages chunked afresh (the others' passages came from the cache)


def _build_rules(embedder: Embedder) -> str:
    """What, besides the pages and chunk settings, decides a tenant's passages digest: the
    model, the index format and the code that collapses duplicates."""
    return f"model={embedder.model_id} format={FORMAT_VERSION} dedupe={_DEDUPE_CODE}"


@dataclass(frozen=True)
class _Builder:
    """What every build of one run shares."""

    home: Home
    store: PageStore
    embedder: Embedder
    cache: EmbeddingCache
    chunks: ChunkCache
    force: bool

    @property
    def settings(self) -> ChunkSettings:
        limits = self.home.settings.index
        return ChunkSettings(limits.chunk_min_tokens, limits.chunk_max_tokens)


# chooses, from the tenant's collapsed passages, those its own index holds, and for each
# shared index searched beside it the ids of the shared passages its view hides
_Split = Callable[[list[Passage]], tuple[list[Passage], dict[str, list[str]] | None]]


def build_index(
    tenant: str,
    *,
    home: Home,
    registry: Registry,
    store: PageStore,
    embedder: Embedder,
    cache: EmbeddingCache,
    force: bool = False,
    chunks: ChunkCache | None = None,
    build_shared: bool = True,
) -> BuildResult:
    """Build a new index version for the tenant if its passages changed; switch it in atomically.

    The national text of its sources is searched in their shared indexes (view.py), which
    this builds first unless `build_shared` is False (build_indexes builds each once). `chunks`
    is the chunk cache (default: the one beside the home's database); `force` rebuilds and
    re-chunks every page. Raises IndexBuildRunningError when another process is building the
    tenant's index.
    """
    started = time.perf_counter()
    chunks = chunks or ChunkCache(ChunkCache.path_for(home.paths.database))
    builder = _Builder(home, store, embedder, cache, chunks, force)
    indexes_dir = home.paths.indexes_dir
    if build_shared:
        for source in national_sources(store.page_heads(), registry, [tenant]):
            build_shared_index(source, builder)
    with IndexLock(home.path / ".locks", tenant):
        # the runs are read before the pages, so the manifest never claims a crawl whose
        # pages this build did not see (affected_tenants relies on that)
        runs = store.last_success_runs(s.name for s in registry.sources_for(tenant))
        heads = tenant_page_heads(store, registry, tenant)
        shared = {
            source: version
            for source in sorted({h.source for h in heads if h.scope == NATIONAL})
            if (version := current_version_in(shared_dir(indexes_dir, source))) is not None
        }

        def split(kept: list[Passage]) -> tuple[list[Passage], dict[str, list[str]] | None]:
            own = [p for p in kept if not (p.scope == NATIONAL and p.source in shared)]
            if not own:  # an index needs a passage of its own: it holds the national text too
                return kept, None
            shown = {p.id for p in kept}
            hidden = {
                source: sorted(_shared_ids(shared_dir(indexes_dir, source) / version) - shown)
                for source, version in shared.items()
            }
            return own, hidden

        rules = " ".join([_build_rules(embedder), *(f"{s}={v}" for s, v in shared.items())])
        return _build(
            tenant, tenant_dir(indexes_dir, tenant), heads, runs, rules, split, builder, started
        )


def build_shared_index(source: str, builder: _Builder) -> BuildResult:
    """Build the shared index of a source's national text if it changed (see view.py)."""
    started = time.perf_counter()
    home, store = builder.home, builder.store
    name = SHARED_PREFIX + source
    with IndexLock(home.path / ".locks", name.replace("/", "-")):
        runs = store.last_success_runs([source])
        heads = shared_view(store.page_heads(), source)
        root = shared_dir(home.paths.indexes_dir, source)
        rules = _build_rules(builder.embedder)
        return _build(name, root, heads, runs, rules, lambda kept: (kept, None), builder, started)


def national_sources(
    heads: Sequence[PageHead], registry: Registry, tenants: list[str]
) -> list[str]:
    """The sources feeding these tenants that hold national text (each has a shared index)."""
    feeding = {s.name for tenant in tenants for s in registry.sources_for(tenant)}
    return sorted({h.source for h in heads if h.scope == NATIONAL and h.source in feeding})


def _build(
    name: str,
    root: Path,
    heads: list[PageHead],
    runs: dict[str, int],
    rules: str,
    split: _Split,
    builder: _Builder,
    started: float,
) -> BuildResult:
    """Write a new version of the index at `root` from these pages if its passages changed
    (the caller holds its index lock)."""
    limits = builder.home.settings.index
    settings = builder.settings
    embedder, chunks = builder.embedder, builder.chunks
    view_key = pages_key(heads, settings, rules)
    current = current_version_in(root)
    served = None if builder.force else _served(root, current)
    if served and chunks.built(name) == BuiltRecord(served[0], served[1].digest, view_key):
        # no page version, setting, model or shared index changed since this version was built
        record_source_runs(root / served[0], served[1], runs)
        return BuildResult(name, current, "unchanged", served[1].passages, served[1].documents)
    chunked = chunks.passages(heads, settings, builder.store.page_texts, refresh=builder.force)
    kept = collapse_duplicates(chunked.passages)  # one copy of text repeated on pages
    if not kept:
        return BuildResult(name, current, "empty", chunked_pages=chunked.chunked_pages)
    passages, hidden = split(kept)
    digest = passages_digest(embedder.model_id, passages, hidden)
    if served and served[1].digest == digest:
        record_source_runs(root / served[0], served[1], runs)
        chunks.record_built(name, BuiltRecord(served[0], digest, view_key))
        return BuildResult(
            name,
            current,
            "unchanged",
            len(passages),
            served[1].documents,
            chunked_pages=chunked.chunked_pages,
        )
    root.mkdir(parents=True, exist_ok=True)
    vectors, computed = builder.cache.embed(embedder, [p.search_text() for p in passages])
    version = write_version(
        root,
        passages,
        vectors,
        tenant=name,
        model_id=embedder.model_id,
        digest=digest,
        sources=runs,
        hnsw_threshold=limits.hnsw_threshold,
        keep_versions=limits.index_keep_versions,
        shared_hidden=hidden,
    )
    chunks.record_built(name, BuiltRecord(version, digest, view_key))
    documents = len({p.page_id for p in passages})
    seconds = time.perf_counter() - started
    log.info(
        "%s: index %s built: %d passages, %d new embeddings",
        name,
        version,
        len(passages),
        computed,
    )
    return BuildResult(
        name,
        version,
        "built",
        len(passages),
        documents,
        computed,
        seconds,
        chunked_pages=chunked.chunked_pages,
    )


@lru_cache(maxsize=16)
def _shared_ids(version: Path) -> frozenset[str]:
    """The passage ids of a shared index version (a version never changes once written)."""
    with (version / "passages.jsonl").open(encoding="utf-8") as handle:
        return frozenset(json.loads(line)["id"] for line in handle)


def _served(root: Path, current: str | None) -> tuple[str, Manifest] | None:
    """The version being served and its manifest (None: no readable current version)."""
    manifest = read_manifest(root / current) if current else None
    return (current, manifest) if current and manifest else None


def build_indexes(
    tenants: list[str] | None = None,
    *,
    home: HomeLike = None,
    embedder: Embedder | None = None,
    force: bool = False,
    skip_busy: bool = False,
) -> list[BuildResult]:
    """Build (or confirm unchanged) the indexes of the named tenants, or of every tenant, after
    the shared indexes of their sources' national text (their results come first, named
    "_shared/<source>").

    A tenant whose index another process is building raises IndexBuildRunningError, or with
    `skip_busy` gets a result with status "busy" while the other tenants are built.
    """
    home = Home.of(home)
    registry = home.registry
    names = list(registry.tenants) if tenants is None else list(dict.fromkeys(tenants))
    for name in names:
        registry.tenant(name)
    embedder = embedder or embedder_for(home.settings.embedding)
    cache = EmbeddingCache(home.paths.embedding_cache_path)
    chunks = ChunkCache(ChunkCache.path_for(home.paths.database))
    results = []
    with home.page_store() as store, closing(chunks):
        builder = _Builder(home, store, embedder, cache, chunks, force)
        for source in national_sources(store.page_heads(), registry, names):
            build = partial(build_shared_index, source, builder)
            results.append(_or_busy(SHARED_PREFIX + source, home, skip_busy, build))
        for name in names:
            build = partial(
                build_index,
                name,
                home=home,
                registry=registry,
                store=store,
                embedder=embedder,
                cache=cache,
                force=force,
                chunks=chunks,
                build_shared=False,
            )
            results.append(_or_busy(name, home, skip_busy, build))
        if any(r.chunked_pages or r.status == "built" for r in results):
            chunks.prune(store.live_page_ids())  # entries of pages deleted since
    return results


def _or_busy(
    name: str, home: Home, skip_busy: bool, build: Callable[[], BuildResult]
) -> BuildResult:
    """The build's result, or with `skip_busy` a "busy" one when another process holds its lock."""
    try:
        return build()
    except IndexBuildRunningError as exc:
        if not skip_busy:
            raise
        root = _root_of(home, name)
        return BuildResult(name, current_version_in(root), "busy", message=str(exc))


def _root_of(home: Home, name: str) -> Path:
    indexes_dir = home.paths.indexes_dir
    if name.startswith(SHARED_PREFIX):
        return shared_dir(indexes_dir, name.removeprefix(SHARED_PREFIX))
    return tenant_dir(indexes_dir, name)


def affected_tenants(home: Home, summaries: list[Any]) -> list[str]:
    """Tenants fed by a crawled source that changed something, that have no index yet, or whose
    index predates a crawl that changed their pages (its re-index was skipped because another
    build was running, or failed)."""
    with home.page_store() as store:
        changing = store.last_changing_runs()
    registry = home.registry
    affected: dict[str, None] = {}
    for summary in summaries:
        if summary.source not in registry.sources:
            continue
        source = registry.sources[summary.source]
        changed = summary.new + summary.changed + summary.deleted > 0
        for tenant in registry.tenants_of(source):
            if changed or _index_behind(home, tenant.slug, changing):
                affected[tenant.slug] = None
    return list(affected)


def _index_behind(home: Home, tenant: str, changing: dict[str, int]) -> bool:
    """True when the tenant has no index, or its index was built before a changing crawl."""
    indexes_dir = home.paths.indexes_dir
    version = current_version(indexes_dir, tenant)
    manifest = read_manifest(tenant_dir(indexes_dir, tenant) / version) if version else None
    if manifest is None:
        return True
    return any(
        manifest.sources.get(source.name, 0) < changing.get(source.name, 0)
        for source in home.registry.sources_for(tenant)
    )
