"""Review: approve (optionally edited), reject, stale-marking when cited pages change, export.

Every action runs in one BEGIN IMMEDIATE transaction that re-checks the answer's status, so
two reviewers acting at once are serialised by SQLite: both actions are recorded, or the
second gets a clear ReviewError; none is lost. Every action lands in `review_actions`.

An approval names who is served the answer: its own tenant, or every tenant (`scope="all"`).
Every cited page, and every page linked in the text, must reach all of them (see
`review_scope`), so one municipality's local text is never published to the others unless a
reviewer forces it, and the forced warning is kept in the audit trail. Questions and texts
leave this module (display, export) redacted again, because older releases stored them with a
weaker redactor.
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
from muni_crawl.redact import redact
from muni_crawl.review_scope import GONE, ScopeProblem, scope_problems
from muni_crawl.sites import Registry
from muni_crawl.store import Store, utcnow

REVIEW_STATUSES = ("pending", "approved", "rejected", "stale")
SCOPES = ("tenant", "all")
MAX_LISTED = 10_000  # answers one listing returns at most (SQLite's LIMIT is a 64-bit integer)
SYSTEM_REVIEWER = "muni_crawl"


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
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    sql += " ORDER BY created_at DESC LIMIT ?"
    return store.db.execute(sql, (*args, min(limit, MAX_LISTED))).fetchall()


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
    registry: Registry | None = None,
    force: bool = False,
) -> list[str]:
    """Approve a pending (or stale) answer, optionally with an edited text; returns warnings.

    With `registry`, the answer's tenant must still exist and every cited or linked page must
    reach every tenant the scope names; `scope="all"` needs it. `force` publishes pages that do
    not reach them anyway and records why in the audit trail; it never overrides a deleted
    page, another tenant's contact page or a CPR number in the text.
    """
    if scope not in SCOPES:
        raise ReviewError(answer_id, f"scope must be one of {', '.join(SCOPES)}")
    row = get_answer(store, answer_id)
    if text is not None and not text.strip():
        raise ReviewError(answer_id, "the edited answer is empty; nothing was approved")
    if registry is None and scope == "all":
        raise ReviewError(
            answer_id, "approving for all tenants needs the registry to check the cited pages"
        )
    if registry is not None and row["tenant"] not in registry.tenants:
        raise ReviewError(
            answer_id,
            f"its tenant {row['tenant']!r} is no longer declared in spiders/tenants.toml;"
            " reject it instead",
        )
    before = row["approved_text"] or row["text"]
    final = text.strip() if text is not None else before
    _refuse_cpr(answer_id, final)
    warnings = _contact_warnings(before, final)
    _scope_warnings(store.db, answer_id, row, final, scope, registry, force)  # fail fast
    vector = embedder.embed_queries([row["question"]])[0].astype(np.float32)
    now = utcnow()
    with store.transaction() as db:
        current = db.execute("SELECT * FROM answers WHERE id = ?", (answer_id,)).fetchone()
        if current["review_status"] not in ("pending", "stale"):
            raise ReviewError(
                answer_id, f"is {current['review_status'] or 'not under review'}, not pending"
            )
        if (current["approved_text"] or current["text"]) != before:
            raise ReviewError(answer_id, "was changed by another reviewer meanwhile; try again")
        warnings = _scope_warnings(db, answer_id, current, final, scope, registry, force) + warnings
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
            "INSERT INTO review_actions(answer_id, action, reviewer, at, reason, text_before,"
            " text_after) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                answer_id,
                "edit" if final != before else "approve",
                reviewer,
                now,
                "; ".join(warnings) or None,
                before,
                final,
            ),
        )
    return warnings


def _refuse_cpr(answer_id: str, text: str) -> None:
    """A CPR number is a citizen's identity, never part of an answer published to others."""
    if redact(text).cpr:
        raise ReviewError(
            answer_id,
            "the answer text contains a CPR number; remove it (review approve --edit)"
            " before approving",
        )


def _contact_warnings(before: str, final: str) -> list[str]:
    """An edit may add the municipality's phone or e-mail, but a reviewer should check it."""
    old, new = redact(before), redact(final)
    added = []
    if new.phone > old.phone:
        added.append(f"{new.phone - old.phone} phone number(s)")
    if new.email > old.email:
        added.append(f"{new.email - old.email} e-mail address(es)")
    if not added:
        return []
    return [
        f"the edit adds {' and '.join(added)}: citizens will see them, so they must be the"
        " municipality's public contact details"
    ]


def _scope_warnings(
    db: sqlite3.Connection,
    answer_id: str,
    row: sqlite3.Row,
    text: str,
    scope: str,
    registry: Registry | None,
    force: bool,
) -> list[str]:
    """Refuse what the scope's tenants must not be served; with `force`, warn instead."""
    if registry is None:
        gone = [
            r["url"] or f"page {r['page_id']}"
            for r in db.execute(
                "SELECT c.page_id, p.url FROM answer_citations c"
                " LEFT JOIN pages p ON p.id = c.page_id"
                " WHERE c.answer_id = ? AND (p.id IS NULL OR p.status <> 'live')",
                (answer_id,),
            )
        ]
        problems = [ScopeProblem(url, GONE, forceable=False) for url in gone]
    else:
        targets = list(registry.tenants) if scope == "all" else [row["tenant"]]
        problems = scope_problems(db, registry, row, text, targets)
    hard = [p for p in problems if not p.forceable]
    if hard or (problems and not force):
        audience = "every tenant" if scope == "all" else f"tenant {row['tenant']}"
        listed = "; ".join(str(p) for p in (hard or problems))
        raise ReviewError(
            answer_id, f"cannot be served to {audience}: {listed}; {_hint(hard, scope)}"
        )
    return [f"forced --scope {scope}: {p}" for p in problems]


