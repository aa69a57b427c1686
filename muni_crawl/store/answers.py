"""The answers store: answers (the billing record), their citations, the review trail.

Methods that write without a transaction of their own ("inside a transaction") are the steps
of a review action: the caller holds `transaction()` around its read, its checks and these
writes, so two reviewers acting at once are serialised by SQLite and none is lost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from muni_crawl.errors import StoreError
from muni_crawl.store.database import Database
from muni_crawl.store.records import CitedPage, ReviewAction, StoredAnswer
from muni_crawl.types import ANSWER_STATUSES

MAX_LISTED = 10_000  # answers one listing returns at most (SQLite's LIMIT is a 64-bit integer)
# usage report columns summed per tenant (the statuses are added per status)
_USAGE_SUMS = (
    "SUM(COALESCE(provider_prompt_tokens, prompt_tokens)) AS tokens_in,"
    " SUM(COALESCE(provider_completion_tokens, completion_tokens)) AS tokens_out,"
    " SUM(documents_searched) AS documents_searched,"
    " SUM(cost_micro_dkk) AS cost_micro_dkk, SUM(usage_mismatch) AS usage_mismatches"
)


def _refused_reply(kinds: tuple[str, ...]) -> str:
    """SQL: the answer's LLM reply arrived (and is billed) but failed a reply check; the
    Answerer records its reason as "LLM <kind>: ..." (GLOB: case-sensitive, "_" no wildcard)."""
    if not kinds or not all(k.replace("_", "").isalnum() for k in kinds):
        raise ValueError(f"refusal kinds must be plain words, not {kinds!r}")
    return "(" + " OR ".join(f"reason GLOB 'LLM {k}:*'" for k in kinds) + ")"


@contextmanager
def _reading(what: str) -> Iterator[None]:
    """A read the caller can do without (an optimisation, a check): a StoreError naming it."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"{what} could not be read: {exc}") from exc


