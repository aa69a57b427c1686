"""Numbered schema migrations, applied in order on open and recorded in schema_migrations."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def _m001_crawl() -> str:
    """Crawl runs, fetched resources, pages and their versions."""
    return """
        CREATE TABLE crawl_runs (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,            -- running | ok | partial | failed | aborted
            pid INTEGER,
            fetched INTEGER NOT NULL DEFAULT 0,
            not_modified INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            new INTEGER NOT NULL DEFAULT 0,
            changed INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            deleted INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            capped INTEGER NOT NULL DEFAULT 0,
            message TEXT
        );
        CREATE INDEX crawl_runs_source ON crawl_runs(source, id);

        -- one row per fetched URL: HTTP validators, links and the extraction before cleaning
        CREATE TABLE resources (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            url TEXT NOT NULL,
            status TEXT NOT NULL,            -- live | gone | failed
            http_status INTEGER,
            content_type TEXT,
            etag TEXT,
            last_modified TEXT,
            depth INTEGER NOT NULL DEFAULT 0,
            links TEXT NOT NULL DEFAULT '[]',
            extracted TEXT,                  -- JSON list of extracted documents, before cleaning
            raw_fingerprint TEXT,
            processed_fingerprint TEXT,      -- raw_fingerprint last turned into page versions
            first_seen_at TEXT NOT NULL,
            last_fetched_at TEXT,
            last_seen_run INTEGER,
            error TEXT,
            UNIQUE (source, url)
        );

        -- a citable unit: a whole page, a borger.dk national body or local section,
        -- or one selvbetjening.nu entry
        CREATE TABLE pages (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            url TEXT NOT NULL,
            resource_url TEXT NOT NULL,
            scope TEXT NOT NULL,             -- site | national | local
            municipality_code INTEGER,
            status TEXT NOT NULL,            -- live | deleted
            current_version INTEGER,
            first_seen_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deleted_at TEXT,
            UNIQUE (source, url)
        );
        CREATE INDEX pages_resource ON pages(source, resource_url);

        CREATE TABLE page_versions (
            id INTEGER PRIMARY KEY,
            page_id INTEGER NOT NULL REFERENCES pages(id),
            version INTEGER NOT NULL,
            fingerprint TEXT NOT NULL,
            title TEXT NOT NULL,
            language TEXT,
            content_type TEXT NOT NULL,
            text TEXT NOT NULL,
            run_id INTEGER REFERENCES crawl_runs(id),
            created_at TEXT NOT NULL,
            UNIQUE (page_id, version)
        );

        -- per source: the boilerplate blocks last applied, so a change re-cleans every page
        CREATE TABLE source_state (
            source TEXT PRIMARY KEY,
            boilerplate TEXT NOT NULL DEFAULT '[]',
            boilerplate_hash TEXT NOT NULL DEFAULT ''
        );
        """


def _m002_extractor_version() -> str:
    """Remember which extractor produced a resource's text, to re-fetch after an upgrade."""
    return "ALTER TABLE resources ADD COLUMN extractor_version INTEGER NOT NULL DEFAULT 0;"


def _m003_answers() -> str:
    """Answers with their usage records (the billing source) and review state."""
    return """
        CREATE TABLE answers (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            question TEXT NOT NULL,          -- redacted before it ever reaches this table
            question_hash TEXT NOT NULL,
            language TEXT NOT NULL,
            status TEXT NOT NULL,            -- approved | generated | extractive | no_answer
            reason TEXT,
            text TEXT NOT NULL,
            citations TEXT NOT NULL,         -- JSON: [{n, url, title, page_id, page_version}]
            passages TEXT NOT NULL,          -- JSON: the passages given to the composer
            model TEXT,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            provider_prompt_tokens INTEGER,
            provider_completion_tokens INTEGER,
            usage_mismatch INTEGER NOT NULL DEFAULT 0,
            documents_searched INTEGER NOT NULL DEFAULT 0,
            cost_micro_dkk INTEGER NOT NULL DEFAULT 0,
            review_status TEXT,              -- pending | approved | rejected | stale | NULL
            source_answer_id TEXT,           -- for status 'approved': the reviewed answer served
            created_at TEXT NOT NULL
        );
        CREATE INDEX answers_tenant_time ON answers(tenant, created_at);
        CREATE INDEX answers_review ON answers(review_status, tenant);
        CREATE INDEX answers_question ON answers(tenant, question_hash, created_at);
    """