def _hint(hard: list[ScopeProblem], scope: str) -> str:
    """What the reviewer can do instead."""
    if any(p.problem == GONE for p in hard):
        return "reject it instead"
    if hard:
        return "approve it with --scope tenant"
    if scope == "all":
        return "approve it with --scope tenant, or --force to publish it anyway"
    return "--force approves it anyway"


def reject(store: Store, answer_id: str, *, reviewer: str, reason: str) -> None:
    """Reject a pending (or stale) answer, also one whose tenant is gone: it clears the queue.

    The reason is free text a reviewer may paste a citizen's details into: stored redacted.
    """
    if not reason.strip():
        raise ReviewError(answer_id, "a rejection needs a reason")
    reason = redact(reason.strip()).text
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
            (answer_id, reviewer, now, reason),
        )


def mark_stale(store: Store, registry: Registry | None = None) -> list[str]:
    """Approved answers whose cited page changed or disappeared become stale; returns their ids.

    With `registry`, so does an answer approved for all tenants whose pages no longer reach
    them all (approved by a release without the check, or the sources changed since), unless
    a reviewer forced it.
    """
    with store.transaction() as db:
        stale = {
            r[0]: "a cited page changed on re-crawl"
            for r in db.execute(
                "SELECT DISTINCT a.id FROM answers a"
                " JOIN answer_citations c ON c.answer_id = a.id"
                " LEFT JOIN pages p ON p.id = c.page_id"
                " WHERE a.review_status = 'approved' AND (p.id IS NULL"
                " OR p.status <> 'live' OR p.current_version <> c.page_version)"
            )
        }
        if registry is not None:
            for answer_id, problems in _unshared_approvals(db, registry).items():
                listed = "; ".join(str(p) for p in problems)
                stale.setdefault(answer_id, f"no longer shared by every tenant: {listed}")
        now = utcnow()
        for answer_id, reason in stale.items():
            db.execute("UPDATE answers SET review_status = 'stale' WHERE id = ?", (answer_id,))
            db.execute(
                "INSERT INTO review_actions(answer_id, action, reviewer, at, reason)"
                " VALUES (?, 'stale', ?, ?, ?)",
                (answer_id, SYSTEM_REVIEWER, now, reason),
            )
    return list(stale)


def _unshared_approvals(
    db: sqlite3.Connection, registry: Registry
) -> dict[str, list[ScopeProblem]]:
    """Answers approved for all tenants, not forced, that cite or link what some cannot see."""
    rows = db.execute(
        "SELECT * FROM answers a WHERE review_status = 'approved' AND scope = 'all'"
        " AND NOT EXISTS (SELECT 1 FROM review_actions r WHERE r.answer_id = a.id"
        " AND r.at = a.reviewed_at AND r.reason LIKE 'forced --scope all%')"
    ).fetchall()
    found = {}
    for row in rows:
        text = row["approved_text"] or row["text"]
        problems = scope_problems(db, registry, row, text, list(registry.tenants))
        if problems:
            found[row["id"]] = problems
    return found


def find_approved(
    store: Store,
    *,
    tenant: str,
    language: str,
    vector: np.ndarray,
    model_id: str,
    threshold: float,
) -> ApprovedMatch | None:
    """The approved answer (this tenant's, or scoped to all) closest to the question.

    None when the database cannot be read just now: the question is then answered afresh,
    which costs tokens but never fails the citizen's answer.
    """
    try:
        rows = store.db.execute(
            "SELECT id, approved_text, citations, question_vector FROM answers"
            " WHERE review_status = 'approved' AND language = ? AND vector_model = ?"
            " AND (tenant = ? OR scope = 'all')",
            (language, model_id, tenant),
        ).fetchall()
    except sqlite3.Error as exc:
        import logging

        logging.getLogger(__name__).warning("approved answers could not be read: %s", exc)
        return None
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
    """Approved answers for import into the rule-based chatbot, questions redacted again."""
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
            "question": shown_question(r["question"]),
            "answer": shown_answer(r["approved_text"] or r["text"]),
            "citations": [
                {"n": c["n"], "url": c["url"], "title": c["title"]}
                for c in json.loads(r["citations"])
            ],
            "approved_by": r["reviewed_by"],
            "approved_at": r["reviewed_at"],
        }
        for r in rows
    ]


def shown_question(question: str) -> str:
    """A stored question as it may be shown or exported: redacted with today's redactor.

    Databases written by older releases hold questions redacted by a weaker redactor.
    """
    return redact(question).text


def shown_answer(text: str) -> str:
    """An answer text as it may be shown or exported.

    Answers rightly carry the municipality's phone numbers and e-mail addresses, so only a
    text holding a CPR number (approval refuses those; older releases did not) is redacted.
    """
    redaction = redact(text)
    return redaction.text if redaction.cpr else text
