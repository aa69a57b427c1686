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
import logging
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from muni_crawl.chunk import chunk_page
from muni_crawl.config import IndexSettings
from muni_crawl.embed import Embedder
from muni_crawl.errors import ReviewError, StoreError
from muni_crawl.redact import redact
from muni_crawl.review_scope import GONE, ScopeProblem, scope_problems
from muni_crawl.sources import Registry
from muni_crawl.store import AnswerStore, PageStore, ReviewAction, Store, StoredAnswer, utcnow

log = logging.getLogger(__name__)

ReviewStatus = Literal["pending", "approved", "rejected", "stale"]
ReviewScope = Literal["tenant", "all"]
REVIEW_STATUSES: tuple[ReviewStatus, ...] = get_args(ReviewStatus)
SCOPES: tuple[ReviewScope, ...] = get_args(ReviewScope)
SYSTEM_REVIEWER = "muni_crawl"


@dataclass(frozen=True)
class ApprovedMatch:
    """An approved answer close enough to a new question to be served instead."""

    answer_id: str
    text: str
    citations: list[dict[str, Any]]
    similarity: float


def get_answer(store: AnswerStore, answer_id: str) -> StoredAnswer:
    answer = store.answer(answer_id)
    if answer is None:
        raise ReviewError(answer_id, "no such answer")
    return answer


def list_answers(
    store: AnswerStore,
    *,
    tenant: str | None = None,
    status: str | None = None,
    limit: int = 200,
) -> list[StoredAnswer]:
    """Answers under review (any review status unless one is given), newest first."""
    if status and status not in REVIEW_STATUSES:
        raise ValueError(f"status must be one of {', '.join(REVIEW_STATUSES)}")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    return store.answers_under_review(tenant=tenant, review_status=status or None, limit=limit)


def actions(store: AnswerStore, answer_id: str) -> list[ReviewAction]:
    return store.review_actions(answer_id)


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
    if registry is not None and row.tenant not in registry.tenants:
        raise ReviewError(
            answer_id,
            f"its tenant {row.tenant!r} is no longer declared in spiders/tenants.toml;"
            " reject it instead",
        )
    before = row.served_text
    final = text.strip() if text is not None else before
    _refuse_cpr(answer_id, final)
    warnings = _contact_warnings(before, final)
    _scope_warnings(store, answer_id, row, final, scope, registry, force)  # fail fast
    vector = StoredAnswer.stored_vector(embedder.embed_queries([row.question])[0])
    now = utcnow()
    with store.transaction():
        current = get_answer(store, answer_id)
        if current.review_status not in ("pending", "stale"):
            raise ReviewError(
                answer_id, f"is {current.review_status or 'not under review'}, not pending"
            )
        if current.served_text != before:
            raise ReviewError(answer_id, "was changed by another reviewer meanwhile; try again")
        warnings = (
            _scope_warnings(store, answer_id, current, final, scope, registry, force) + warnings
        )
        # the reviewer vouches for the sources as they are now
        store.record_approval(
            answer_id,
            action="edit" if final != before else "approve",
            text_before=before,
            text=final,
            scope=scope,
            reviewer=reviewer,
            at=now,
            reason="; ".join(warnings) or None,
            question_vector=vector,
            vector_model=embedder.model_id,
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
    store: Store,
    answer_id: str,
    row: StoredAnswer,
    text: str,
    scope: str,
    registry: Registry | None,
    force: bool,
) -> list[str]:
    """Refuse what the scope's tenants must not be served; with `force`, warn instead."""
    if registry is None:
        gone = [
            c.url or f"page {c.page_id}" for c in store.cited_pages(answer_id) if c.status != "live"
        ]
        problems = [ScopeProblem(url, GONE, forceable=False) for url in gone]
    else:
        targets = list(registry.tenants) if scope == "all" else [row.tenant]
        problems = scope_problems(store, registry, row, text, targets)
    hard = [p for p in problems if not p.forceable]
    if hard or (problems and not force):
        audience = "every tenant" if scope == "all" else f"tenant {row.tenant}"
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


def reject(
    store: AnswerStore,
    answer_id: str,
    *,
    reviewer: str,
    reason: str,
    outside: Embedder | None = None,
) -> None:
    """Reject a pending (or stale) answer, also one whose tenant is gone: it clears the queue.

    The reason is free text a reviewer may paste a citizen's details into: stored redacted.
    With `outside` (the embedder), the question is outside the sources: the passages it was
    answered from do not answer it, and the same question on the same passages is refused
    at 0 tokens from then on (muni_crawl.unanswerable).
    """
    if not reason.strip():
        raise ReviewError(answer_id, "a rejection needs a reason")
    reason = redact(reason.strip()).text
    row = get_answer(store, answer_id)
    marked: tuple[bytes, str] | None = None
    if outside is not None:
        if row.evidence_key is None:
            raise ReviewError(
                answer_id,
                "was recorded without the passages it was answered from (an older release):"
                " reject it without --outside",
            )
        vector = outside.embed_queries([row.question])[0]
        marked = (StoredAnswer.stored_vector(vector), outside.model_id)
        reason = f"outside the sources: {reason}"
    with store.transaction():
        status = get_answer(store, answer_id).review_status
        if status not in ("pending", "stale"):
            raise ReviewError(answer_id, f"is {status or 'not under review'}, not pending")
        store.record_rejection(
            answer_id, reviewer=reviewer, at=utcnow(), reason=reason, outside=marked
        )


