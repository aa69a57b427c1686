"""Crawling: run_crawl() starts one worker process per source and collects their summaries.

The parent supervises its worker so that neither outlives the other's intent:
- SIGTERM and SIGINT received while a worker runs are forwarded to it (once: the worker runs
  in its own session, so a terminal's Ctrl-C does not reach it twice). Scrapy then stops
  cleanly, the worker stores and prints its summary and releases the source's lock. The
  parent waits for it (killing it only after a grace period), crawls no further sources, and
  then hands the signal to the handler that was installed before, so a caller's own handling
  (the CLI's, or Python's KeyboardInterrupt) still happens, after the cleanup.
- A worker dies with its parent (Linux: PR_SET_PDEATHSIG), so killing the parent outright
  (kill -9 of its process group, the OOM killer) leaves no worker crawling on its own.
- A worker that dies without a summary (an ImportError from a broken install, a crash, a kill)
  is reported with the cause taken from its stderr, which is still shown as it was.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from types import FrameType, TracebackType
from typing import IO, Any

from muni_crawl.errors import CrawlError
from muni_crawl.home import Home, HomeLike
from muni_crawl.types import CrawlSummary

__all__ = ["crawl_one", "run_crawl", "tie_to_parent"]

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# after a forwarded stop signal the worker may take its download timeout plus this long
STOP_GRACE_S = 15.0
# how much of the worker's stderr is kept to find the cause of a crash
STDERR_TAIL_BYTES = 16_384
MAX_CAUSE_CHARS = 300


def run_crawl(
    sources: Iterable[str] | None = None,
    *,
    home: HomeLike = None,
    progress: bool = False,
    verbose: int = 0,
) -> list[CrawlSummary]:
    """Crawl the named sources (every enabled source when None), one after another.

    A source that fails does not stop the others: its summary has status 'failed' and a
    message. Unknown source names raise UnknownSourceError before anything is crawled.
    SIGTERM or SIGINT stops the running source cleanly and skips the rest (see module doc).
    """
    home = Home.of(home)
    registry = home.registry
    if sources is None:
        names = [s.name for s in registry.sources.values() if s.enabled]
    else:
        names = list(dict.fromkeys(sources))
        for name in names:
            registry.source(name)
    summaries = []
    with _StopSignals() as stops:
        for name in names:
            if stops.received is not None:
                summaries.append(
                    CrawlSummary(
                        source=name,
                        run_id=0,
                        status="failed",
                        message=f"not crawled: stopped by {stops.name}",
                    )
                )
                continue
            try:
                summaries.append(
                    _crawl_supervised(name, home, progress=progress, verbose=verbose, stops=stops)
                )
            except CrawlError as exc:
                log.error("%s", exc)
                summaries.append(
                    CrawlSummary(source=name, run_id=0, status="failed", message=str(exc))
                )
    return summaries


def crawl_one(source: str, *, home: Home, progress: bool = False, verbose: int = 0) -> CrawlSummary:
    """Crawl one source in a worker process and return its summary."""
    with _StopSignals() as stops:
        return _crawl_supervised(source, home, progress=progress, verbose=verbose, stops=stops)


class _StopSignals:
    """Defers SIGTERM/SIGINT while workers run: forwards them to the running worker and hands
    them to the previous handlers on exit. Inert outside the main thread, where Python cannot
    install signal handlers (the worker then shares our process group, as any child does)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.forwarded = 0
        self.active = False
        self._previous: dict[int, Any] = {}

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else ""

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._on_signal)
            self.active = True
        return self

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        if self.worker is not None:
            # a second signal reaches the worker too: Scrapy then stops without waiting
            self.forward(signum)

    def forward(self, signum: int) -> None:
        if self.worker is not None:
            self.forwarded += 1
            self.worker.send_signal(signum)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()
        if self.active and self.received is not None:
            signal.raise_signal(self.received)


_PR_SET_PDEATHSIG = 1


def tie_to_parent(parent_pid: int | None) -> None:
    """Called by a worker: be killed when the parent that started it dies. The parent runs
    the worker in a session of its own (so that a Ctrl-C reaches it once, forwarded), which
    also means that killing the parent's process group would no longer reach the worker."""
    if parent_pid is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not glibc-like: the worker merely outlives a kill -9
        return
    if os.getppid() != parent_pid:  # the parent died before the tie was made
        sys.exit(1)


def _crawl_supervised(
    source: str, home: Home, *, progress: bool, verbose: int, stops: _StopSignals
) -> CrawlSummary:
    cmd = [
        sys.executable,
        "-m",
        "muni_crawl.crawl.worker",
        source,
        "--settings-json",
        home.settings.to_json(),
        "--parent-pid",
        str(os.getpid()),
    ]
    if not progress:
        cmd.append("--quiet")
    cmd += ["-v"] * verbose
    grace = home.settings.crawl.download_timeout + STOP_GRACE_S
    outcome = _run_worker(cmd, stops, grace_s=grace)
    data = _last_json_line(outcome.stdout)
    if data is None:
        raise CrawlError(source, _death_message(outcome))
    if data.get("locked"):
        return CrawlSummary(source=source, run_id=0, status="locked", message=data["error"])
    if "error" in data:
        raise CrawlError(source, data["error"])
    summary = CrawlSummary(**data)
    if stops.received is not None:
        note = f"stopped by {stops.name}"
        summary = replace(
            summary, message=f"{note}; {summary.message}" if summary.message else note
        )
    return summary


