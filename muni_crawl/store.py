"""SQLite store (WAL mode, migrations on open): crawl runs, fetched resources, pages, versions.

Every write that must be all-or-nothing runs in one BEGIN IMMEDIATE transaction, so a process
killed at any instant leaves the database consistent; a run left 'running' by a dead process is
marked 'aborted' by the next run of the same source.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from muni_crawl.answer_log import flush_spool, spool_dir
from muni_crawl.errors import StoreError
from muni_crawl.migrations import apply_migrations, latest_version
from muni_crawl.types import CrawlSummary, Document, Page

DEFAULT_BUSY_TIMEOUT = 30.0  # seconds a crawl, an index build or a review waits for the lock
LONG_WAIT_MS = int(DEFAULT_BUSY_TIMEOUT * 1000)


def utcnow() -> str:
    """Timestamps are ISO 8601 UTC strings: sortable and readable in the database."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class ResourceState:
    """What the store remembers of a fetched URL, for conditional requests and link replay."""

    url: str
    status: str
    etag: str | None
    last_modified: str | None
    last_fetched_at: str | None
    links: tuple[str, ...]
    depth: int
    extractor_version: int = 0


class Store:
    """The embedded SQLite store of one home.

    `busy_timeout` is how long a write waits for another process's write lock (reads never
    wait on a writer in WAL mode). Pending migrations always get the full default wait: they
    run once per upgrade and cannot be skipped.
    """

    def __init__(self, path: Path | str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        wait_ms = int(busy_timeout * 1000)
        try:
            self.db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None)
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
        if spool_dir(self.path).is_dir():
            flush_spool(self)  # answers spooled while another process held the write lock

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
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

    def _schema_is_current(self) -> bool:
        """True when every migration is applied already: opening then needs no write at all."""
        exists = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        return exists is not None and self.schema_version() >= latest_version()

    def schema_version(self) -> int:
        row = self.db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    # -- crawl runs -------------------------------------------------------------------------

    def start_run(self, source: str) -> int:
        """Open a run. The caller holds the source's lock, so any run of this source still
        marked 'running' belongs to a process that died: it is marked 'aborted'."""
        with self.transaction() as db:
            db.execute(
                "UPDATE crawl_runs SET status = 'aborted', finished_at = ?,"
                " message = 'process died before the run finished'"
                " WHERE source = ? AND status = 'running'",
                (utcnow(), source),
            )
            cur = db.execute(
                "INSERT INTO crawl_runs(source, started_at, status, pid)"
                " VALUES (?, ?, 'running', ?)",
                (source, utcnow(), os.getpid()),
            )
            return int(cur.lastrowid or 0)

    def finish_run(
        self,
        run_id: int,
        status: str,
        *,
        new: int,
        changed: int,
        unchanged: int,
        deleted: int,
        capped: bool,
        message: str | None = None,
    ) -> None:
        self.db.execute(
            "UPDATE crawl_runs SET status = ?, finished_at = ?, new = ?, changed = ?,"
            " unchanged = ?, deleted = ?, capped = ?, message = ? WHERE id = ?",
            (status, utcnow(), new, changed, unchanged, deleted, int(capped), message, run_id),
        )

    def run_summary(self, run_id: int) -> CrawlSummary:
        row = self.db.execute("SELECT * FROM crawl_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"no crawl run {run_id}")
        started = datetime.fromisoformat(row["started_at"])
        finished = datetime.fromisoformat(row["finished_at"]) if row["finished_at"] else None
        return CrawlSummary(
            source=row["source"],
            run_id=row["id"],
            status=row["status"],
            fetched=row["fetched"],
            not_modified=row["not_modified"],
            skipped=row["skipped"],
            new=row["new"],
            changed=row["changed"],
            unchanged=row["unchanged"],
            deleted=row["deleted"],
            failed=row["failed"],
            capped=bool(row["capped"]),
            duration_s=(finished - started).total_seconds() if finished else 0.0,
            message=row["message"],
        )

    def runs(self, source: str | None = None, limit: int = 20) -> list[sqlite3.Row]:
        sql = "SELECT * FROM crawl_runs"
        args: tuple[Any, ...] = ()
        if source:
            sql += " WHERE source = ?"
            args = (source,)
        return self.db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()

    # -- resources (fetch state) ------------------------------------------------------------

    def resource_states(self, source: str) -> dict[str, ResourceState]:
        """Everything known about a source's URLs, loaded once at the start of a crawl."""
        rows = self.db.execute(
            "SELECT url, status, etag, last_modified, last_fetched_at, links, depth,"
            " extractor_version FROM resources WHERE source = ?",
            (source,),
        )
        return {
            r["url"]: ResourceState(
                url=r["url"],
                status=r["status"],
                etag=r["etag"],
                last_modified=r["last_modified"],
                last_fetched_at=r["last_fetched_at"],
                links=tuple(json.loads(r["links"])),
                depth=r["depth"],
                extractor_version=r["extractor_version"],
            )
            for r in rows
        }

    def record_fetch(
        self,
        run_id: int,
        source: str,
        url: str,
        *,
        http_status: int,
        content_type: str,
        etag: str | None,
        last_modified: str | None,
        depth: int,
        links: list[str],
        documents: list[Document],
        raw_fingerprint: str,
        extractor_version: int = 0,
    ) -> None:
        """A page was downloaded and extracted: remember it (cleaning and versioning come later)."""
        now = utcnow()
        extracted = json.dumps([d.to_dict() for d in documents], ensure_ascii=False)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO resources(source, url, status, http_status, content_type, etag,"
                " last_modified, depth, links, extracted, raw_fingerprint, first_seen_at,"
                " last_fetched_at, last_seen_run, error, extractor_version)"
                " VALUES (?, ?, 'live', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)"
                " ON CONFLICT(source, url) DO UPDATE SET status = 'live',"
                " http_status = excluded.http_status, content_type = excluded.content_type,"
                " etag = excluded.etag, last_modified = excluded.last_modified,"
                " depth = MIN(depth, excluded.depth), links = excluded.links,"
                " extracted = excluded.extracted, raw_fingerprint = excluded.raw_fingerprint,"
                " last_fetched_at = excluded.last_fetched_at,"
                " last_seen_run = excluded.last_seen_run, error = NULL,"
                " extractor_version = excluded.extractor_version",
                (
                    source,
                    url,
                    http_status,
                    content_type,
                    etag,
                    last_modified,
                    depth,
                    json.dumps(links),
                    extracted,
                    raw_fingerprint,
                    now,
                    now,
                    run_id,
                    extractor_version,
                ),
            )
            db.execute("UPDATE crawl_runs SET fetched = fetched + 1 WHERE id = ?", (run_id,))

    def record_seen(self, run_id: int, source: str, url: str, *, counter: str) -> None:
        """A known URL is still there but was not re-downloaded (304, or sitemap lastmod)."""
        if counter not in ("not_modified", "skipped"):
            raise ValueError(counter)
        with self.transaction() as db:
            db.execute(
                "UPDATE resources SET last_seen_run = ?, status = 'live', error = NULL"
                " WHERE source = ? AND url = ?",
                (run_id, source, url),
            )
            db.execute(f"UPDATE crawl_runs SET {counter} = {counter} + 1 WHERE id = ?", (run_id,))

    def record_gone(self, run_id: int, source: str, url: str, http_status: int) -> None:
        """404/410: the URL is gone; its pages are deleted when the run is finalised."""
        with self.transaction() as db:
            db.execute(
                "UPDATE resources SET status = 'gone', http_status = ?, last_seen_run = ?,"
                " last_fetched_at = ? WHERE source = ? AND url = ?",
                (http_status, run_id, utcnow(), source, url),
            )
            db.execute("UPDATE crawl_runs SET fetched = fetched + 1 WHERE id = ?", (run_id,))

    def record_failure(self, run_id: int, source: str, url: str, error: str) -> None:
        """A fetch or extraction failed: count it and keep the last good version serving."""
        with self.transaction() as db:
            db.execute(
                "UPDATE resources SET error = ?, last_seen_run = ? WHERE source = ? AND url = ?",
                (error[:500], run_id, source, url),
            )
            db.execute("UPDATE crawl_runs SET failed = failed + 1 WHERE id = ?", (run_id,))

    # -- pages ------------------------------------------------------------------------------

    def pages(self, source: str | None = None, *, include_deleted: bool = False) -> list[Page]:
        """Stored pages at their current version."""
        sql = (
            "SELECT p.id, p.source, p.url, p.scope, p.municipality_code, p.status,"
            " v.version, v.id AS version_id, v.title, v.text, v.language, v.content_type,"
            " v.fingerprint FROM pages p JOIN page_versions v"
            " ON v.page_id = p.id AND v.version = p.current_version WHERE 1 = 1"
        )
        args: list[Any] = []
        if source:
            sql += " AND p.source = ?"
            args.append(source)
        if not include_deleted:
            sql += " AND p.status = 'live'"
        rows = self.db.execute(sql + " ORDER BY p.source, p.url", args)
        return [Page(**dict(r)) for r in rows]

    def page_versions(self, source: str, url: str) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT v.* FROM page_versions v JOIN pages p ON p.id = v.page_id"
            " WHERE p.source = ? AND p.url = ? ORDER BY v.version",
            (source, url),
        ).fetchall()

    def count_versions(self, source: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM page_versions v JOIN pages p ON p.id = v.page_id"
        row = (
            self.db.execute(sql + " WHERE p.source = ?", (source,)).fetchone()
            if source
            else self.db.execute(sql).fetchone()
        )
        return int(row[0])
