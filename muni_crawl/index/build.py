"""Building tenant indexes: a tenant's passages -> embeddings -> a new index version.

A build re-chunks only pages whose version changed (the chunk cache keeps the others'
passages), re-embeds only passages whose text the embedding cache has not seen, and writes a
new version only when the tenant's passages changed. When no page version, setting or model
changed since the last build, it stops after reading the page versions, without reading any
page text. The on-disk format is in `layout`.
"""

from __future__ import annotations

import logging
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muni_crawl.embed import Embedder, EmbeddingCache, embedder_for
from muni_crawl.errors import IndexBuildRunningError
from muni_crawl.home import Home, HomeLike
from muni_crawl.index import dedupe
from muni_crawl.index.audience import tenant_page_heads
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
    Manifest,
    current_version,
    passages_digest,
    read_manifest,
    record_source_runs,
    tenant_dir,
    write_version,
)
from muni_crawl.locks import IndexLock
from muni_crawl.sources import Registry
from muni_crawl.store import PageStore

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
) -> BuildResult:
    """Build a new index version for the tenant if its passages changed; switch it in atomically.

    `chunks` is the chunk cache (default: the one beside the home's database); `force`
    rebuilds and re-chunks every page. Raises IndexBuildRunningError when another process is
    building the tenant's index.
    """
    started = time.perf_counter()
    limits = home.settings.index
    indexes_dir = home.paths.indexes_dir
    chunks = chunks or ChunkCache(ChunkCache.path_for(home.paths.database))
    settings = ChunkSettings(limits.chunk_min_tokens, limits.chunk_max_tokens)
    with IndexLock(home.path / ".locks", tenant):
        # the runs are read before the pages, so the manifest never claims a crawl whose
        # pages this build did not see (affected_tenants relies on that)
        sources = store.last_success_runs(s.name for s in registry.sources_for(tenant))
        heads = tenant_page_heads(store, registry, tenant)
        view_key = pages_key(heads, settings, _build_rules(embedder))
        root = tenant_dir(indexes_dir, tenant)
        current = current_version(indexes_dir, tenant)
        served = None if force else _served(root, current)
        if served and chunks.built(tenant) == BuiltRecord(served[0], served[1].digest, view_key):
            # no page version, setting or model changed since this version was built
            record_source_runs(root / served[0], served[1], sources)
            return BuildResult(
                tenant, current, "unchanged", served[1].passages, served[1].documents
            )
        chunked = chunks.passages(heads, settings, store.page_texts, refresh=force)
        passages = collapse_duplicates(chunked.passages)  # one copy of text repeated on pages
        if not passages:
            return BuildResult(tenant, current, "empty", chunked_pages=chunked.chunked_pages)
        digest = passages_digest(embedder.model_id, passages)
        if served and served[1].digest == digest:
            record_source_runs(root / served[0], served[1], sources)
            chunks.record_built(tenant, BuiltRecord(served[0], digest, view_key))
            return BuildResult(
                tenant,
                current,
                "unchanged",
                len(passages),
                served[1].documents,
                chunked_pages=chunked.chunked_pages,
            )
        root.mkdir(parents=True, exist_ok=True)
        vectors, computed = cache.embed(embedder, [p.search_text() for p in passages])
        version = write_version(
            root,
            passages,
            vectors,
            tenant=tenant,
            model_id=embedder.model_id,
            digest=digest,
            sources=sources,
            hnsw_threshold=limits.hnsw_threshold,
            keep_versions=limits.index_keep_versions,
        )
        chunks.record_built(tenant, BuiltRecord(version, digest, view_key))
    documents = len({p.page_id for p in passages})
    seconds = time.perf_counter() - started
    log.info(
        "%s: index %s built: %d passages, %d new embeddings",
        tenant,
        version,
        len(passages),
        computed,
    )
    return BuildResult(
        tenant,
        version,
        "built",
        len(passages),
        documents,
        computed,
        seconds,
        chunked_pages=chunked.chunked_pages,
    )


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
    """Build (or confirm unchanged) the indexes of the named tenants, or of every tenant.

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
        for name in names:
            try:
                result = build_index(
                    name,
                    home=home,
                    registry=registry,
                    store=store,
                    embedder=embedder,
                    cache=cache,
                    force=force,
                    chunks=chunks,
                )
            except IndexBuildRunningError as exc:
                if not skip_busy:
                    raise
                version = current_version(home.paths.indexes_dir, name)
                result = BuildResult(name, version, "busy", message=str(exc))
            results.append(result)
        if any(r.chunked_pages or r.status == "built" for r in results):
            chunks.prune(store.live_page_ids())  # entries of pages deleted since
    return results


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
