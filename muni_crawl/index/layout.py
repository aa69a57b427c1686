"""The on-disk format of a tenant index (dense FAISS + lexical BM25), versioned, swapped atomically.

Layout under ``<home>/indexes/<tenant>/``::

    CURRENT                 the name of the version being served (replaced atomically)
    <version>/manifest.json model, dimension, counts, source runs, build time, digest
    <version>/dense.faiss   FAISS index over passage embeddings (inner product = cosine)
    <version>/lexical/      bm25s index over Danish-stemmed tokens, with compound parts and
                            weighted titles; compounds.json the splitter's corpus words
    <version>/passages.jsonl
    <version>/shared.json   the shared indexes the tenant searches beside this one, and the
                            shared passages its view hides (see view.py)

Shared national content is laid out the same way under ``<home>/indexes/_shared/<source>/``
(no tenant slug can start with "_").

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

from muni_crawl.compounds import CompoundSplitter
from muni_crawl.errors import IndexNotBuiltError
from muni_crawl.lexical import Analyser, index_documents
from muni_crawl.openmp import faiss_threads
from muni_crawl.store import utcnow
from muni_crawl.types import Passage, Vectors

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
# 2: compound parts and weighted titles in the BM25 documents, lexical/compounds.json.
# 3: national passages in shared indexes, named by the manifest's `shared` and shared.json.
# The build digest includes it, so the next `muni-crawl index` rebuilds older versions; until
# then they are served as they are (see TenantIndex), and newer ones are refused.
FORMAT_VERSION = 3
COMPOUNDS_FILE = "compounds.json"
SHARED_FILE = "shared.json"
SHARED_FOLDER = "_shared"
# how a shared index is named in build results and logs: "_shared/<source>"
SHARED_PREFIX = SHARED_FOLDER + "/"
# v<sequence>-...; names from before sequences (<UTC time>-<digest>) sort as sequence 0
_SEQUENCED = re.compile(r"^v(\d+)-")
# a reader that finds its version gone re-reads CURRENT this many times before giving up
LOAD_ATTEMPTS = 3
_FAISS_THREADS = faiss_threads()


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
    # the sources whose shared index the tenant searches beside this one (format 3)
    shared: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tenant_dir(indexes_dir: Path, tenant: str) -> Path:
    return indexes_dir / tenant


def shared_dir(indexes_dir: Path, source: str) -> Path:
    """Where the shared index of a source's national text lives."""
    return indexes_dir / SHARED_FOLDER / source


def current_version(indexes_dir: Path, tenant: str) -> str | None:
    """The version CURRENT points at, or None when the tenant has no index yet."""
    return current_version_in(tenant_dir(indexes_dir, tenant))


def write_version(
    root: Path,
    passages: list[Passage],
    vectors: Vectors,
    *,
    tenant: str,
    model_id: str,
    digest: str,
    sources: dict[str, int],
    hnsw_threshold: int,
    keep_versions: int,
    shared_hidden: dict[str, list[str]] | None = None,
) -> str:
    """Write a complete version folder under the tenant's `root`, then switch CURRENT to it;
    returns the version name. The caller holds the tenant's index lock.

    `shared_hidden` names the shared indexes searched beside this one, each with the ids of
    its passages the tenant's view hides.
    """
    _remove_leftovers(root)
    version = _next_version_name(root, digest)
    tmp = root / f".tmp-{version}-{os.getpid()}"
    tmp.mkdir(parents=True)
    dense_type = _write_dense(tmp, vectors, hnsw_threshold)
    _write_lexical(tmp, passages)
    _write_passages(tmp, passages)
    if shared_hidden:
        hidden = {name: sorted(ids) for name, ids in sorted(shared_hidden.items())}
        (tmp / SHARED_FILE).write_text(json.dumps({"hidden": hidden}), encoding="utf-8")
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
        shared=sorted(shared_hidden or {}),
    )
    (tmp / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=2))
    _fsync_dir(tmp)
    os.rename(tmp, root / version)  # a new name (see _next_version_name): nothing is replaced
    _switch_current(root, version)
    _prune(root, keep=keep_versions, current=version)
    return version


def passages_digest(
    model_id: str, passages: list[Passage], shared_hidden: dict[str, list[str]] | None = None
) -> str:
    """What a version's content is: its passages and, for a tenant searching shared indexes,
    which ones and what it hides of them."""
    h = hashlib.sha256(f"{FORMAT_VERSION}\n{model_id}\n".encode())
    for p in sorted(passages, key=lambda p: p.id):
        h.update(f"{p.id}:{p.page_id}:{p.page_version}:{p.title}\n".encode())
    for name, ids in sorted((shared_hidden or {}).items()):
        h.update(f"shared {name}: {' '.join(sorted(ids))}\n".encode())
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
    """BM25 over the passages (compound parts, weighted titles: see lexical.py), and the
    compound splitter's lexicon beside it, for questions to be split the same way."""
    splitter, documents = index_documents(passages)
    bm25 = bm25s.BM25()
    bm25.index([tokens or [""] for tokens in documents], show_progress=False)
    bm25.save(str(folder / "lexical"), show_progress=False)
    splitter.save(folder / "lexical" / COMPOUNDS_FILE)


