"""The ASGI app of `muni-crawl serve`: the HTTP JSON API over one Answerer per process.

Every answer and search runs in a pool of `threads` threads (the library is synchronous), so
the event loop only parses, authorises and writes JSON. The indexes load once per process, in
the background after start-up (/readyz says when they are in); `Library.index()` reloads a
tenant's index when cron switches in a new version, so a new index is served without a restart.
Nothing here logs a question or a key: the access log has the method, the path without its
query string, the status and the time.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from muni_crawl import logconfig
from muni_crawl.answer import Answerer
from muni_crawl.errors import MuniCrawlError
from muni_crawl.evidence import gate_for
from muni_crawl.home import Home
from muni_crawl.index import current_version
from muni_crawl.intents import nearest_intent
from muni_crawl.language import detect_language
from muni_crawl.serve.errors import (
    ApiError,
    AuthenticationError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    RequestTooLargeError,
    error_body,
    error_response,
)
from muni_crawl.serve.keys import KeyRing, is_loopback, load_keys
from muni_crawl.serve.metrics import Metrics
from muni_crawl.serve.openapi import openapi_schema
from muni_crawl.serve.options import ServeOptions

log = logging.getLogger(__name__)
access_log = logging.getLogger("muni_crawl.serve.access")

T = TypeVar("T")

MIN_BODY_BYTES = 16 * 1024
MAX_K = 50  # passages the search endpoint returns at most
ANSWER_FIELDS = ("question", "language")


def body_limit(max_question_chars: int) -> int:
    """Bytes a request body may have: 16 KiB, or room for the longest question allowed when
    every character is a JSON escape (\\uXXXX, 6 bytes)."""
    return max(MIN_BODY_BYTES, 6 * max_question_chars + 1024)


class Server:
    """What one worker process serves with: its home, keys, Answerer, metrics and threads."""

    def __init__(self, options: ServeOptions) -> None:
        self.home = Home.open(options.home)
        self.keys: KeyRing = load_keys(
            self.home.settings.serve.api_keys, options.keys_file, self.home.registry.tenants
        )
        self.answerer = Answerer(self.home)
        self.library = self.answerer.library
        self.metrics = Metrics()
        self.threads = options.threads
        max_chars = self.home.settings.answering.max_question_chars
        self.max_body = body_limit(max_chars)
        from muni_crawl import __version__

        self.openapi = openapi_schema(__version__, self.max_body, max_chars)
        self._executor: ThreadPoolExecutor | None = None
        self._warm_up: asyncio.Future[None] | None = None
        self._loading: set[str] = set()  # tenants whose index is being loaded in the background
        self._load_errors: dict[str, str] = {}

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Start the threads and the warm-up; on shutdown finish the running answers, then
        close the Answerer (its database connections and indexes) and the home."""
        self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="muni-crawl-serve")
        self._warm_up = asyncio.get_running_loop().run_in_executor(self._executor, self._warm)
        try:
            yield
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self.answerer.close()
            self.home.close()

    async def run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`call` in one of the answering threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(call, *args, **kwargs))

    def _warm(self) -> None:
        """Load every index that exists and run the embedder and language model once."""
        for tenant in self.home.registry.tenants:
            if self.library.full:  # the rest load on their first question
                break
            if current_version(self.home.paths.indexes_dir, tenant) is not None:
                self._load(tenant)
        vector = self.library.embedder.embed_queries(["opvarmning"])[0]
        if gate_for(self.library.embedder.model_id, home=self.home.path).intent_margin is not None:
            nearest_intent(vector, self.library.embedder)  # embeds the intent examples once
        detect_language("opvarmning")
        log.info("warmed up: %d indexes loaded", len(self.library.loaded_versions()))

    def _load(self, tenant: str) -> None:
        try:
            self.library.index(tenant)
        except MuniCrawlError as exc:  # one broken index must not keep the others out
            self._load_errors[tenant] = str(exc)
            log.error("cannot load the index of %s: %s", tenant, exc)
        else:
            self._load_errors.pop(tenant, None)
        finally:
            self._loading.discard(tenant)

    def not_ready(self) -> list[str]:
        """What keeps this process from serving every tenant at full speed; [] when ready.

        An index on disk that is not in memory (or newer than the one in memory) is loaded in
        the background from here, so that the next question need not wait for it."""
        problems = []
        warm = self._warm_up
        if warm is None or not warm.done():
            problems.append("warming up: loading the indexes and the embedding model")
        elif warm.exception() is not None:
            problems.append(f"warm-up failed: {warm.exception()}")
        loaded = self.library.loaded_versions()
        for tenant in self.home.registry.tenants:
            on_disk = current_version(self.home.paths.indexes_dir, tenant)
            if on_disk is None or self.library.holds_current(tenant):
                continue
            if tenant not in loaded and self.library.full:
                continue  # kept out by max_loaded_tenants: loads on its first question
            if tenant not in loaded:
                error = self._load_errors.get(tenant)
                problems.append(
                    f"{tenant}: index {on_disk} not loaded" + (f" ({error})" if error else " yet")
                )
            if warm is not None and warm.done() and tenant not in self._loading:
                self._loading.add(tenant)
                asyncio.get_running_loop().run_in_executor(self._executor, self._load, tenant)
        return problems

    def authorise(self, request: Request, tenant: str) -> None:
        """401/403 by the keys; without keys, only clients on this machine are served."""
        if self.keys.enabled:
            self.keys.authorize(request.headers.get("authorization"), tenant)
        elif request.client is None or not is_loopback(request.client.host):
            raise AuthenticationError(
                "this server has no API keys configured, so it serves clients on its own"
                " machine only"
            )


