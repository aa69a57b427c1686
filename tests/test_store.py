"""The SQLite store: migrations from a blank database, WAL, and refusal of newer schemas."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from muni_crawl import Store, StoreError
from muni_crawl.store.migrations import latest_version


def test_migrations_from_a_blank_database(tmp_path: Path) -> None:
    db = tmp_path / "blank.db"
    with Store(db) as store:
        assert store.schema_version() == latest_version()
        mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
        tables = {
            r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert mode == "wal"
    assert {"crawl_runs", "resources", "pages", "page_versions", "schema_migrations"} <= tables
    with Store(db) as again:  # re-opening applies nothing twice
        rows = again.db.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0]
    assert rows == latest_version()


def test_a_database_from_a_newer_muni_crawl_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    Store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', datetime('now'))")
    with pytest.raises(StoreError, match="newer than this muni_crawl"):
        Store(db)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the database"):
        Store(junk)
