"""The CPU work on one downloaded page, as one step that can run in a helper process.

Why: Scrapy runs its reactor, the downloads and every callback in one thread, and the crawl of
one source is CPU-bound (extraction takes about half of it). With a core free, a helper process
forked from the crawl worker does the page work (the canonical URL, extraction, the links and
the fingerprint) while the reactor goes on downloading and storing: the same steps on the same
bytes, giving the same result, only beside the reactor instead of inside it.

The helper is used when the worker is the only crawl running and this process may use more
than one core (see `helper_wanted`); several crawls at once already keep the cores busy. If
the helper cannot start or dies (killed, out of memory), the pages are analysed in the crawl
process from then on, and the crawl goes on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import multiprocessing
import multiprocessing.process
import os
import pickle
import signal
import socket
import traceback
from dataclasses import dataclass

from scrapy.http import Response, TextResponse
from scrapy.linkextractors import IGNORED_EXTENSIONS, LinkExtractor

from muni_crawl.extract import ExtractionError, extract, is_pdf
from muni_crawl.sources import SourceSpec
from muni_crawl.types import Document
from muni_crawl.urls import normalise_url

log = logging.getLogger(__name__)

_LINKS = LinkExtractor(deny_extensions=[e for e in IGNORED_EXTENSIONS if e != "pdf"], unique=True)
MAX_REMEMBERED_URLS = 100_000  # url_allowed answers kept by one UrlFilter (a few MiB at most)


class UrlFilter:
    """A source's url_allowed (a pure function of the URL), remembered for each URL met:
    every page of a site repeats the links of its menu and footer."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        self._answers: dict[str, bool] = {}

    def __call__(self, url: str) -> bool:
        allowed = self._answers.get(url)
        if allowed is None:
            allowed = self.spec.url_allowed(url)
            if len(self._answers) < MAX_REMEMBERED_URLS:
                self._answers[url] = allowed
        return allowed


@dataclass(frozen=True)
class FetchedPage:
    """What the analysis needs of a Scrapy response, and can send to another process: the
    response is rebuilt there from its class, URL, body and encoding (all that link
    extraction, the canonical link and extraction read of it)."""

    url: str  # normalised: the URL that answered, after redirects
    response_class: type[Response]
    response_url: str
    body: bytes
    content_type: str
    encoding: str | None  # the response's, for a text response

    @classmethod
    def of(cls, response: Response, url: str, content_type: str) -> FetchedPage:
        encoding = response.encoding if isinstance(response, TextResponse) else None
        return cls(url, type(response), response.url, response.body, content_type, encoding)

    def response(self) -> Response:
        if issubclass(self.response_class, TextResponse):
            return self.response_class(self.response_url, body=self.body, encoding=self.encoding)
        return self.response_class(self.response_url, body=self.body)


@dataclass(frozen=True)
class PageAnalysis:
    """The documents, links and fingerprint of a page, or why it yielded none."""

    documents: tuple[Document, ...] = ()
    links: tuple[str, ...] = ()  # normalised, allowed by the source, sorted
    raw_fingerprint: str = ""
    failure: str | None = None  # "extraction failed: ..." or "extraction crashed: ..."
    crash: str | None = None  # the traceback of a crash (a bug), for the log


def analyse(
    page: FetchedPage, allowed: UrlFilter, response: Response | None = None
) -> PageAnalysis:
    """Extract a downloaded page: its documents (under its canonical URL when the source allows
    that), its links and its fingerprint. `response` is the original when there is one."""
    if response is None:
        response = page.response()
    try:
        documents = extract(
            page.body,
            url=_canonical(response, page.url, allowed),
            content_type=page.content_type,
            encoding=page.encoding,
        )
    except ExtractionError as exc:
        return PageAnalysis(failure=f"extraction failed: {exc}")
    except Exception as exc:  # a page must never stop the crawl
        return PageAnalysis(
            failure=f"extraction crashed: {type(exc).__name__}: {exc}",
            crash=traceback.format_exc(),
        )
    links: list[str] = []
    if isinstance(response, TextResponse) and not is_pdf(page.body, page.content_type):
        found = {normalise_url(link.url) for link in _LINKS.extract_links(response)}
        links = sorted(link for link in found if allowed(link))
    raw = json.dumps([d.to_dict() for d in documents], sort_keys=True, ensure_ascii=False)
    return PageAnalysis(
        documents=tuple(documents),
        links=tuple(links),
        raw_fingerprint=hashlib.sha256(raw.encode("utf-8")).hexdigest(),
    )


def _canonical(response: Response, url: str, allowed: UrlFilter) -> str:
    if not isinstance(response, TextResponse) or is_pdf(response.body, ""):
        return url
    try:
        href = response.css('link[rel="canonical"]::attr(href)').get()
    except (ValueError, AttributeError):
        return url
    if href:
        canonical = normalise_url(response.urljoin(href))
        if allowed(canonical):
            return canonical
    return url


