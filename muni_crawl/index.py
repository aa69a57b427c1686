"""TenantIndex: a tenant's view (dense FAISS + lexical BM25), versioned on disk, swapped atomically.

Layout under ``<home>/indexes/<tenant>/``::

    CURRENT                 the name of the version being served (replaced atomically)
    <version>/manifest.json model, dimension, counts, source runs, build time, digest
    <version>/dense.faiss   FAISS index over passage embeddings (inner product = cosine)
    <version>/lexical/      bm25s index over Danish-stemmed tokens
    <version>/passages.jsonl

A build writes a hidden temporary folder, renames it into place and only then replaces
CURRENT, so a build killed at any point leaves the previous version serving.

Version names are ``v<sequence>-<UTC time>-<digest>``: the sequence makes every build's name
new (two forced builds in one second must not overwrite the version being served) and makes
names sort in build order, which pruning relies on. Pruning never removes the current version
nor the one before it: a reader that read CURRENT just before a switch may still be opening it.
Builds of one tenant are serialised by its index lock (see locks.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import bm25s
import faiss
import numpy as np

from muni_crawl.chunk import chunk_page
from muni_crawl.config import Settings
from muni_crawl.embed import Embedder, EmbeddingCache, Vectors, embedder_for
from muni_crawl.errors import IndexBuildRunningError, IndexNotBuiltError
from muni_crawl.lexical import analyse
from muni_crawl.locks import IndexLock
from muni_crawl.sites import Registry
from muni_crawl.store import Store, utcnow
from muni_crawl.types import Page, Passage

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
FORMAT_VERSION = 1
# v<sequence>-...; names from before sequences (<UTC time>-<digest>) sort as sequence 0
_SEQUENCED = re.compile(r"^v(\d+)-")
# a reader that finds its version gone re-reads CURRENT this many times before giving up
LOAD_ATTEMPTS = 3


@dataclass(frozen=True)
class Manifest:
    """What a built index version contains and how it was made."""

    tenant: str
    version: str
    model_id: str
    dim: int
    passages: int
    documents: int
    dense_type: str
    built_at: str
    digest: str
    sources: dict[str, int] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def tenant_dir(settings: Settings, tenant: str) -> Path:
    return settings.indexes_dir / tenant


def current_version(settings: Settings, tenant: str) -> str | None:
    """The version CURRENT points at, or None when the tenant has no index yet."""
    return current_version_in(tenant_dir(settings, tenant))


def tenant_pages(store: Store, registry: Registry, tenant: str) -> list[Page]:
    """The tenant's view: its sources' pages, national bodies, and only its own local sections.

    A text served at several URLs without a canonical link (``/`` and ``/index.html``) is
    indexed once, under its shortest URL, so it is neither returned twice nor billed twice.
    """
    code = registry.tenant(tenant).code
    sources = {s.name for s in registry.sources_for(tenant)}
    view = [
        page
        for page in store.pages()
        if page.source in sources and (page.scope != "local" or page.municipality_code == code)
    ]
    chosen: dict[str, Page] = {}
    for page in sorted(view, key=lambda p: (len(p.url), p.url)):
        chosen.setdefault(page.fingerprint, page)
    kept = {id(page) for page in chosen.values()}
    return [page for page in view if id(page) in kept]


def build_index(
    tenant: str,
    *,
    settings: Settings,
    registry: Registry,
    store: Store,
    embedder: Embedder,
    cache: EmbeddingCache,
    force: bool = False,
) -> BuildResult:
    """Build a new index version for the tenant if its passages changed; switch it in atomically.

    Raises IndexBuildRunningError when another process is building the tenant's index.
    """
    started = time.perf_counter()
    with IndexLock(settings.home / ".locks", tenant):
        # the runs are read before the pages, so the manifest never claims a crawl whose
        # pages this build did not see (affected_tenants relies on that)
        sources = _source_runs(store, {s.name for s in registry.sources_for(tenant)})
        pages = tenant_pages(store, registry, tenant)
        passages = [
            p
            for page in pages
            for p in chunk_page(
                page, min_tokens=settings.chunk_min_tokens, max_tokens=settings.chunk_max_tokens
            )
        ]
        if not passages:
            return BuildResult(tenant, current_version(settings, tenant), "empty")
        digest = _digest(embedder.model_id, passages)
        root = tenant_dir(settings, tenant)
        root.mkdir(parents=True, exist_ok=True)
        current = current_version(settings, tenant)
        if current and not force:
            manifest = read_manifest(root / current)
            if manifest is not None and manifest.digest == digest:
                _record_source_runs(root / current, manifest, sources)
                return BuildResult(tenant, current, "unchanged", len(passages), manifest.documents)
        vectors, computed = cache.embed(embedder, [p.search_text() for p in passages])
        version = write_version(
            settings,
            tenant,
            passages,
            vectors,
            model_id=embedder.model_id,
            digest=digest,
            sources=sources,
        )
    documents = len({p.page_id for p in passages})
    seconds = time.perf_counter() - started
    log.info(
        "%s: index %s built: %d passages, %d new embeddings",
        tenant,
        version,
        len(passages),
        computed,
    )
    return BuildResult(tenant, version, "built", len(passages), documents, computed, seconds)


def write_version(
    settings: Settings,
    tenant: str,
    passages: list[Passage],
    vectors: Vectors,
    *,
    model_id: str,
    digest: str,
    sources: dict[str, int],
) -> str:
    """Write a complete version folder, then switch CURRENT to it; returns the version name.

    The caller holds the tenant's index lock.
    """
    root = tenant_dir(settings, tenant)
    _remove_leftovers(root)
    version = _next_version_name(root, digest)
    tmp = root / f".tmp-{version}-{os.getpid()}"
    tmp.mkdir(parents=True)
    dense_type = _write_dense(tmp, vectors, settings.hnsw_threshold)
    _write_lexical(tmp, passages)
    _write_passages(tmp, passages)
    manifest = Manifest(
        tenant=tenant,
        version=version,
        model_id=model_id,
        dim=int(vectors.shape[1]),
        passages=len(passages),
        documents=len({p.page_id for p in passages}),
        dense_type=dense_type,
        built_at=utcnow(),
        digest=digest,
        sources=sources,
    )
    (tmp / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=2))
    _fsync_dir(tmp)
    os.rename(tmp, root / version)  # a new name (see _next_version_name): nothing is replaced
    _switch_current(root, version)
    _prune(root, keep=settings.index_keep_versions, current=version)
    return version


def _digest(model_id: str, passages: list[Passage]) -> str:
    h = hashlib.sha256(f"{FORMAT_VERSION}\n{model_id}\n".encode())
    for p in sorted(passages, key=lambda p: p.id):
        h.update(f"{p.id}:{p.page_id}:{p.page_version}:{p.title}\n".encode())
    return h.hexdigest()


def _write_dense(folder: Path, vectors: Vectors, hnsw_threshold: int) -> str:
    dim = int(vectors.shape[1])
    if len(vectors) <= hnsw_threshold:
        index: Any = faiss.IndexFlatIP(dim)
        kind = "flat"
    else:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        kind = "hnsw"
    index.add(vectors)
    faiss.write_index(index, str(folder / "dense.faiss"))
    return kind


def _write_lexical(folder: Path, passages: list[Passage]) -> None:
    tokens = [analyse(p.search_text()) or [""] for p in passages]
    bm25 = bm25s.BM25()
    bm25.index(tokens, show_progress=False)
    bm25.save(str(folder / "lexical"), show_progress=False)


def _write_passages(folder: Path, passages: list[Passage]) -> None:
    with (folder / "passages.jsonl").open("w", encoding="utf-8") as out:
        for p in passages:
            record = p.to_dict()
            record.pop("score")
            record.pop("dense_score")
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _source_runs(store: Store, sources: set[str]) -> dict[str, int]:
    runs = {}
    for source in sorted(sources):
        row = store.db.execute(
            "SELECT MAX(id) FROM crawl_runs WHERE source = ? AND status IN ('ok', 'partial')",
            (source,),
        ).fetchone()
        runs[source] = int(row[0] or 0)
    return runs


def _fsync_dir(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())


def _switch_current(root: Path, version: str) -> None:
    tmp = root / f".{CURRENT}.{os.getpid()}.tmp"
    tmp.write_text(version + "\n", encoding="utf-8")
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, root / CURRENT)


def _remove_leftovers(root: Path) -> None:
    """Temporary folders of builds that were killed (we hold the tenant's index lock)."""
    for path in root.glob(".tmp-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in root.glob(f".{CURRENT}.*.tmp"):
        path.unlink(missing_ok=True)


def _version_key(name: str) -> tuple[int, str]:
    """Build order: by sequence number; older unsequenced names first, by their timestamp."""
    match = _SEQUENCED.match(name)
    return (int(match.group(1)) if match else 0, name)


def _versions(root: Path) -> list[str]:
    """The version folders under a tenant's index folder, oldest build first."""
    names = [p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(names, key=_version_key)


def _next_version_name(root: Path, digest: str) -> str:
    """A name no earlier build used, sorting after all of them (the caller holds the lock)."""
    known = _versions(root)
    current = current_version_in(root)
    if current:
        known.append(current)
    sequence = max((_version_key(name)[0] for name in known), default=0) + 1
    return f"v{sequence:08d}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{digest[:8]}"


def current_version_in(root: Path) -> str | None:
    try:
        name = (root / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def _prune(root: Path, keep: int, current: str) -> None:
    """Remove all but the newest `keep` versions, never the current one nor its predecessor."""
    versions = _versions(root)
    protected = {current}
    if current in versions and versions.index(current) > 0:
        protected.add(versions[versions.index(current) - 1])
    for name in versions[: max(0, len(versions) - max(keep, 1))]:
        if name not in protected:
            shutil.rmtree(root / name, ignore_errors=True)


def _record_source_runs(folder: Path, manifest: Manifest, sources: dict[str, int]) -> None:
    """Note in an unchanged version's manifest that it also reflects these crawl runs, so that
    affected_tenants stops asking for it to be rebuilt (replaced atomically for readers)."""
    if all(manifest.sources.get(name, 0) >= run for name, run in sources.items()):
        return
    merged = {**manifest.sources, **sources}
    updated = Manifest(**{**manifest.to_dict(), "sources": merged})
    tmp = folder / f".manifest.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(updated.to_dict(), indent=2), encoding="utf-8")
    os.replace(tmp, folder / "manifest.json")


def read_manifest(folder: Path) -> Manifest | None:
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        return Manifest(**data)
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


class TenantIndex:
    """One loaded, read-only index version; safe to search from many threads."""

    def __init__(self, folder: Path) -> None:
        manifest = read_manifest(folder)
        if manifest is None:
            raise IndexNotBuiltError(
                folder.parent.name, f"index version {folder.name} is unreadable"
            )
        self.folder = folder
        self.manifest = manifest
        dense: Any = faiss.read_index(str(folder / "dense.faiss"))
        if manifest.dense_type == "hnsw":
            dense.hnsw.efSearch = 64
        self.dense = dense
        self.lexical = bm25s.BM25.load(str(folder / "lexical"), show_progress=False)
        self.vocabulary: dict[str, int] = dict(self.lexical.vocab_dict)
        with (folder / "passages.jsonl").open(encoding="utf-8") as handle:
            self.passages = [Passage(**json.loads(line)) for line in handle]
        self.vectors = self._vectors()

    def _vectors(self) -> Vectors | None:
        """Flat indexes keep their vectors; HNSW ones are reconstructed on demand."""
        if self.manifest.dense_type == "flat":
            return faiss.rev_swig_ptr(
                self.dense.get_xb(), self.dense.ntotal * self.dense.d
            ).reshape(self.dense.ntotal, self.dense.d)
        return None

    @property
    def version(self) -> str:
        return self.manifest.version

    def vector(self, i: int) -> Vectors:
        if self.vectors is not None:
            row: Vectors = self.vectors[i]
            return row
        vector: Vectors = np.asarray(self.dense.reconstruct(int(i)), dtype=np.float32)
        return vector

    def dense_search(self, query: Vectors, k: int) -> list[tuple[int, float]]:
        scores, ids = self.dense.search(query.reshape(1, -1), min(k, self.dense.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def lexical_search(self, question: str, k: int) -> list[tuple[int, float]]:
        tokens = [t for t in analyse(question) if t in self.vocabulary]
        if not tokens:
            return []
        ids, scores = self.lexical.retrieve(
            [tokens], k=min(k, len(self.passages)), show_progress=False, n_threads=1
        )
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0]


def load_current(settings: Settings, tenant: str) -> TenantIndex:
    """Load the version CURRENT names. If it vanishes while loading (pruned after builds that
    switched in newer ones meanwhile), CURRENT is read again rather than failing the reader."""
    version = current_version(settings, tenant)
    if version is None:
        raise IndexNotBuiltError(
            tenant, "no index built yet; run `muni-crawl index " + tenant + "`"
        )
    for _ in range(LOAD_ATTEMPTS):
        folder = tenant_dir(settings, tenant) / version
        try:
            return TenantIndex(folder)
        except (OSError, RuntimeError, ValueError, IndexNotBuiltError) as exc:
            # faiss reports a missing or truncated file as RuntimeError
            newer = current_version(settings, tenant)
            if newer is None or newer == version:
                raise IndexNotBuiltError(
                    tenant, f"index version {version} is unreadable: {exc}"
                ) from exc
            version = newer
    raise IndexNotBuiltError(tenant, f"index versions change faster than they load ({version})")


def build_indexes(
    tenants: list[str] | None = None,
    *,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    force: bool = False,
    skip_busy: bool = False,
) -> list[BuildResult]:
    """Build (or confirm unchanged) the indexes of the named tenants, or of every tenant.

    A tenant whose index another process is building raises IndexBuildRunningError, or with
    `skip_busy` gets a result with status "busy" while the other tenants are built.
    """
    from muni_crawl.sites import load_registry

    settings = settings or Settings.load()
    registry = load_registry(settings.spiders_dir)
    names = list(registry.tenants) if tenants is None else list(dict.fromkeys(tenants))
    for name in names:
        registry.tenant(name)
    embedder = embedder or embedder_for(settings)
    cache = EmbeddingCache(settings.embedding_cache_path)
    results = []
    with Store(settings.database) as store:
        for name in names:
            try:
                result = build_index(
                    name,
                    settings=settings,
                    registry=registry,
                    store=store,
                    embedder=embedder,
                    cache=cache,
                    force=force,
                )
            except IndexBuildRunningError as exc:
                if not skip_busy:
                    raise
                result = BuildResult(
                    name, current_version(settings, name), "busy", message=str(exc)
                )
            results.append(result)
    return results


def affected_tenants(registry: Registry, settings: Settings, summaries: list[Any]) -> list[str]:
    """Tenants fed by a crawled source that changed something, that have no index yet, or whose
    index predates a crawl that changed their pages (its re-index was skipped because another
    build was running, or failed)."""
    with Store(settings.database) as store:
        changing = _last_changing_runs(store)
    affected: dict[str, None] = {}
    for summary in summaries:
        if summary.source not in registry.sources:
            continue
        source = registry.sources[summary.source]
        changed = summary.new + summary.changed + summary.deleted > 0
        for tenant in registry.tenants_of(source):
            if changed or _index_behind(settings, registry, tenant.slug, changing):
                affected[tenant.slug] = None
    return list(affected)


def _last_changing_runs(store: Store) -> dict[str, int]:
    """Per source, the id of its last finished crawl run that changed any page."""
    rows = store.db.execute(
        "SELECT source, MAX(id) FROM crawl_runs WHERE status IN ('ok', 'partial')"
        " AND new + changed + deleted > 0 GROUP BY source"
    ).fetchall()
    return {str(row[0]): int(row[1]) for row in rows}


def _index_behind(
    settings: Settings, registry: Registry, tenant: str, changing: dict[str, int]
) -> bool:
    """True when the tenant has no index, or its index was built before a changing crawl."""
    version = current_version(settings, tenant)
    manifest = read_manifest(tenant_dir(settings, tenant) / version) if version else None
    if manifest is None:
        return True
    return any(
        manifest.sources.get(source.name, 0) < changing.get(source.name, 0)
        for source in registry.sources_for(tenant)
    )