def _write_passages(folder: Path, passages: list[Passage]) -> None:
    with (folder / "passages.jsonl").open("w", encoding="utf-8") as out:
        for p in passages:
            record = p.to_dict()
            record.pop("score")
            record.pop("dense_score")
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


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


def record_source_runs(folder: Path, manifest: Manifest, sources: dict[str, int]) -> None:
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
        if manifest.format > FORMAT_VERSION:
            raise IndexNotBuiltError(
                folder.parent.name,
                f"index version {folder.name} has format {manifest.format}, newer than this"
                f" release reads ({FORMAT_VERSION}): upgrade muni_crawl or re-index",
            )
        self.folder = folder
        self.manifest = manifest
        dense: Any = faiss.read_index(str(folder / "dense.faiss"))
        if manifest.dense_type == "hnsw":
            dense.hnsw.efSearch = 64
        self.dense = dense
        self.lexical = bm25s.BM25.load(str(folder / "lexical"), show_progress=False)
        self.vocabulary: dict[str, int] = dict(self.lexical.vocab_dict)
        self.analyser = Analyser(_load_splitter(folder, manifest))
        with (folder / "passages.jsonl").open(encoding="utf-8") as handle:
            self.passages = [Passage(**json.loads(line)) for line in handle]
        self.vectors = self._vectors()
        self.shared_hidden = _read_shared_hidden(folder, manifest)

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
        """Passage i's vector: a copy, which stays valid after this index is dropped."""
        if self.vectors is not None:
            row: Vectors = self.vectors[i].copy()
            return row
        vector: Vectors = np.asarray(self.dense.reconstruct(int(i)), dtype=np.float32)
        return vector

    def dense_search(self, query: Vectors, k: int) -> list[tuple[int, float]]:
        """The k passages nearest the (normalised) query, best first: (position, cosine).

        One OpenMP thread, in the calling thread only: one question's search is too small to
        share, and a team of threads on a busy machine stalls at its barrier (see openmp.py);
        an index build in another thread keeps its own count."""
        with _FAISS_THREADS.limited(1):
            scores, ids = self.dense.search(query.reshape(1, -1), min(k, self.dense.ntotal))
        return [(i, s) for i, s in zip(ids[0].tolist(), scores[0].tolist(), strict=True) if i >= 0]

    def dense_scores(self, positions: list[int], query: Vectors) -> list[float]:
        """The cosine of each passage at `positions` to the query (for passages the dense
        search did not return)."""
        if not positions:
            return []
        if self.vectors is not None:
            rows = self.vectors[positions]
        else:
            rows = np.vstack([self.dense.reconstruct(int(i)) for i in positions])
        scores: list[float] = (rows @ query).tolist()
        return scores

    def lexical_search(self, question: str, k: int) -> list[tuple[int, float]]:
        tokens = [t for t in self.analyser.analyse(question) if t in self.vocabulary]
        if not tokens:
            return []
        # n_threads=0 scores in the calling thread; 1 would start a thread pool per query
        ids, scores = self.lexical.retrieve(
            [tokens], k=min(k, len(self.passages)), show_progress=False, n_threads=0
        )
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0]


def _read_shared_hidden(folder: Path, manifest: Manifest) -> dict[str, frozenset[str]]:
    """Shared index -> the ids of its passages this tenant's view hides."""
    if not manifest.shared:
        return {}
    data = json.loads((folder / SHARED_FILE).read_text(encoding="utf-8"))
    hidden = data.get("hidden", {})
    return {name: frozenset(hidden.get(name, [])) for name in manifest.shared}


def _load_splitter(folder: Path, manifest: Manifest) -> CompoundSplitter | None:
    """The compound splitter the version was built with; None for a version written before
    format 2, which is served without compound parts until it is rebuilt."""
    path = folder / "lexical" / COMPOUNDS_FILE
    if manifest.format < 2:
        log.warning(
            "%s: index version %s has format %d; run `muni-crawl index %s` to rebuild it"
            " with compound splitting and title weighting",
            manifest.tenant,
            manifest.version,
            manifest.format,
            manifest.tenant,
        )
        return None
    return CompoundSplitter.load(path)


def load_current(indexes_dir: Path, tenant: str) -> TenantIndex:
    """Load the tenant's version CURRENT names (see load_current_in)."""
    return load_current_in(tenant_dir(indexes_dir, tenant), tenant)


def load_current_in(root: Path, tenant: str) -> TenantIndex:
    """Load the version CURRENT names under `root` (a tenant's or a shared index's folder;
    errors name `tenant`). If it vanishes while loading (pruned after builds that switched in
    newer ones meanwhile), CURRENT is read again rather than failing the reader."""
    version = current_version_in(root)
    if version is None:
        raise IndexNotBuiltError(
            tenant, "no index built yet; run `muni-crawl index " + tenant + "`"
        )
    for _ in range(LOAD_ATTEMPTS):
        folder = root / version
        try:
            return TenantIndex(folder)
        except (OSError, RuntimeError, ValueError, IndexNotBuiltError) as exc:
            # faiss reports a missing or truncated file as RuntimeError
            newer = current_version_in(root)
            if newer is None or newer == version:
                raise IndexNotBuiltError(
                    tenant, f"index version {version} is unreadable: {exc}"
                ) from exc
            version = newer
    raise IndexNotBuiltError(tenant, f"index versions change faster than they load ({version})")