async def read_json(request: Request, limit: int) -> Any:
    """The request body as JSON, refused at `limit` bytes before it is all read."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise InvalidRequestError("the Content-Length header is not a number", status=400)
        if int(declared) > limit:
            raise RequestTooLargeError(
                f"the request body is {int(declared)} bytes; the limit is {limit}"
            )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestTooLargeError(f"the request body is over the limit of {limit} bytes")
    if not body.strip():
        raise InvalidRequestError(
            'the request body is empty; send JSON: {"question": "..."}', status=400
        )
    try:
        return json.loads(bytes(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestError(f"the request body is not valid JSON: {exc}", status=400) from exc


def answer_request(data: Any) -> tuple[Any, str | None]:
    """(question, language) of an answers request. The question's own checks (text, length,
    letters) are the library's (InvalidQuestionError); the shape is checked here."""
    if not isinstance(data, dict):
        raise InvalidRequestError('the body must be a JSON object: {"question": "..."}')
    unknown = sorted(str(name)[:40] for name in data if name not in ANSWER_FIELDS)
    if unknown:
        raise InvalidRequestError(
            f"unknown field {unknown[0]!r}; the fields are {', '.join(ANSWER_FIELDS)}"
        )
    if "question" not in data:
        raise InvalidRequestError('the field "question" is missing')
    language = data.get("language")
    if language is not None and not isinstance(language, str):
        raise InvalidRequestError('"language" must be a string such as "da" or "en"')
    return data["question"], language


def search_k(raw: str | None) -> int:
    if raw is None:
        return 5
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_K:
        raise InvalidRequestError(f"k must be a whole number from 1 to {MAX_K}")
    return int(raw)


def _server(request: Request) -> Server:
    server: Server = request.app.state.server
    return server


async def answers(request: Request) -> Response:
    server = _server(request)
    tenant = request.path_params["tenant"]
    server.authorise(request, tenant)
    question, language = answer_request(await read_json(request, server.max_body))
    started = time.perf_counter()
    answer = await server.run(server.answerer.answer, tenant, question, language=language)
    server.metrics.answered(answer, time.perf_counter() - started)
    return JSONResponse(answer.to_dict())


async def search(request: Request) -> Response:
    server = _server(request)
    tenant = request.path_params["tenant"]
    server.authorise(request, tenant)
    question = request.query_params.get("q")
    if question is None:
        raise InvalidRequestError("the query parameter q (the question) is missing")
    k = search_k(request.query_params.get("k"))
    retrieval = await server.run(server.library.retrieve, tenant, question, k)
    server.metrics.searches.labels(tenant).inc()
    return JSONResponse(retrieval.to_dict())


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    server = _server(request)
    problems = server.not_ready()
    loaded = server.library.loaded_versions()
    if problems:
        body = error_body("NotReadyError", "not ready: " + "; ".join(problems))
        return JSONResponse(
            {**body, "not_ready": problems, "indexes": loaded},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "ready", "indexes": loaded})


async def metrics(request: Request) -> Response:
    body, content_type = _server(request).metrics.exposition()
    return Response(body, media_type=content_type)


async def openapi(request: Request) -> Response:
    return JSONResponse(_server(request).openapi)


ROUTES = [
    Route("/v1/tenants/{tenant}/answers", answers, methods=["POST"]),
    Route("/v1/tenants/{tenant}/search", search, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]


async def _library_error(request: Request, exc: Exception) -> Response:
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no such route, wrong method) in the JSON error shape."""
    assert isinstance(exc, HTTPException)
    error: ApiError
    if exc.status_code == 404:
        error = NotFoundError(
            f"no such endpoint: {_printable(request.url.path)}; see /openapi.json"
        )
    elif exc.status_code == 405:
        error = MethodNotAllowedError(f"{request.method} is not allowed here")
    else:
        error = ApiError(str(exc.detail), status=exc.status_code)
    return error_response(error, headers=dict(exc.headers or {}))


class AccessLog:
    """Logs each request (method, path without the query, status, milliseconds) and counts it
    by route template: the query string (a search's question) never reaches the log."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.request(route, scope["method"], status)
            access_log.info(
                "%s %s %d %.1f ms",
                scope["method"],
                _printable(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
            )


def _printable(text: str, limit: int = 200) -> str:
    """A path as one safe log line: no control characters, not endless."""
    return "".join(ch if ch.isprintable() else "?" for ch in text[:limit])


def create_app(options: ServeOptions | None = None) -> Starlette:
    """The app for `options` (default: those `muni-crawl serve` left for this worker)."""
    options = options or ServeOptions.from_environment()
    if options.log is not None and logconfig.current() is None:
        logconfig.configure(options.log)  # a uvicorn worker process: log as the CLI does
    server = Server(options)
    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(AccessLog, metrics=server.metrics)],
        exception_handlers={
            MuniCrawlError: _library_error,
            HTTPException: _http_error,
            Exception: _library_error,
        },
        lifespan=server.lifespan,
    )
    app.state.server = server
    return app
