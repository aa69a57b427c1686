"""Every failure of the HTTP API as one JSON shape, with the library's error types.

A client sees `{"error": {"type": "<error class name>", "message": "..."}}` and an HTTP status
that follows from the type: the library's own errors (UnknownTenantError, IndexNotBuiltError,
InvalidQuestionError, ...) keep their names, so a chatbot handles the same types whether it
imports muni_crawl or calls the server. The errors only the HTTP layer has (no key, a body too
large, ...) are defined here, under the same MuniCrawlError base.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import JSONResponse

from muni_crawl.errors import (
    ConfigError,
    IndexBuildRunningError,
    IndexNotBuiltError,
    InvalidQuestionError,
    LLMError,
    MuniCrawlError,
    StoreError,
    UnknownTenantError,
)

log = logging.getLogger(__name__)


class ApiError(MuniCrawlError):
    """A request the HTTP API refuses; `status` is its HTTP status code."""

    status = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class AuthenticationError(ApiError):
    """No API key, or one the server does not know (401)."""

    status = 401


class PermissionDeniedError(ApiError):
    """The API key is valid but not for this tenant (403)."""

    status = 403


class NotFoundError(ApiError):
    """No such endpoint (404); an unknown tenant is an UnknownTenantError."""

    status = 404


class MethodNotAllowedError(ApiError):
    """The endpoint exists but not with this HTTP method (405)."""

    status = 405


class RequestTooLargeError(ApiError):
    """The request body is larger than the server accepts (413)."""

    status = 413


class InvalidRequestError(ApiError):
    """The request is malformed: not JSON (400), or JSON of the wrong shape (422)."""

    status = 422


class InternalError(ApiError):
    """An unexpected failure inside the server (500); the details are in its log only."""

    status = 500


# the library's errors by HTTP status; the first matching class wins (subclasses first)
LIBRARY_STATUS: tuple[tuple[type[MuniCrawlError], int], ...] = (
    (UnknownTenantError, 404),
    (InvalidQuestionError, 422),
    (IndexNotBuiltError, 503),
    (IndexBuildRunningError, 503),
    (StoreError, 503),
    (LLMError, 502),
    (ConfigError, 500),
    (MuniCrawlError, 500),
)
# statuses a client may retry after a while (with a Retry-After header)
RETRY_AFTER_SECONDS = {503: 30}


def status_of(exc: MuniCrawlError) -> int:
    """The HTTP status of an error the library or the API raised."""
    if isinstance(exc, ApiError):
        return exc.status
    return next(status for kind, status in LIBRARY_STATUS if isinstance(exc, kind))


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


def error_response(exc: Exception, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON response for any exception: a MuniCrawlError with its own type and message,
    anything else as InternalError without details (they may hold data a client must not
    see; the log has the type)."""
    if isinstance(exc, MuniCrawlError):
        status = status_of(exc)
        body = error_body(type(exc).__name__, str(exc))
    else:
        log.error("unexpected error in a request", exc_info=exc)
        status = 500
        body = error_body(InternalError.__name__, "internal error; the server log has details")
    extra = dict(headers or {})
    if status in RETRY_AFTER_SECONDS:
        extra.setdefault("Retry-After", str(RETRY_AFTER_SECONDS[status]))
    if status == 401:
        extra.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(body, status_code=status, headers=extra)