def forget(store: AnswerStore, answer_id: str, *, reviewer: str, reason: str) -> None:
    """Stop refusing a question remembered as unanswerable (the LLM's verdict or a
    reviewer's `--outside`): the next asking goes to the composer again. The reason is
    stored redacted, in the audit trail."""
    if not reason.strip():
        raise ReviewError(answer_id, "forgetting needs a reason")
    reason = redact(reason.strip()).text
    with store.transaction():
        judged = get_answer(store, answer_id).unanswerable
        if judged is None:
            raise ReviewError(answer_id, "is not remembered as unanswerable")
        store.record_forget(answer_id, reviewer=reviewer, at=utcnow(), reason=reason)


def unanswerable(
    store: AnswerStore, *, tenant: str | None = None, limit: int = 200
) -> list[StoredAnswer]:
    """Questions remembered as unanswerable, newest first (see `forget`)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    return store.unanswerable_questions(tenant, limit)


def mark_stale(store: Store, registry: Registry | None = None) -> list[str]:
    """Approved answers whose cited page changed or disappeared become stale; returns their ids.

    With `registry`, so does an answer approved for all tenants whose pages no longer reach
    them all (approved by a release without the check, or the sources changed since), unless
    a reviewer forced it.
    """
    with store.transaction():
        stale = dict.fromkeys(
            store.approved_with_changed_citations(), "a cited page changed on re-crawl"
        )
        if registry is not None:
            for answer_id, problems in _unshared_approvals(store, registry).items():
                listed = "; ".join(str(p) for p in problems)
                stale.setdefault(answer_id, f"no longer shared by every tenant: {listed}")
        store.record_stale(stale, reviewer=SYSTEM_REVIEWER, at=utcnow())
    return list(stale)


def _unshared_approvals(store: Store, registry: Registry) -> dict[str, list[ScopeProblem]]:
    """Answers approved for all tenants, not forced, that cite or link what some cannot see."""
    found = {}
    for answer in store.approved_for_all_unforced():
        problems = scope_problems(
            store, registry, answer, answer.served_text, list(registry.tenants)
        )
        if problems:
            found[answer.id] = problems
    return found


def find_approved(
    store: AnswerStore,
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
        candidates = store.approved_candidates(tenant=tenant, language=language, model_id=model_id)
    except StoreError as exc:
        log.warning("%s", exc)
        return None
    best: ApprovedMatch | None = None
    for answer in candidates:
        similarity = answer.question_similarity(vector)
        if similarity is None or similarity < threshold:
            continue
        if best is None or similarity > best.similarity:
            best = ApprovedMatch(
                answer.id, answer.served_text, json.loads(answer.citations), similarity
            )
    return best


def cited_passage_diffs(
    store: Store, answer_id: str, chunking: IndexSettings
) -> list[tuple[int, str, list[str]]]:
    """For each citation whose page changed since it was cited: (n, url, unified diff lines).

    The page is cut into passages as the index cuts it (`chunking`), so the passage compared
    is one the answer could have cited."""
    row = get_answer(store, answer_id)
    given = json.loads(row.passages)
    diffs = []
    for cite in store.cited_pages(answer_id):
        if cite.url is None or not cite.changed:
            continue
        old = given[cite.n - 1]["text"] if 0 < cite.n <= len(given) else ""
        new = (
            _closest_current_passage(store, cite.url, old, chunking)
            if cite.status == "live"
            else ""
        )
        lines = list(
            difflib.unified_diff(
                old.splitlines(), new.splitlines(), "cited", "now", lineterm="", n=1
            )
        ) or ["(page deleted)"]
        diffs.append((cite.n, cite.url, lines))
    return diffs


def _closest_current_passage(store: PageStore, url: str, old: str, chunking: IndexSettings) -> str:
    pages = [p for p in store.pages(include_deleted=False) if p.url == url]
    if not pages:
        return ""
    candidates = [
        p.text
        for p in chunk_page(
            pages[0], min_tokens=chunking.chunk_min_tokens, max_tokens=chunking.chunk_max_tokens
        )
    ]
    return max(
        candidates,
        key=lambda text: difflib.SequenceMatcher(None, old, text).ratio(),
        default="",
    )


def export_approved(store: AnswerStore, tenant: str | None = None) -> list[dict[str, Any]]:
    """Approved answers for import into the rule-based chatbot, questions redacted again."""
    return [
        {
            "id": r.id,
            "tenant": r.tenant,
            "scope": r.scope,
            "language": r.language,
            "question": shown_question(r.question),
            "answer": shown_answer(r.served_text),
            "citations": [
                {"n": c["n"], "url": c["url"], "title": c["title"]} for c in json.loads(r.citations)
            ],
            "approved_by": r.reviewed_by,
            "approved_at": r.reviewed_at,
        }
        for r in store.approved_answers(tenant)
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
