"""One SQLite database file: the connection, its pragmas, migrations and write transactions.

WAL mode lets readers run while another process writes; every write that must be
all-or-nothing runs in one BEGIN IMMEDIATE transaction, so a process killed at any instant
leaves the database consistent. Nothing outside `muni_crawl.store` sees the connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from muni_crawl.errors import StoreError
from muni_crawl.store.migrations import apply_migrations, latest_version

DEFAULT_BUSY_TIMEOUT = 30.0  # seconds a crawl, an index build or a review waits for the lock
LONG_WAIT_MS = int(DEFAULT_BUSY_TIMEOUT * 1000)


def utcnow() -> str:
    """Timestamps are ISO 8601 UTC strings: sortable and readable in the database."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def is_busy(exc: sqlite3.Error) -> bool:
    """True when another connection holds the lock (the write may succeed later)."""
    name = str(getattr(exc, "sqlite_errorname", ""))
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc)


class Database:
    """The embedded SQLite database of one home, migrated to this release on open.

    `busy_timeout` is how long a write waits for another process's write lock (reads never
    wait on a writer in WAL mode). Pending migrations always get the full default wait: they
    run once per upgrade and cannot be skipped.
    """

    def __init__(self, path: Path | str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        wait_ms = int(busy_timeout * 1000)
        try:
            # one thread uses a store at a time, but close() may come from another: the
            # Answerer closes its worker threads' stores when a server shuts down
            self.db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self.db.row_factory = sqlite3.Row
            current = self._schema_is_current()
            # creating or upgrading the schema happens once: it may wait the full default
            self.db.execute(f"PRAGMA busy_timeout={wait_ms if current else LONG_WAIT_MS}")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            if not current:
                apply_migrations(self.db)
                self.db.execute(f"PRAGMA busy_timeout={wait_ms}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open the database: {exc}") from exc
        version = self.schema_version()
        if version > latest_version():
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this muni_crawl"
                f" ({latest_version()}); upgrade muni_crawl"
            )
        self._opened()

    def _opened(self) -> None:
        """Work a store does once the schema is current (the answers store: its spool)."""

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back on any exception."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # also after a failed COMMIT: never leave one open
                self.db.execute("ROLLBACK")
            raise

    @contextmanager
    def busy_timeout(self, seconds: float) -> Iterator[None]:
        """Wait at most `seconds` for the write lock inside this block."""
        previous = int(self.db.execute("PRAGMA busy_timeout").fetchone()[0])
        self.db.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
        try:
            yield
        finally:
            self.db.execute(f"PRAGMA busy_timeout = {previous}")

    def _schema_is_current(self) -> bool:
        """True when every migration is applied already: opening then needs no write at all."""
        exists = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        return exists is not None and self.schema_version() >= latest_version()

    def schema_version(self) -> int:
        row = self.db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)


class CacheFile:
    """A cache's own SQLite file (embeddings, chunks): WAL, one connection per thread, since
    SQLite connections are not shared between threads; deleting the file only costs work."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (the last one to close folds the WAL into the file)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
