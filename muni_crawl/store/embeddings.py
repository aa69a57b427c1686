"""The embedding cache's SQLite file: vectors keyed by (model id, text hash).

A separate file from the home's database: it is only a cache (deleting it costs a re-embed),
it grows with every model tried, and index builds in several threads share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from muni_crawl.store.database import CacheFile
from muni_crawl.types import Vectors

_IN_CLAUSE = 500  # keys per SELECT ... IN (...): below SQLite's variable limit


class VectorCache(CacheFile):
    """Float32 vectors by key; one connection per thread (SQLite connections are not shared)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        with self._db() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, model TEXT NOT NULL,"
                " dim INTEGER NOT NULL, vector BLOB NOT NULL)"
            )

    def get(self, keys: Sequence[str]) -> dict[str, Vectors]:
        """The cached vectors among `keys`."""
        found: dict[str, Vectors] = {}
        db = self._db()
        for start in range(0, len(keys), _IN_CLAUSE):
            chunk = list(keys[start : start + _IN_CLAUSE])
            marks = ",".join("?" * len(chunk))
            for key, dim, blob in db.execute(
                f"SELECT key, dim, vector FROM embeddings WHERE key IN ({marks})", chunk
            ):
                found[key] = np.frombuffer(blob, dtype=np.float32).reshape(dim)
        return found

    def put(self, model_id: str, items: Iterable[tuple[str, Vectors]]) -> None:
        """Store (key, vector) pairs of one model in one transaction."""
        db = self._db()
        with db:
            db.executemany(
                "INSERT OR REPLACE INTO embeddings(key, model, dim, vector) VALUES (?, ?, ?, ?)",
                [
                    (key, model_id, int(vector.shape[0]), vector.astype(np.float32).tobytes())
                    for key, vector in items
                ],
            )