def _last_json_line(stdout: str) -> dict[str, Any] | None:
    """The worker's summary: the last line of its stdout that is a JSON object."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return None


@dataclass(frozen=True)
class _WorkerOutcome:
    """How a worker process ended: exit status, its stdout, and the end of its stderr."""

    returncode: int
    stdout: str
    stderr_tail: str
    killed_after_grace: bool = False


def _run_worker(cmd: list[str], stops: _StopSignals, *, grace_s: float) -> _WorkerOutcome:
    """Run the worker, passing its stderr through to ours, until it exits."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=stops.active
    )
    stops.worker, stops.forwarded = proc, 0
    if stops.received is not None and not stops.forwarded:  # it came while the worker started
        stops.forward(stops.received)
    stdout: list[bytes] = []
    tail = _StderrTail()
    assert proc.stdout is not None and proc.stderr is not None
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, stdout.append), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, tail.feed), daemon=True),
    ]
    for reader in readers:
        reader.start()
    deadline: float | None = None
    killed = False
    try:
        while True:
            try:
                proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if stops.received is not None and deadline is None:
                    deadline = time.monotonic() + grace_s
                if deadline is not None and time.monotonic() > deadline and not killed:
                    log.error(
                        "crawl worker %d did not stop within %.0f s; killing it", proc.pid, grace_s
                    )
                    proc.kill()
                    killed = True
    finally:
        if proc.poll() is None:  # an exception in this process: do not leave the worker behind
            proc.kill()
            proc.wait()
        stops.worker = None
        for reader in readers:
            reader.join(timeout=5)
    return _WorkerOutcome(
        proc.returncode, b"".join(stdout).decode("utf-8", "replace"), tail.text(), killed
    )


def _drain(stream: IO[bytes], sink: Callable[[bytes], object]) -> None:
    """Forward what a pipe delivers as it arrives (progress lines must not wait for a buffer)."""
    with stream:
        for chunk in iter(lambda: os.read(stream.fileno(), 65536), b""):
            sink(chunk)


class _StderrTail:
    """Passes the worker's stderr through to ours and keeps its last few kilobytes."""

    def __init__(self) -> None:
        self._tail = bytearray()
        self._lock = threading.Lock()

    def feed(self, chunk: bytes) -> None:
        _write_all(2, chunk)
        with self._lock:
            self._tail += chunk
            del self._tail[:-STDERR_TAIL_BYTES]

    def text(self) -> str:
        with self._lock:
            return bytes(self._tail).decode("utf-8", "replace")


def _write_all(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:  # our stderr is closed: the tail is still kept for the message
        pass


def _death_message(outcome: _WorkerOutcome) -> str:
    """Why a worker left no summary, in one line an operator can act on."""
    if outcome.killed_after_grace:
        what = "crawl worker did not stop in time after a stop signal and was killed"
    elif outcome.returncode < 0:
        what = f"crawl worker was killed by {_signal_name(-outcome.returncode)}"
    else:
        what = f"crawl worker exited with code {outcome.returncode} and no summary"
    cause = crash_cause(outcome.stderr_tail)
    return f"{what}: {cause}" if cause else f"{what} (nothing on stderr)"


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


_TRACEBACK = "Traceback (most recent call last):"
# a Scrapy or logging line ("2025-01-01 10:00:00 [scrapy...]" or "WARNING name: ...")
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d|(DEBUG|INFO|WARNING|ERROR|CRITICAL) )")


def crash_cause(stderr: str) -> str:
    """The last exception of a traceback in `stderr` (its type and message, a multi-line
    message joined), else the last non-blank line; empty when there is nothing."""
    lines = [line.rsplit("\r", 1)[-1].rstrip() for line in stderr.splitlines()]
    start = max((i for i, line in enumerate(lines) if line.startswith(_TRACEBACK)), default=None)
    if start is not None:
        frames = start + 1
        while frames < len(lines) and (lines[frames].startswith(" ") or not lines[frames]):
            frames += 1
        message: list[str] = []
        for line in lines[frames:]:
            if not line.strip() or _LOG_LINE.match(line):
                break
            message.append(line.strip())
        if message:
            return _clip(" ".join(message))
    meaningful = [line.strip() for line in lines if line.strip()]
    return _clip(meaningful[-1]) if meaningful else ""


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CAUSE_CHARS else text[: MAX_CAUSE_CHARS - 1] + "…"
