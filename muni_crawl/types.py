"""Frozen dataclasses passed between stages: extracted documents, pages, crawl summaries."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]  # one row per text, L2-normalised

# Page scopes: "site" pages feed the tenants of their source, "national" borger.dk bodies feed
# every tenant, "local" sections and entries feed only the municipality they name.


@dataclass(frozen=True)
class Document:
    """One citable unit extracted from a fetched URL, before boilerplate removal."""

    url: str
    title: str
    text: str
    content_type: str = "text/html"
    language: str | None = None
    scope: str = "site"
    municipality_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        return cls(**data)


@dataclass(frozen=True)
class Page:
    """A stored page at its current version, as later stages read it."""

    id: int
    source: str
    url: str
    scope: str
    municipality_code: int | None
    status: str
    version: int
    version_id: int
    title: str
    text: str
    language: str | None
    content_type: str
    fingerprint: str


@dataclass(frozen=True)
class CrawlSummary:
    """What one crawl of one source did; printed at the end and stored in crawl_runs.

    `status`: ok; partial (some pages failed, or stopped early); failed (nothing fetched, or
    no worker result); unreachable (no answer at all: connection refused, DNS, TLS, timeout);
    anomaly (it answered but looked broken); locked (crawled elsewhere; not stored). The
    store also has running and aborted (the process died). Neither unreachable nor anomaly
    stores a version or deletes a page.
    """

    source: str
    run_id: int
    status: str  # one of CRAWL_STATUSES
    fetched: int = 0
    not_modified: int = 0
    skipped: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    capped: bool = False
    duration_s: float = 0.0
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Passage:
    """A chunk of one page version: what is embedded, searched and cited.

    `score` is set on retrieval results (fused rank score); `dense_score` is the cosine
    similarity to the question, which answer thresholds are calibrated on.
    """

    id: str
    page_id: int
    page_version: int
    source: str
    url: str
    title: str
    heading: str
    text: str
    scope: str
    municipality_code: int | None
    score: float = 0.0
    dense_score: float = 0.0

    def search_text(self) -> str:
        """Title and heading path travel with the text: they often carry the key words."""
        parts = [self.title, self.heading, self.text] if self.heading else [self.title, self.text]
        return "\n".join(p for p in parts if p)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# An answer's status is one of these; a typo such as "no_anwser" fails type checking.
CrawlStatus = Literal[
    "ok", "partial", "failed", "unreachable", "anomaly", "locked", "running", "aborted"
]
CRAWL_STATUSES: tuple[CrawlStatus, ...] = get_args(CrawlStatus)

AnswerStatus = Literal["approved", "generated", "extractive", "no_answer"]
ANSWER_STATUSES: tuple[AnswerStatus, ...] = get_args(AnswerStatus)


@dataclass(frozen=True)
class Citation:
    """A source an answer used: n is the passage number the composer saw."""

    n: int
    url: str
    title: str
    page_id: int = 0
    page_version: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TokenUsage:
    """Tokens of the LLM calls behind one answer: counted locally (tiktoken) and as the provider
    reported them (kept raw: billing judges whether a provider count is plausible)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    provider_prompt_tokens: int | None = None
    provider_completion_tokens: int | None = None
    model: str | None = None
    calls: int = 1  # LLM calls these tokens add up (a retry makes two)

    def plus(self, other: TokenUsage) -> TokenUsage:
        """Both calls' tokens. A provider count missing or unreadable in either call leaves the
        sum unknown: the unreadable value (or None) is kept for billing to judge."""
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            provider_prompt_tokens=_sum_counts(
                self.provider_prompt_tokens, other.provider_prompt_tokens
            ),
            provider_completion_tokens=_sum_counts(
                self.provider_completion_tokens, other.provider_completion_tokens
            ),
            model=self.model or other.model,
            calls=self.calls + other.calls,
        )


def _sum_counts(first: object, second: object) -> Any:
    for value in (first, second):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            return value if value is not None else None
    return first + second  # type: ignore[operator]


@dataclass(frozen=True)
class Usage:
    """What one answer is billed: the tokens billing accepted from a TokenUsage (see
    muni_crawl.billing), the documents searched and the cost."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    provider_prompt_tokens: int | None = None
    provider_completion_tokens: int | None = None
    usage_mismatch: bool = False
    documents_searched: int = 0
    cost_dkk: float = 0.0
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """The answer to one citizen question; `to_dict()` is what `muni-crawl ask --json` prints.

    `language` is the language of `text`; `question_language` the question's (detected, or
    as the caller gave it). They differ when a question in another language is answered from
    Danish text without an LLM: the text then opens with one sentence in the question's
    language saying that the municipality's information is in Danish.
    """

    id: str
    tenant: str
    question: str
    text: str
    citations: tuple[Citation, ...]
    language: str
    question_language: str
    status: AnswerStatus
    reason: str | None
    usage: Usage
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "question": self.question,
            "text": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "language": self.language,
            "question_language": self.question_language,
            "status": self.status,
            "reason": self.reason,
            "usage": self.usage.to_dict(),
            "created_at": self.created_at,
        }