def _m004_review() -> str:
    """Review: cited page versions (for staleness), the audit trail, approved answers' data."""
    return """
        CREATE TABLE answer_citations (
            answer_id TEXT NOT NULL REFERENCES answers(id),
            n INTEGER NOT NULL,
            page_id INTEGER NOT NULL,
            page_version INTEGER NOT NULL,
            PRIMARY KEY (answer_id, n)
        );
        CREATE INDEX answer_citations_page ON answer_citations(page_id);
        CREATE TABLE review_actions (
            id INTEGER PRIMARY KEY,
            answer_id TEXT NOT NULL REFERENCES answers(id),
            action TEXT NOT NULL,            -- approve | edit | reject | stale
            reviewer TEXT NOT NULL,
            at TEXT NOT NULL,
            reason TEXT,
            text_before TEXT,
            text_after TEXT
        );
        CREATE INDEX review_actions_answer ON review_actions(answer_id, id);
        ALTER TABLE answers ADD COLUMN approved_text TEXT;
        ALTER TABLE answers ADD COLUMN scope TEXT;          -- tenant | all
        ALTER TABLE answers ADD COLUMN reviewed_by TEXT;
        ALTER TABLE answers ADD COLUMN reviewed_at TEXT;
        ALTER TABLE answers ADD COLUMN question_vector BLOB;
        ALTER TABLE answers ADD COLUMN vector_model TEXT;
    """


def _m005_usage_note() -> str:
    """Why an answer's provider usage was not billed, with the provider's raw values (audit)."""
    return "ALTER TABLE answers ADD COLUMN usage_note TEXT;"


def _m006_question_language() -> str:
    """The question's language beside the answer text's (`language`): they differ when a
    question in another language is answered from Danish text. NULL for older answers, whose
    question language is their `language` (before this, generated answers were always in it)."""
    return "ALTER TABLE answers ADD COLUMN question_language TEXT;"


def _m007_unanswerable() -> str:
    """Questions found unanswerable from the passages retrieved (muni_crawl.unanswerable):
    which passages (`evidence_key`), who judged (`unanswerable`: llm | reviewer) and the
    question's vector, so that the same question on the same passages costs no tokens again."""
    return """
        ALTER TABLE answers ADD COLUMN evidence_key TEXT;
        ALTER TABLE answers ADD COLUMN unanswerable TEXT;
        CREATE INDEX answers_unanswerable ON answers(tenant, evidence_key)
            WHERE unanswerable IS NOT NULL;
    """


MIGRATIONS: list[Callable[[], str]] = [
    _m001_crawl,
    _m002_extractor_version,
    _m003_answers,
    _m004_review,
    _m005_usage_note,
    _m006_question_language,
    _m007_unanswerable,
]


def apply_migrations(db: sqlite3.Connection) -> list[int]:
    """Apply every migration not yet recorded, each in its own transaction; return those applied.

    The connection must be in autocommit mode (isolation_level=None): each migration runs as one
    script between BEGIN IMMEDIATE and COMMIT, so a failure leaves no half-applied schema.
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = []
    for number, migration in enumerate(MIGRATIONS, start=1):
        if _is_applied(db, number):
            continue
        name = migration.__name__.lstrip("_")
        script = (
            "BEGIN IMMEDIATE;\n"
            + migration()
            + f"\nINSERT INTO schema_migrations(version, name, applied_at)"
            f" VALUES ({number}, '{name}', datetime('now'));\nCOMMIT;"
        )
        try:
            db.executescript(script)
        except sqlite3.OperationalError:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if _is_applied(db, number):  # another process applied it first
                continue
            raise
        applied.append(number)
    return applied


def _is_applied(db: sqlite3.Connection, number: int) -> bool:
    row = db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (number,)).fetchone()
    return row is not None


def latest_version() -> int:
    return len(MIGRATIONS)
