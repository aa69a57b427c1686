"""The pages store: crawl runs, fetched resources (fetch state), pages and their versions.

A run left 'running' by a dead process is marked 'aborted' by the next run of the same source.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from muni_crawl.errors import StoreError
from muni_crawl.store.database import Database, utcnow
from muni_crawl.store.records import (
    CrawlRun,
    ExtractedResource,
    PageVersion,
    StoredPage,
    VersionCounts,
)
from muni_crawl.types import CrawlSummary, Document, Page


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


@dataclass(frozen=True)
class PageHead:
    """A stored page at its current version without its text: enough to tell, from versions
    alone, whether an index built from these pages is still current."""

    id: int
    source: str
    url: str
    scope: str
    municipality_code: int | None
    status: str
    version: int
    version_id: int
    title: str
    language: str | None
    content_type: str
    fingerprint: str
    created_at: str  # when this version was stored

    def with_text(self, text: str) -> Page:
        """The page at this version, with its text (read separately: see page_texts)."""
        return Page(
            id=self.id,
            source=self.source,
            url=self.url,
            scope=self.scope,
            municipality_code=self.municipality_code,
            status=self.status,
            version=self.version,
            version_id=self.version_id,
            title=self.title,
            text=text,
            language=self.language,
            content_type=self.content_type,
            fingerprint=self.fingerprint,
        )


class PageStore(Database):
    """What the crawler writes and the indexer, status and review read."""

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

    def runs(self, source: str | None = None, limit: int = 20) -> list[CrawlRun]:
        """The latest runs, newest first."""
        sql = "SELECT * FROM crawl_runs"
        args: tuple[Any, ...] = ()
        if source:
            sql += " WHERE source = ?"
            args = (source,)
        rows = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [CrawlRun.from_row(r) for r in rows]

    def run(self, run_id: int) -> CrawlRun:
        row = self.db.execute("SELECT * FROM crawl_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"no crawl run {run_id}")
        return CrawlRun.from_row(row)

    def last_run(self, source: str) -> CrawlRun | None:
        runs = self.runs(source, limit=1)
        return runs[0] if runs else None

    def last_success_start(self, source: str) -> str | None:
        """When the source's last successful (ok or partial) crawl started."""
        row = self.db.execute(
            "SELECT MAX(started_at) FROM crawl_runs WHERE source = ?"
            " AND status IN ('ok', 'partial')",
            (source,),
        ).fetchone()
        return str(row[0]) if row and row[0] else None

    def last_success_runs(self, sources: Iterable[str]) -> dict[str, int]:
        """Per source, the id of its last successful crawl run (0: none)."""
        runs = {}
        for source in sorted(sources):
            row = self.db.execute(
                "SELECT MAX(id) FROM crawl_runs WHERE source = ? AND status IN ('ok', 'partial')",
                (source,),
            ).fetchone()
            runs[source] = int(row[0] or 0)
        return runs

    def last_changing_runs(self) -> dict[str, int]:
        """Per source, the id of its last finished crawl run that changed any page."""
        rows = self.db.execute(
            "SELECT source, MAX(id) FROM crawl_runs WHERE status IN ('ok', 'partial')"
            " AND new + changed + deleted > 0 GROUP BY source"
        ).fetchall()
        return {str(row[0]): int(row[1]) for row in rows}

    def errors_since(self, source: str, since: str) -> int:
        """Failed fetches plus runs that did not succeed, since `since` (ISO time; "" = ever)."""
        row = self.db.execute(
            "SELECT COALESCE(SUM(failed), 0)"
            " + COALESCE(SUM(status NOT IN ('ok', 'partial', 'running')), 0)"
            " FROM crawl_runs WHERE source = ? AND started_at >= ?",
            (source, since),
        ).fetchone()
        return int(row[0])

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
        """A known URL is still there but was not re-downloaded (304, or sitemap lastmod).

        A 304 renews the copy's fetch time, so the sitemap trust window starts again; a
        sitemap skip does not (nothing was asked of the server)."""
        if counter not in ("not_modified", "skipped"):
            raise ValueError(counter)
        with self.transaction() as db:
            db.execute(
                "UPDATE resources SET last_seen_run = ?, status = 'live', error = NULL"
                " WHERE source = ? AND url = ?",
                (run_id, source, url),
            )
            if counter == "not_modified":  # the server confirmed our copy: trust it afresh
                db.execute(
                    "UPDATE resources SET last_fetched_at = ? WHERE source = ? AND url = ?",
                    (utcnow(), source, url),
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

    def page_heads(self) -> list[PageHead]:
        """Live pages at their current version, without their texts, in the order of pages()."""
        rows = self.db.execute(
            "SELECT p.id, p.source, p.url, p.scope, p.municipality_code, p.status,"
            " v.version, v.id AS version_id, v.title, v.language, v.content_type,"
            " v.fingerprint, v.created_at FROM pages p JOIN page_versions v"
            " ON v.page_id = p.id AND v.version = p.current_version WHERE p.status = 'live'"
            " ORDER BY p.source, p.url"
        )
        return [PageHead(**dict(r)) for r in rows]

    def live_page_ids(self) -> set[int]:
        """The ids of all live pages (what caches keyed by page may keep)."""
        return {int(r[0]) for r in self.db.execute("SELECT id FROM pages WHERE status = 'live'")}

    def page_texts(self, version_ids: Iterable[int]) -> dict[int, str]:
        """The texts of these page versions (page_versions.id), by version id."""
        wanted = list(dict.fromkeys(version_ids))
        texts: dict[int, str] = {}
        for start in range(0, len(wanted), 500):  # below SQLite's variable limit
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = self.db.execute(
                f"SELECT id, text FROM page_versions WHERE id IN ({marks})", chunk
            )
            texts.update((int(r[0]), str(r[1])) for r in rows)
        return texts

    def page_versions(self, source: str, url: str) -> list[PageVersion]:
        rows = self.db.execute(
            "SELECT v.* FROM page_versions v JOIN pages p ON p.id = v.page_id"
            " WHERE p.source = ? AND p.url = ? ORDER BY v.version",
            (source, url),
        )
        return [PageVersion.from_row(r) for r in rows]

    def page(self, page_id: int) -> StoredPage | None:
        row = self.db.execute("SELECT * FROM pages WHERE id = ?", (page_id,)).fetchone()
        return StoredPage.from_row(row) if row else None

    def live_pages_at(self, urls: Iterable[str]) -> list[StoredPage]:
        """Live pages stored under any of these URLs."""
        wanted = list(dict.fromkeys(urls))
        marks = ", ".join("?" for _ in wanted)
        rows = self.db.execute(
            f"SELECT * FROM pages WHERE status = 'live' AND url IN ({marks})", wanted
        )
        return [StoredPage.from_row(r) for r in rows]

    def page_status_counts(self, source: str) -> dict[str, int]:
        """How many of the source's pages are live and deleted."""
        rows = self.db.execute(
            "SELECT status, COUNT(*) FROM pages WHERE source = ? GROUP BY status", (source,)
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def live_resource_count(self, source: str) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM resources WHERE source = ? AND status = 'live'", (source,)
        ).fetchone()
        return int(row[0])

    def changed_content_groups(self, source: str, run_id: int) -> tuple[int, int]:
        """Of the resources this run found changed: how many, and the largest group with
        identical content (a maintenance page served under every URL)."""
        row = self.db.execute(
            "SELECT COUNT(*), MAX(n) FROM (SELECT COUNT(*) AS n FROM resources"
            " WHERE source = ? AND last_seen_run = ?"
            " AND processed_fingerprint IS NOT raw_fingerprint GROUP BY raw_fingerprint)",
            (source, run_id),
        ).fetchone()
        changed = self.db.execute(
            "SELECT COUNT(*) FROM resources WHERE source = ? AND last_seen_run = ?"
            " AND processed_fingerprint IS NOT raw_fingerprint",
            (source, run_id),
        ).fetchone()[0]
        return int(changed), int(row[1] or 0)

    # -- finalising a run: extractions -> page versions ---------------------------------------

    def mark_unreached_gone(self, source: str, run_id: int) -> None:
        """After a complete crawl: live resources this run did not reach are gone."""
        with self.transaction() as db:
            db.execute(
                "UPDATE resources SET status = 'gone' WHERE source = ? AND status = 'live'"
                " AND (last_seen_run IS NULL OR last_seen_run <> ?)",
                (source, run_id),
            )

    def extracted_resources(self, source: str) -> list[ExtractedResource]:
        """The source's live resources with an extraction, for cleaning into page versions."""
        rows = self.db.execute(
            "SELECT url, extracted, raw_fingerprint, processed_fingerprint FROM resources"
            " WHERE source = ? AND status = 'live' AND extracted IS NOT NULL",
            (source,),
        ).fetchall()
        return [
            ExtractedResource(
                url=r["url"],
                documents=[Document.from_dict(d) for d in json.loads(r["extracted"])],
                raw_fingerprint=r["raw_fingerprint"],
                processed_fingerprint=r["processed_fingerprint"],
            )
            for r in rows
        ]

    def boilerplate_hash(self, source: str) -> str | None:
        """The hash of the boilerplate last applied to the source (None: never cleaned)."""
        row = self.db.execute(
            "SELECT boilerplate_hash FROM source_state WHERE source = ?", (source,)
        ).fetchone()
        return str(row[0]) if row else None

    def store_versions(
        self,
        source: str,
        resource_url: str,
        cleaned: Sequence[tuple[Document, str, str]],
        run_id: int,
        counts: VersionCounts,
    ) -> None:
        """One resource's cleaned documents -> page versions, in one transaction.

        `cleaned` holds each document with its cleaned text and that text's fingerprint; a
        page gets a new version only when its fingerprint changed. Pages of this resource
        that no document produced any more (a local section removed) are deleted. The
        resource is then marked processed.
        """
        with self.transaction() as db:
            now = utcnow()
            produced: set[str] = set()
            for doc, text, digest in cleaned:
                produced.add(doc.url)
                page = db.execute(
                    "SELECT p.id, p.status, p.current_version, v.fingerprint FROM pages p"
                    " LEFT JOIN page_versions v"
                    " ON v.page_id = p.id AND v.version = p.current_version"
                    " WHERE p.source = ? AND p.url = ?",
                    (source, doc.url),
                ).fetchone()
                if page is None:
                    cur = db.execute(
                        "INSERT INTO pages(source, url, resource_url, scope, municipality_code,"
                        " status, current_version, first_seen_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, 'live', 0, ?, ?)",
                        (source, doc.url, resource_url, doc.scope, doc.municipality_code, now, now),
                    )
                    page_id, version = int(cur.lastrowid or 0), 0
                    counts.new += 1
                elif page["fingerprint"] == digest and page["status"] == "live":
                    continue
                else:
                    page_id, version = page["id"], page["current_version"]
                    if page["status"] == "live":
                        counts.changed += 1
                    else:
                        counts.new += 1
                db.execute(
                    "INSERT INTO page_versions(page_id, version, fingerprint, title, language,"
                    " content_type, text, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        page_id,
                        version + 1,
                        digest,
                        doc.title,
                        doc.language,
                        doc.content_type,
                        text,
                        run_id,
                        now,
                    ),
                )
                db.execute(
                    "UPDATE pages SET current_version = ?, status = 'live', deleted_at = NULL,"
                    " updated_at = ?, resource_url = ?, scope = ?, municipality_code = ?"
                    " WHERE id = ?",
                    (version + 1, now, resource_url, doc.scope, doc.municipality_code, page_id),
                )
            # sections that vanished from a page that is still there (a local section removed)
            for row in db.execute(
                "SELECT id, url FROM pages WHERE source = ? AND resource_url = ?"
                " AND status = 'live'",
                (source, resource_url),
            ).fetchall():
                if row["url"] not in produced:
                    db.execute(
                        "UPDATE pages SET status = 'deleted', deleted_at = ?, updated_at = ?"
                        " WHERE id = ?",
                        (now, now, row["id"]),
                    )
                    counts.deleted += 1
            db.execute(
                "UPDATE resources SET processed_fingerprint = raw_fingerprint"
                " WHERE source = ? AND url = ?",
                (source, resource_url),
            )

    def finish_cleaning(
        self, source: str, boilerplate: list[str], boilerplate_hash: str, run_id: int
    ) -> tuple[int, int]:
        """Remember the boilerplate applied and delete the pages of gone resources; returns
        (pages deleted, live pages this run reached)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO source_state(source, boilerplate, boilerplate_hash)"
                " VALUES (?, ?, ?) ON CONFLICT(source) DO UPDATE SET"
                " boilerplate = excluded.boilerplate, boilerplate_hash = excluded.boilerplate_hash",
                (source, json.dumps(boilerplate, ensure_ascii=False), boilerplate_hash),
            )
            now = utcnow()
            cur = db.execute(
                "UPDATE pages SET status = 'deleted', deleted_at = ?, updated_at = ?"
                " WHERE source = ? AND status = 'live' AND resource_url IN"
                " (SELECT url FROM resources WHERE source = ? AND status = 'gone')",
                (now, now, source, source),
            )
            deleted = cur.rowcount
        seen = self.db.execute(
            "SELECT COUNT(*) FROM pages p JOIN resources r"
            " ON r.source = p.source AND r.url = p.resource_url"
            " WHERE p.source = ? AND p.status = 'live' AND r.last_seen_run = ?",
            (source, run_id),
        ).fetchone()[0]
        return deleted, int(seen)

    def count_versions(self, source: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM page_versions v JOIN pages p ON p.id = v.page_id"
        row = (
            self.db.execute(sql + " WHERE p.source = ?", (source,)).fetchone()
            if source
            else self.db.execute(sql).fetchone()
        )
        return int(row[0])