def helper_wanted(alone: bool) -> bool:
    """A helper process pays when this crawl is the only one running, more than one core is
    ours, and a process can be forked (Linux, macOS)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return alone and cores > 1 and "fork" in multiprocessing.get_all_start_methods()


class HelperDied(Exception):
    """The helper process ended (killed, out of memory) before answering."""


class PageAnalyser:
    """Analyses pages in a helper process when it has one (`helper`), else in this process.

    The helper is forked at once, before Scrapy's reactor starts threads, so it starts
    without importing anything and holds the same modules; it dies with this process. Pages
    go to it and analyses come back over a socket pair, in order, read by the event loop
    itself: no threads here, so the reactor never waits for the GIL.
    """

    def __init__(self, allowed: UrlFilter, *, helper: bool) -> None:
        self.allowed = allowed  # used here; the helper has its own
        self._process: multiprocessing.process.BaseProcess | None = None
        self._socket: socket.socket | None = None
        self._opening: asyncio.Task[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None
        self._opening = None
        self._answers: asyncio.Task[None] | None = None  # the one reader of the helper's answers
        self._sent = 0  # pages sent to the helper, which answers them in the same order
        # page number -> (its URL, the future its analysis is set on); a page that stops
        # waiting (Scrapy cancelled it) leaves, and its answer, when it comes, is dropped
        self._waiting: dict[int, tuple[str, asyncio.Future[PageAnalysis]]] = {}
        self._failure: str | None = None  # why the helper can no longer answer
        if helper:
            self._start_helper()

    @property
    def in_helper(self) -> bool:
        return self._socket is not None

    def _start_helper(self) -> None:
        ours, theirs = socket.socketpair()
        process = multiprocessing.get_context("fork").Process(
            target=_serve,
            args=(theirs, ours, self.allowed.spec, os.getpid()),
            name="muni-crawl-pages",
            daemon=True,
        )
        try:
            process.start()
        except OSError as exc:
            log.warning("%s: no page analysis helper (%s)", self.allowed.spec.name, exc)
            ours.close()
            return
        finally:
            theirs.close()
        self._process, self._socket = process, ours

    async def analyse(self, response: Response, url: str, content_type: str) -> PageAnalysis:
        page = FetchedPage.of(response, url, content_type)
        if self._socket is not None:
            try:
                return await self._ask_helper(page)
            except HelperDied:
                self._helper_died()
        return analyse(page, self.allowed, response)

    async def _ask_helper(self, page: FetchedPage) -> PageAnalysis:
        """Send the page and wait for its answer, which one reader task hands to it: a page
        that stops waiting never leaves the stream of answers half read."""
        if self._opening is None:
            assert self._socket is not None
            self._opening = asyncio.ensure_future(asyncio.open_unix_connection(sock=self._socket))
        # shielded: a page cancelled while the connection opens must not cancel it for all
        reader, writer = await asyncio.shield(self._opening)
        if self._answers is None:
            self._answers = asyncio.ensure_future(self._read_answers(reader))
        if self._failure is not None:
            raise HelperDied(self._failure)
        answer: asyncio.Future[PageAnalysis] = asyncio.get_running_loop().create_future()
        number = self._sent
        self._sent += 1
        self._waiting[number] = (page.url, answer)
        data = pickle.dumps(page, protocol=pickle.HIGHEST_PROTOCOL)
        writer.write(len(data).to_bytes(_SIZE_BYTES, "big") + data)
        try:
            return await answer
        finally:
            self._waiting.pop(number, None)

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        """Hand each answer to the page it belongs to (the n-th answer is the n-th page's, and
        carries its URL, checked); on the helper's end, fail every page still waiting."""
        number = 0
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(_SIZE_BYTES), "big")
                url, analysis = pickle.loads(await reader.readexactly(size))
                waiting = self._waiting.pop(number, None)
                number += 1
                if waiting is None:
                    continue  # that page stopped waiting
                expected, answer = waiting
                if url != expected:  # never store one page's text under another's URL
                    raise HelperDied(f"answer {number - 1} is for {url}, not {expected}")
                if not answer.done():
                    answer.set_result(analysis)
        except (asyncio.IncompleteReadError, OSError, pickle.UnpicklingError, HelperDied) as exc:
            self._failure = str(exc) or type(exc).__name__
            for _url, answer in self._waiting.values():
                if not answer.done():
                    answer.set_exception(HelperDied(self._failure))

    def _helper_died(self) -> None:
        if self._socket is not None:
            log.warning(
                "%s: the page analysis helper died; analysing in the crawl process",
                self.allowed.spec.name,
            )
        self.close()

    def close(self) -> None:
        """Stop the helper and wait for it (so its CPU time is counted as this process's)."""
        answers, self._answers = self._answers, None
        if answers is not None and not answers.done():
            answers.cancel()
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()  # the helper reads the end of its input and exits
        process, self._process = self._process, None
        if process is not None:
            process.join(timeout=HELPER_EXIT_S)
            if process.is_alive():
                process.kill()
                process.join()


_SIZE_BYTES = 8
HELPER_EXIT_S = 10.0


def _serve(sock: socket.socket, parent_end: socket.socket, spec: SourceSpec, parent: int) -> None:
    """The helper: analyse each page that comes in, send its analysis back, until the crawl
    worker closes its end. It dies with the worker and leaves stop signals to it (a forwarded
    SIGTERM stops Scrapy there, and the worker then closes the helper)."""
    from muni_crawl.crawl.supervisor import tie_to_parent

    parent_end.close()  # else the helper would never see the end of its input
    tie_to_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    allowed = UrlFilter(spec)
    with sock, sock.makefile("rb") as incoming, sock.makefile("wb") as outgoing:
        while True:
            head = incoming.read(_SIZE_BYTES)
            if len(head) < _SIZE_BYTES:
                return
            page = pickle.loads(incoming.read(int.from_bytes(head, "big")))
            answer = (page.url, analyse(page, allowed))
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
            outgoing.write(len(data).to_bytes(_SIZE_BYTES, "big") + data)
            outgoing.flush()
