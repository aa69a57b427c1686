"""Typed rows the stores return: callers read fields, never a database row."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, fields
from typing import Any, Self

import numpy as np

from muni_crawl.types import Document


class Record:
    """A row of one table as a frozen dataclass; `from_row` ignores columns it does not know."""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Self:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{key: row[key] for key in row.keys() if key in names})  # noqa: SIM118

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload, no-any-return]


@dataclass(frozen=True)
class CrawlRun(Record):
    """One crawl of one source (`crawl_runs`)."""

    id: int
    source: str
    started_at: str
    finished_at: str | None
    status: str
    pid: int | None
    fetched: int
    not_modified: int
    skipped: int
    new: int
    changed: int
    unchanged: int
    deleted: int
    failed: int
    capped: int
    message: str | None

    @property
    def seen(self) -> int:
        """URLs the run reached: downloaded, confirmed unchanged (304) or skipped as fresh."""
        return self.fetched + self.not_modified + self.skipped


@dataclass(frozen=True)
class StoredPage(Record):
    """A citable unit's row (`pages`), without its text (see `PageVersion`)."""

    id: int
    source: str
    url: str
    resource_url: str
    scope: str
    municipality_code: int | None
    status: str
    current_version: int | None
    first_seen_at: str
    updated_at: str
    deleted_at: str | None


@dataclass(frozen=True)
class PageVersion(Record):
    """One stored version of a page's cleaned text (`page_versions`)."""

    id: int
    page_id: int
    version: int
    fingerprint: str
    title: str
    language: str | None
    content_type: str
    text: str
    run_id: int | None
    created_at: str


@dataclass(frozen=True)
class ExtractedResource:
    """A fetched URL's extraction before cleaning, and whether it was cleaned since."""

    url: str
    documents: list[Document]
    raw_fingerprint: str | None
    processed_fingerprint: str | None

    @property
    def processed(self) -> bool:
        return self.processed_fingerprint == self.raw_fingerprint


@dataclass
class VersionCounts:
    """What one crawl's finalisation did to the pages of its source."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0


@dataclass(frozen=True)
class StoredAnswer(Record):
    """An answer's row (`answers`): the billing record and its review state."""

    id: str
    tenant: str
    question: str
    question_hash: str
    language: str
    status: str
    reason: str | None
    text: str
    citations: str  # JSON: [{n, url, title, page_id, page_version}]
    passages: str  # JSON: the passages given to the composer
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    provider_prompt_tokens: int | None
    provider_completion_tokens: int | None
    usage_mismatch: int
    documents_searched: int
    cost_micro_dkk: int
    review_status: str | None
    source_answer_id: str | None
    created_at: str
    approved_text: str | None = None
    scope: str | None = None
    reviewed_by: str | None = None
    reviewed_at: str | None = None
    question_vector: bytes | None = None
    vector_model: str | None = None
    usage_note: str | None = None
    question_language: str | None = None  # NULL before migration 6: then it is `language`
    evidence_key: str | None = None  # the passages retrieved (muni_crawl.unanswerable)
    unanswerable: str | None = None  # who found the question unanswerable: llm | reviewer

    @staticmethod
    def stored_vector(vector: Any) -> bytes:
        """A question vector as the `question_vector` column holds it: float32 bytes (what
        `question_similarity` reads back)."""
        return np.asarray(vector, dtype=np.float32).reshape(-1).tobytes()

    def question_similarity(self, vector: Any) -> float | None:
        """The cosine of the stored question vector with `vector` (both normalised); None
        without a stored vector or where the dimensions differ (another model's)."""
        if self.question_vector is None:
            return None
        stored = np.frombuffer(self.question_vector, dtype=np.float32)
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if stored.shape != query.shape:
            return None
        return float(stored @ query)

    @property
    def asked_in(self) -> str:
        """The question's language (older answers stored only the text's)."""
        return self.question_language or self.language

    @property
    def served_text(self) -> str:
        """What a citizen is served: the reviewer's text once approved, else the generated one."""
        return self.approved_text or self.text


@dataclass(frozen=True)
class ReviewAction(Record):
    """One entry of the review audit trail (`review_actions`)."""

    id: int
    answer_id: str
    action: str
    reviewer: str
    at: str
    reason: str | None
    text_before: str | None
    text_after: str | None


@dataclass(frozen=True)
class CitedPage:
    """An answer's citation with the cited page's state now (for staleness and diffs)."""

    n: int
    page_id: int
    page_version: int
    url: str | None
    status: str | None
    current_version: int | None

    @property
    def changed(self) -> bool:
        return self.status != "live" or self.current_version != self.page_version
