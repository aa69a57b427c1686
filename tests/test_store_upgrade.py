"""Upgrading: a database written by the previous release opens, migrates and keeps every row.

`tests/data/release-0.1-muni_crawl.db.gz` was written by muni_crawl 0.1 (commit 86b279f): the
demo crawled and indexed, three questions asked with extractive answers under review (one
with a CPR number, redacted), one answer approved and one rejected.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from muni_crawl.cli import cli
from muni_crawl.store import Store
from muni_crawl.store.migrations import latest_version
from muni_crawl.usage import Period, usage_report

RELEASE_0_1 = Path(__file__).parent / "data" / "release-0.1-muni_crawl.db.gz"
TABLES = (
    "crawl_runs",
    "resources",
    "pages",
    "page_versions",
    "source_state",
    "answers",
    "answer_citations",
    "review_actions",
)


@pytest.fixture
def old_database(isolated_home: Path) -> Path:
    """The previous release's database, as the home's database."""
    target = isolated_home / "muni_crawl.db"
    with gzip.open(RELEASE_0_1, "rb") as packed, target.open("wb") as out:
        shutil.copyfileobj(packed, out)
    return target


def _counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


def test_the_previous_release_database_opens_with_every_row(old_database: Path) -> None:
    before = _counts(old_database)
    assert before["answers"] == 7 and before["review_actions"] == 2
    with Store(old_database) as store:
        assert store.schema_version() == latest_version()
        runs = store.runs(limit=100)
        pages = store.pages()
        approved = store.approved_answers()
        trail = [
            a for r in store.answers_under_review(limit=100) for a in store.review_actions(r.id)
        ]
    assert _counts(old_database) == before  # no row lost or added by the upgrade
    assert len(runs) == before["crawl_runs"] and all(r.status == "ok" for r in runs)
    assert len(pages) == before["pages"] and all(p.text for p in pages)
    [answer] = approved
    assert answer.reviewed_by == "anna" and answer.question_vector is not None
    assert {(a.action, a.reviewer) for a in trail} == {("approve", "anna"), ("reject", "bo")}


def test_the_previous_release_answers_bill_and_review_as_before(old_database: Path) -> None:
    with Store(old_database) as store:
        report = usage_report(store, period=Period(None, None))
        pending = store.answers_under_review(review_status="pending")
    by_tenant = {row["tenant"]: row for row in report}
    assert by_tenant["example"]["answers"] == 4 and by_tenant["naboby"]["answers"] == 3
    assert by_tenant["TOTAL"]["documents_searched"] == 4 * 63 + 3 * 28
    assert [a.tenant for a in pending] == ["naboby"]
    # the CLI reads the upgraded database too: the export carries the approved answer
    result = CliRunner().invoke(cli, ["review", "export", "--format", "json"])
    assert result.exit_code == 0, result.output
    [exported] = json.loads(result.stdout)
    assert exported["approved_by"] == "anna" and exported["citations"]


def test_an_older_schema_is_migrated_forward_keeping_every_row(old_database: Path) -> None:
    """The same data at schema 4 (before usage notes): opening applies migration 5 only."""
    with sqlite3.connect(old_database) as conn:
        conn.execute("ALTER TABLE answers DROP COLUMN usage_note")
        conn.execute("DELETE FROM schema_migrations WHERE version = 5")
    before = _counts(old_database)
    with Store(old_database) as store:
        assert store.schema_version() == latest_version()
        answers = store.answers_under_review(limit=100)
    assert _counts(old_database) == before
    assert answers and all(a.usage_note is None for a in answers)
    with sqlite3.connect(old_database) as conn:
        applied = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert applied == list(range(1, latest_version() + 1))
