"""Each page version's passages, chunked once and kept until the page or the chunker changes.

Re-chunking every page of a tenant was about 95% of an unchanged re-index. A cache entry is
keyed by everything chunk_page reads of a page except its text (page id, version row, content
fingerprint, URL, title, scope, ...; a version row's text never changes), by the chunk settings
and by the chunker's own code, so an entry is served only for the exact page version and
chunker that produced it. Per tenant, it also remembers the pages key of the index version
built last, so an unchanged re-index is recognised from page versions alone, without reading
a single page text.

It is only a cache: deleting the file costs one re-chunk of every page. It sits next to the
home's database because the page ids in its keys are that database's.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import astuple, dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType

from muni_crawl import chunk, tokens
from muni_crawl.chunk import chunk_page
from muni_crawl.store.chunks import ChunkStore
from muni_crawl.store.pages import PageHead
from muni_crawl.types import Passage

CHUNK_CACHE_FORMAT = 1  # bump when what an entry holds, or how keys are made, changes


def code_id(*modules: ModuleType) -> str:
    """A hash of these modules' source files: their code is their version.

    Hashing the source rather than trusting a hand-bumped number means an edit to the
    chunker (or to what a build does to passages) can never leave old results in use."""
    h = hashlib.sha256()
    for module in modules:
        h.update(Path(module.__file__ or "").read_bytes())
    return h.hexdigest()[:16]


@cache
def chunker_id() -> str:
    """The chunker's identity: its code, the token counter's code and tiktoken's release."""
    tiktoken = metadata.version("tiktoken")
    return f"{CHUNK_CACHE_FORMAT}-{code_id(chunk, tokens)}-{tiktoken}"


@dataclass(frozen=True)
class ChunkSettings:
    """How pages are cut into passages (the index settings' chunk sizes)."""

    min_tokens: int
    max_tokens: int

    def key(self) -> str:
        return f"{chunker_id()}:{self.min_tokens}:{self.max_tokens}"


def page_key(head: PageHead, settings: ChunkSettings) -> str:
    """The key of one page version's passages under these settings."""
    fields = json.dumps(astuple(head), ensure_ascii=False)
    return hashlib.sha256(f"{settings.key()}\n{fields}".encode()).hexdigest()


def pages_key(heads: Sequence[PageHead], settings: ChunkSettings, build_rules: str) -> str:
    """One key for a tenant's whole view: equal keys mean equal passages and digest.

    `build_rules` names everything else the passages digest depends on (the model, the index
    format, what is done to passages after chunking)."""
    h = hashlib.sha256(f"{build_rules}\n{settings.key()}\n".encode())
    for head in heads:
        h.update(f"{page_key(head, settings)}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class BuiltRecord:
    """The tenant's index version built last, its passages digest and its pages key."""

    version: str
    digest: str
    pages_key: str


@dataclass(frozen=True)
class Chunked:
    """A tenant's passages in page order, and how many pages had to be chunked afresh."""

    passages: list[Passage]
    chunked_pages: int
    cached_pages: int


class ChunkCache:
    """Passages by page version, kept in the chunk store (muni_crawl.store.chunks)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store = ChunkStore(path)

    @staticmethod
    def path_for(database: Path) -> Path:
        """Where the cache of the pages in `database` lives: beside it."""
        return database.with_name(database.stem + ".chunks.db")

    def close(self) -> None:
        self._store.close()

    # -- passages ------------------------------------------------------------------------------

    def passages(
        self,
        heads: Sequence[PageHead],
        settings: ChunkSettings,
        texts: Callable[[list[int]], dict[int, str]],
        *,
        refresh: bool = False,
    ) -> Chunked:
        """The passages of these pages, in their order, exactly as chunk_page gives them.

        Pages without a matching entry (or all of them, with `refresh`) are read through
        `texts` (page version ids -> texts) and chunked, and their entries replaced."""
        keys = {head.id: page_key(head, settings) for head in heads}
        found = {} if refresh else self._entries(keys)
        missing = [head for head in heads if head.id not in found]
        if missing:
            text_of = texts([head.version_id for head in missing])
            fresh: dict[int, list[Passage]] = {}
            for head in missing:
                if head.version_id not in text_of:
                    raise LookupError(f"page {head.id} ({head.url}): version text not found")
                fresh[head.id] = chunk_page(
                    head.with_text(text_of[head.version_id]),
                    min_tokens=settings.min_tokens,
                    max_tokens=settings.max_tokens,
                )
            self._put({page_id: (keys[page_id], passages) for page_id, passages in fresh.items()})
            found.update(fresh)
        passages = [p for head in heads for p in found[head.id]]
        return Chunked(passages, len(missing), len(heads) - len(missing))

    def _entries(self, keys: dict[int, str]) -> dict[int, list[Passage]]:
        """The cached passages of the pages whose entry has the wanted key."""
        return {
            page_id: [Passage(**d) for d in json.loads(zlib.decompress(blob))]
            for page_id, blob in self._store.entries(keys).items()
        }

    def _put(self, entries: dict[int, tuple[str, list[Passage]]]) -> None:
        blobs: dict[int, tuple[str, bytes]] = {}
        for page_id, (key, passages) in entries.items():
            records = [p.to_dict() for p in passages]
            for record in records:
                record.pop("score")
                record.pop("dense_score")
            blob = zlib.compress(json.dumps(records, ensure_ascii=False).encode(), 1)
            blobs[page_id] = (key, blob)
        self._store.put(blobs)

    def prune(self, live_page_ids: Iterable[int]) -> int:
        """Drop the entries of pages that are no longer live; returns how many went."""
        return self._store.prune(live_page_ids)

    # -- what each tenant's index was built from ---------------------------------------------

    def built(self, tenant: str) -> BuiltRecord | None:
        row = self._store.built(tenant)
        return BuiltRecord(*row) if row else None

    def record_built(self, tenant: str, record: BuiltRecord) -> None:
        self._store.record_built(tenant, record.version, record.digest, record.pages_key)
