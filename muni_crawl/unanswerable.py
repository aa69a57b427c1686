"""Questions found unanswerable before: the same question on the same passages costs no tokens.

The evidence gate (muni_crawl.evidence) refuses most questions the sources cannot answer
before any LLM call, but not all: some reach the LLM, which spends tokens and then replies
that the passages do not answer the question. Citizens ask the same things again (each
March, "hvornår kommer årsopgørelsen"), and each asking would cost the same tokens for the
same verdict. So a question is refused at 0 tokens when a close one was found unanswerable
from exactly the same passages:

- by the LLM (its "cannot answer" reply), within `remember_unanswerable_days`;
- by a reviewer, who rejected a generated answer as outside the sources
  (`muni-crawl review reject ID --outside`): the LLM answered from passages that do not
  answer the question. A reviewer's judgement holds until the passages change.

"Close" is the approved-answer threshold (calibrated paraphrase pairs, per model): the
question vectors must be at least that similar. "The same passages" is `evidence_key`: a
digest of the ids of the passages retrieved, and a passage id digests its URL, heading and
text. When a page changes, so do its passages' ids, the key no longer matches, and the next
asking goes to the LLM again: new text may answer it. The tenant is part of the lookup, so
one municipality's verdicts never refuse another's citizens.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from muni_crawl.errors import StoreError
from muni_crawl.store import AnswerStore
from muni_crawl.types import Passage, Vectors

log = logging.getLogger(__name__)

JUDGES = ("llm", "reviewer")  # who may find a question unanswerable


@dataclass(frozen=True)
class KnownUnanswerable:
    """A close question found unanswerable from the same passages: by whom, when, how close."""

    answer_id: str
    judged_by: str  # llm | reviewer
    at: str  # when the answer was recorded (ISO 8601, UTC)
    similarity: float

    def reason(self) -> str:
        """Why this question is refused, for the answer's `reason` and the logs."""
        who = "the LLM" if self.judged_by == "llm" else "the review team"
        return (
            f"the sources do not answer it: {who} found a close question (similarity"
            f" {self.similarity:.3f}, answer {self.answer_id}, {self.at[:10]}) unanswerable"
            " from the same passages"
        )


def evidence_key(passages: Sequence[Passage]) -> str | None:
    """A digest of the passages retrieved, in any order; None where nothing was retrieved."""
    if not passages:
        return None
    ids = sorted({p.id for p in passages})
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def find_unanswerable(
    store: AnswerStore,
    *,
    tenant: str,
    passages: Sequence[Passage],
    vector: Vectors,
    model_id: str,
    threshold: float,
    llm_days: int,
    now: datetime | None = None,
) -> KnownUnanswerable | None:
    """The closest question of this tenant found unanswerable from the same passages, at
    least `threshold` similar; an LLM's verdict counts for `llm_days` (0: never).

    None too when the database cannot be read just now: the question then goes on to the
    LLM, which costs tokens but never fails the citizen's answer.
    """
    key = evidence_key(passages)
    if key is None:
        return None
    try:
        candidates = store.unanswerable_candidates(
            tenant=tenant, evidence_key=key, model_id=model_id
        )
    except StoreError as exc:
        log.warning("%s", exc)
        return None
    since = ((now or datetime.now(UTC)) - timedelta(days=llm_days)).isoformat(
        timespec="milliseconds"
    )
    best: KnownUnanswerable | None = None
    for answer in candidates:
        if answer.unanswerable not in JUDGES:
            continue
        if answer.unanswerable == "llm" and (llm_days <= 0 or answer.created_at < since):
            continue
        similarity = answer.question_similarity(vector)
        if similarity is None or similarity < threshold:
            continue
        if best is None or similarity > best.similarity:
            best = KnownUnanswerable(answer.id, answer.unanswerable, answer.created_at, similarity)
    return best
