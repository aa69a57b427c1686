"""The exception tree: every error muni_crawl raises on purpose derives from MuniCrawlError.

```
MuniCrawlError
├── ConfigError            settings file or environment variable is invalid
│   └── SourceSpecError      a spiders/*.toml file is malformed (names file and field)
├── UnknownTenantError     a tenant slug that spiders/tenants.toml does not declare
├── UnknownSourceError     a source name with no spiders/<name>.toml
├── CrawlError             a crawl could not run (worker died, source locked, ...)
├── IndexBuildRunningError another process is building this tenant's index
├── StoreError             the SQLite store is unusable (newer schema, corrupt file)
├── IndexNotBuiltError     a tenant has no index yet (crawl and index it first)
├── InvalidQuestionError   an empty, non-text or absurdly long question
├── LLMError               the language model failed; answer() degrades instead
└── ReviewError            a review action that is not allowed (unknown id, wrong status)
```
Errors carry their context as attributes so callers need not parse messages.
"""

from __future__ import annotations

from pathlib import Path


class MuniCrawlError(Exception):
    """Base class of every error raised on purpose by muni_crawl."""


class ConfigError(MuniCrawlError):
    """Settings (environment or muni-crawl.toml) are invalid."""


class SourceSpecError(ConfigError):
    """A file in spiders/ is malformed; names the file and the offending field."""

    def __init__(self, path: Path | str, field: str | None, message: str) -> None:
        self.path = Path(path)
        self.field = field
        self.message = message
        where = f"{self.path.name}" + (f": {field}" if field else "")
        super().__init__(f"{where}: {message}")


class UnknownTenantError(MuniCrawlError):
    """A tenant slug that is not declared in spiders/tenants.toml."""

    def __init__(self, tenant: str, known: list[str]) -> None:
        self.tenant = tenant
        self.known = known
        hint = ", ".join(known[:10]) + (" ..." if len(known) > 10 else "")
        super().__init__(f"unknown tenant {tenant!r}; known tenants: {hint or '(none)'}")


class UnknownSourceError(MuniCrawlError):
    """A source name with no matching spiders/<name>.toml file."""

    def __init__(self, source: str, known: list[str]) -> None:
        self.source = source
        self.known = known
        hint = ", ".join(known[:10]) + (" ..." if len(known) > 10 else "")
        super().__init__(f"unknown source {source!r}; known sources: {hint or '(none)'}")


class CrawlError(MuniCrawlError):
    """A crawl could not be run or its worker process failed."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"{source}: {message}")


class StoreError(MuniCrawlError):
    """The SQLite store cannot be used (for example a schema newer than this code)."""


class IndexNotBuiltError(MuniCrawlError):
    """A tenant has no usable index: it must be crawled and indexed first."""

    def __init__(self, tenant: str, message: str) -> None:
        self.tenant = tenant
        super().__init__(f"{tenant}: {message}")


class InvalidQuestionError(MuniCrawlError, ValueError):
    """The question is empty, not text, or longer than the configured maximum."""


class LLMError(MuniCrawlError):
    """The language model call failed or its reply cannot be served.

    `kind` is a short machine-readable cause (timeout, rate_limited, auth, provider_error,
    unreachable, malformed), or why a reply that arrived is not served (uncited,
    bad_citations, unsafe_markup, no_substance, ungrounded_contact, wrong_language; see
    reply_check); `spent` holds token counts when a reply arrived, so they are still recorded.
    """

    def __init__(self, kind: str, message: str, spent: object | None = None) -> None:
        self.kind = kind
        self.spent = spent
        super().__init__(message)


class ReviewError(MuniCrawlError):
    """A review action on an unknown answer, or one whose status does not allow it."""

    def __init__(self, answer_id: str, message: str) -> None:
        self.answer_id = answer_id
        super().__init__(f"answer {answer_id}: {message}")


class IndexBuildRunningError(MuniCrawlError):
    """Another process is building this tenant's index; the caller's build is not needed."""

    def __init__(self, tenant: str, holder: str) -> None:
        self.tenant = tenant
        self.holder = holder
        super().__init__(f"index of {tenant} is being built by pid {holder}")
