"""The chunk cache's SQLite file: each page's passages (an opaque blob) under the key they were
made for, and per tenant what its last index version was built from.

A separate file beside the home's database (its page ids are that database's): it is only a
cache, and deleting it costs one re-chunk of every page. muni_crawl.index.chunk_cache decides
the keys and what a blob holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from muni_crawl.store.database import CacheFile

_IN_CLAUSE = 500  # page ids per SELECT ... IN (...): below SQLite's variable limit


class ChunkStore(CacheFile):
    """Blobs by page id, with their keys; one connection per thread."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        db = self._db()
        with db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS chunks (page_id INTEGER PRIMARY KEY,"
                " key TEXT NOT NULL, passages BLOB NOT NULL)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS built (tenant TEXT PRIMARY KEY, version TEXT NOT NULL,"
                " digest TEXT NOT NULL, pages_key TEXT NOT NULL)"
            )

    def entries(self, keys: Mapping[int, str]) -> dict[int, bytes]:
        """The blobs of the pages whose stored key is the wanted one."""
        found: dict[int, bytes] = {}
        ids = list(keys)
        db = self._db()
        for start in range(0, len(ids), _IN_CLAUSE):
            some = ids[start : start + _IN_CLAUSE]
            marks = ",".join("?" * len(some))
            rows = db.execute(
                f"SELECT page_id, key, passages FROM chunks WHERE page_id IN ({marks})", some
            )
            for page_id, key, blob in rows:
                if key == keys[page_id]:
                    found[page_id] = bytes(blob)
        return found

    def put(self, entries: Mapping[int, tuple[str, bytes]]) -> None:
        """Replace these pages' entries (page id -> (key, blob))."""
        rows = [(page_id, key, blob) for page_id, (key, blob) in entries.items()]
        db = self._db()
        with db:
            db.executemany(
                "INSERT OR REPLACE INTO chunks(page_id, key, passages) VALUES (?, ?, ?)", rows
            )

    def prune(self, live_page_ids: Iterable[int]) -> int:
        """Drop the entries of pages that are no longer live; returns how many went."""
        live = set(live_page_ids)
        db = self._db()
        gone = [(row[0],) for row in db.execute("SELECT page_id FROM chunks") if row[0] not in live]
        if gone:
            with db:
                db.executemany("DELETE FROM chunks WHERE page_id = ?", gone)
        return len(gone)

    def built(self, tenant: str) -> tuple[str, str, str] | None:
        """(version, digest, pages key) of the tenant's index built last, if recorded."""
        row = (
            self._db()
            .execute("SELECT version, digest, pages_key FROM built WHERE tenant = ?", (tenant,))
            .fetchone()
        )
        return (str(row[0]), str(row[1]), str(row[2])) if row else None

    def record_built(self, tenant: str, version: str, digest: str, pages_key: str) -> None:
        db = self._db()
        with db:
            db.execute(
                "INSERT OR REPLACE INTO built(tenant, version, digest, pages_key)"
                " VALUES (?, ?, ?, ?)",
                (tenant, version, digest, pages_key),
            )