class AnswerStore(Database):
    """What the Answerer writes and review, usage and status read."""

    def _opened(self) -> None:
        from muni_crawl.store.answer_log import flush_spool, spool_dir

        if spool_dir(self.path).is_dir():
            flush_spool(self)  # answers spooled while another process held the write lock

    # -- reading answers ----------------------------------------------------------------------

    def answer(self, answer_id: str) -> StoredAnswer | None:
        row = self.db.execute("SELECT * FROM answers WHERE id = ?", (answer_id,)).fetchone()
        return StoredAnswer.from_row(row) if row else None

    def answers_under_review(
        self, *, tenant: str | None = None, review_status: str | None = None, limit: int = 200
    ) -> list[StoredAnswer]:
        """Answers with a review status (the given one, or any), newest first."""
        sql = "SELECT * FROM answers WHERE review_status IS NOT NULL"
        args: list[Any] = []
        if tenant:
            sql += " AND tenant = ?"
            args.append(tenant)
        if review_status:
            sql += " AND review_status = ?"
            args.append(review_status)
        sql += " ORDER BY created_at DESC LIMIT ?"
        rows = self.db.execute(sql, (*args, min(limit, MAX_LISTED)))
        return [StoredAnswer.from_row(r) for r in rows]

    def review_actions(self, answer_id: str) -> list[ReviewAction]:
        rows = self.db.execute(
            "SELECT * FROM review_actions WHERE answer_id = ? ORDER BY id", (answer_id,)
        )
        return [ReviewAction.from_row(r) for r in rows]

    def cited_pages(self, answer_id: str) -> list[CitedPage]:
        """The answer's citations with the cited pages' state now (url None: page unknown)."""
        rows = self.db.execute(
            "SELECT c.n, c.page_id, c.page_version, p.url, p.status, p.current_version"
            " FROM answer_citations c LEFT JOIN pages p ON p.id = c.page_id"
            " WHERE c.answer_id = ? ORDER BY c.n",
            (answer_id,),
        )
        return [CitedPage(**dict(r)) for r in rows]

    def approved_candidates(
        self, *, tenant: str, language: str, model_id: str
    ) -> list[StoredAnswer]:
        """Approved answers this tenant may be served (its own or scoped to all), to questions
        in this language, with a question vector of this embedding model."""
        with _reading("approved answers"):
            rows = self.db.execute(
                "SELECT * FROM answers WHERE review_status = 'approved'"
                " AND COALESCE(question_language, language) = ?"
                " AND vector_model = ? AND (tenant = ? OR scope = 'all')",
                (language, model_id, tenant),
            ).fetchall()
        return [StoredAnswer.from_row(r) for r in rows]

    def unanswerable_candidates(
        self, *, tenant: str, evidence_key: str, model_id: str
    ) -> list[StoredAnswer]:
        """This tenant's questions found unanswerable from the same passages, with a question
        vector of this embedding model (an indexed lookup: a handful of rows at most)."""
        with _reading("unanswerable questions"):
            rows = self.db.execute(
                "SELECT * FROM answers WHERE tenant = ? AND evidence_key = ?"
                " AND unanswerable IS NOT NULL AND vector_model = ?",
                (tenant, evidence_key, model_id),
            ).fetchall()
        return [StoredAnswer.from_row(r) for r in rows]

    def unanswerable_questions(self, tenant: str | None, limit: int) -> list[StoredAnswer]:
        """Questions remembered as unanswerable (muni_crawl.unanswerable), newest first."""
        sql = "SELECT * FROM answers WHERE unanswerable IS NOT NULL"
        args: tuple[Any, ...] = ()
        if tenant:
            sql += " AND tenant = ?"
            args = (tenant,)
        rows = self.db.execute(sql + " ORDER BY created_at DESC LIMIT ?", (*args, limit))
        return [StoredAnswer.from_row(r) for r in rows]

    def verdicts(self, tenants: Sequence[str]) -> list[StoredAnswer]:
        """These tenants' answers whose question was judged, newest first: generated answers
        the review team approved, and questions found unanswerable by the LLM or a reviewer
        (the labels `muni-crawl calibrate` fits the evidence gate on)."""
        if not tenants:
            return []
        marks = ", ".join("?" for _ in tenants)
        with _reading("judged answers"):
            rows = self.db.execute(
                f"SELECT * FROM answers WHERE tenant IN ({marks}) AND status != 'approved'"
                " AND (review_status = 'approved' OR unanswerable IS NOT NULL)"
                " ORDER BY created_at DESC, rowid DESC",
                tuple(tenants),
            ).fetchall()
        return [StoredAnswer.from_row(r) for r in rows]

    def text_language(self, answer_id: str) -> str | None:
        """The language of an answer's text (None: no such answer)."""
        with _reading("an answer's language"):
            row = self.db.execute(
                "SELECT language FROM answers WHERE id = ?", (answer_id,)
            ).fetchone()
        return str(row[0]) if row else None

    def approved_answers(self, tenant: str | None = None) -> list[StoredAnswer]:
        """Every approved answer (served to `tenant`: its own or scoped to all)."""
        sql = "SELECT * FROM answers WHERE review_status = 'approved'"
        args: tuple[Any, ...] = ()
        if tenant:
            sql += " AND (tenant = ? OR scope = 'all')"
            args = (tenant,)
        rows = self.db.execute(sql + " ORDER BY tenant, reviewed_at", args)
        return [StoredAnswer.from_row(r) for r in rows]

    def recent_pending(self, tenant: str, question_hash: str, since: str) -> StoredAnswer | None:
        """The newest generated answer to the same question still pending review since `since`."""
        with _reading("pending answers"):
            row = self.db.execute(
                "SELECT * FROM answers WHERE tenant = ? AND question_hash = ?"
                " AND status = 'generated' AND review_status = 'pending'"
                " AND created_at >= ? ORDER BY created_at DESC LIMIT 1",
                (tenant, question_hash, since),
            ).fetchone()
        return StoredAnswer.from_row(row) if row else None

    def rejected_texts(self, tenant: str, question_hash: str) -> list[str]:
        """Texts a reviewer rejected for the same question of this tenant."""
        with _reading("rejected answers"):
            rows = self.db.execute(
                "SELECT text FROM answers WHERE tenant = ? AND question_hash = ?"
                " AND review_status = 'rejected'",
                (tenant, question_hash),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def review_counts(self, tenant: str) -> dict[str, int]:
        """How many of the tenant's answers wait for review (pending, stale), and how many
        questions are remembered as unanswerable (muni_crawl.unanswerable)."""
        rows = self.db.execute(
            "SELECT review_status, COUNT(*) FROM answers WHERE tenant = ?"
            " AND review_status IN ('pending', 'stale') GROUP BY review_status",
            (tenant,),
        )
        counts = {str(r[0]): int(r[1]) for r in rows}
        [remembered] = self.db.execute(
            "SELECT COUNT(*) FROM answers WHERE tenant = ? AND unanswerable IS NOT NULL",
            (tenant,),
        ).fetchone()
        counts["unanswerable"] = int(remembered)
        return counts

    # -- review steps (inside a transaction) --------------------------------------------------

    def record_approval(
        self,
        answer_id: str,
        *,
        action: str,
        text_before: str,
        text: str,
        scope: str,
        reviewer: str,
        at: str,
        reason: str | None,
        question_vector: bytes,
        vector_model: str,
    ) -> None:
        """Inside a transaction: approve, vouching for the cited pages as they are now."""
        self.db.execute(
            "UPDATE answer_citations SET page_version ="
            " (SELECT current_version FROM pages WHERE pages.id = answer_citations.page_id)"
            " WHERE answer_id = ?",
            (answer_id,),
        )
        self.db.execute(
            "UPDATE answers SET review_status = 'approved', approved_text = ?, scope = ?,"
            " reviewed_by = ?, reviewed_at = ?, question_vector = ?, vector_model = ?"
            " WHERE id = ?",
            (text, scope, reviewer, at, question_vector, vector_model, answer_id),
        )
        self._log_action(answer_id, action, reviewer, at, reason, text_before, text)

    def record_rejection(
        self,
        answer_id: str,
        *,
        reviewer: str,
        at: str,
        reason: str,
        outside: tuple[bytes, str] | None = None,
    ) -> None:
        """Inside a transaction: reject the answer; `outside` (the question's vector and its
        model) marks the question unanswerable from the passages it was answered from."""
        self.db.execute(
            "UPDATE answers SET review_status = 'rejected', reviewed_by = ?, reviewed_at = ?"
            " WHERE id = ?",
            (reviewer, at, answer_id),
        )
        if outside is not None:
            vector, model = outside
            self.db.execute(
                "UPDATE answers SET unanswerable = 'reviewer', question_vector = ?,"
                " vector_model = ? WHERE id = ?",
                (vector, model, answer_id),
            )
        self._log_action(answer_id, "reject", reviewer, at, reason)

    def record_forget(self, answer_id: str, *, reviewer: str, at: str, reason: str) -> None:
        """Inside a transaction: the question is no longer remembered as unanswerable."""
        self.db.execute("UPDATE answers SET unanswerable = NULL WHERE id = ?", (answer_id,))
        self._log_action(answer_id, "forget", reviewer, at, reason)

    def approved_with_changed_citations(self) -> list[str]:
        """Approved answers citing a page that changed, was deleted or is unknown."""
        rows = self.db.execute(
            "SELECT DISTINCT a.id FROM answers a"
            " JOIN answer_citations c ON c.answer_id = a.id"
            " LEFT JOIN pages p ON p.id = c.page_id"
            " WHERE a.review_status = 'approved' AND (p.id IS NULL"
            " OR p.status <> 'live' OR p.current_version <> c.page_version)"
        )
        return [str(r[0]) for r in rows]

    def approved_for_all_unforced(self) -> list[StoredAnswer]:
        """Answers approved for every tenant without a reviewer forcing it."""
        rows = self.db.execute(
            "SELECT * FROM answers a WHERE review_status = 'approved' AND scope = 'all'"
            " AND NOT EXISTS (SELECT 1 FROM review_actions r WHERE r.answer_id = a.id"
            " AND r.at = a.reviewed_at AND r.reason LIKE 'forced --scope all%')"
        )
        return [StoredAnswer.from_row(r) for r in rows]

    def record_stale(self, reasons: Mapping[str, str], *, reviewer: str, at: str) -> None:
        """Inside a transaction: these approved answers are stale, each for its reason."""
        for answer_id, reason in reasons.items():
            self.db.execute("UPDATE answers SET review_status = 'stale' WHERE id = ?", (answer_id,))
            self._log_action(answer_id, "stale", reviewer, at, reason)

    def _log_action(
        self,
        answer_id: str,
        action: str,
        reviewer: str,
        at: str,
        reason: str | None,
        text_before: str | None = None,
        text_after: str | None = None,
    ) -> None:
        self.db.execute(
            "INSERT INTO review_actions(answer_id, action, reviewer, at, reason, text_before,"
            " text_after) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (answer_id, action, reviewer, at, reason, text_before, text_after),
        )

    # -- usage ----------------------------------------------------------------------------------

    def usage_by_tenant(
        self,
        *,
        tenant: str | None,
        since: str | None,
        until: str | None,
        refusal_kinds: tuple[str, ...],
    ) -> list[dict[str, int | str]]:
        """Per tenant with answers in [since, until): counts by status, tokens billed
        (the provider's where reported), documents searched, micro-DKK, mismatches and
        LLM replies refused for one of `refusal_kinds` (those are billed too)."""
        where, args = ["1 = 1"], []
        if tenant:
            where.append("tenant = ?")
            args.append(tenant)
        if since:
            where.append("created_at >= ?")
            args.append(since)
        if until:
            where.append("created_at < ?")
            args.append(until)
        status_sums = ", ".join(f"SUM(status = '{s}') AS {s}" for s in ANSWER_STATUSES)
        rows = self.db.execute(
            f"SELECT tenant, COUNT(*) AS answers, {status_sums}, {_USAGE_SUMS},"
            f" COALESCE(SUM({_refused_reply(refusal_kinds)}), 0) AS llm_refused"
            f" FROM answers WHERE {' AND '.join(where)} GROUP BY tenant ORDER BY tenant",
            args,
        ).fetchall()
        return [{key: row[key] for key in row.keys()} for row in rows]  # noqa: SIM118

    def refused_replies(
        self, *, refusal_kinds: tuple[str, ...], tenant: str | None = None, limit: int = 200
    ) -> list[StoredAnswer]:
        """Answers whose LLM reply was refused for one of `refusal_kinds`, newest first."""
        sql = f"SELECT * FROM answers WHERE {_refused_reply(refusal_kinds)}"
        args: list[object] = []
        if tenant:
            sql += " AND tenant = ?"
            args.append(tenant)
        rows = self.db.execute(sql + " ORDER BY created_at DESC LIMIT ?", (*args, limit))
        return [StoredAnswer.from_row(r) for r in rows]
