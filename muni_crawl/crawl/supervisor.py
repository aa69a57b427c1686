"""Crawl worker processes: start one, pass its stderr on, forward stop signals, see how it ended.

The parent supervises its workers so that neither outlives the other's intent:
- SIGTERM and SIGINT received while workers run are forwarded to every running worker (once:
  each worker runs in its own session, so a terminal's Ctrl-C does not reach it twice).
  Scrapy then stops cleanly, the worker stores and prints its summary and releases the
  source's lock. The parent waits for them (killing one only after a grace period), starts
  no further workers, and then hands the signal to the handler that was installed before, so
  a caller's own handling (the CLI's, or Python's KeyboardInterrupt) still happens, after
  the cleanup.
- A worker dies with its parent (Linux: PR_SET_PDEATHSIG), so killing the parent outright
  (kill -9 of its process group, the OOM killer) leaves no worker crawling on its own.
- A worker's stderr is passed through as it arrives and its last kilobytes are kept, so that
  a worker that dies without a summary can be reported with the cause.

Everything here runs in the thread that called run_crawl; signal handlers run in the main
thread between bytecodes, which is why the bookkeeping below needs no locks.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import IO, Any

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# how much of a worker's stderr is kept to find the cause of a crash
STDERR_TAIL_BYTES = 16_384
JSON_LOG_LINE = b'{"time": '  # how muni_crawl.logconfig's JSON lines start
_PR_SET_PDEATHSIG = 1


class StopSignals:
    """Defers SIGTERM/SIGINT while workers run: forwards them to every running worker and
    hands them to the previous handlers on exit. Inert outside the main thread, where Python
    cannot install signal handlers (workers then share our process group, as any child does)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.active = False
        self._workers: dict[subprocess.Popen[bytes], int] = {}  # -> signals forwarded to it
        self._previous: dict[int, Any] = {}

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else ""

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._on_signal)
            self.active = True
        return self

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        # a second signal reaches the workers too: Scrapy then stops without waiting
        for proc in list(self._workers):
            self._send(proc, signum)

    def adopt(self, proc: subprocess.Popen[bytes]) -> None:
        """A worker just started: signals now reach it, and one that came while it started
        is forwarded now (exactly once, whenever the handler ran)."""
        self._workers[proc] = 0
        if self.received is not None and not self._workers[proc]:
            self._send(proc, self.received)

    def release(self, proc: subprocess.Popen[bytes]) -> int:
        """The worker ended: forget it; returns how many signals were forwarded to it."""
        return self._workers.pop(proc, 0)

    def _send(self, proc: subprocess.Popen[bytes], signum: int) -> None:
        if proc in self._workers and proc.poll() is None:
            self._workers[proc] += 1
            proc.send_signal(signum)

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


@dataclass(frozen=True)
class WorkerOutcome:
    """How a worker process ended: exit status, its stdout, and the end of its stderr."""

    returncode: int
    stdout: str
    stderr_tail: str
    killed_after_grace: bool = False
    signalled: bool = False  # a stop signal was forwarded to it


class WorkerProcess:
    """One running crawl worker. `label` (the source's name) prefixes each line of its stderr
    when several workers share our stderr; without it, stderr passes through as it comes."""

    def __init__(
        self, cmd: list[str], stops: StopSignals, *, grace_s: float, label: str | None = None
    ) -> None:
        self._stops = stops
        self._grace_s = grace_s
        self._deadline: float | None = None
        self._killed = False
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=stops.active
        )
        stops.adopt(self.proc)
        self._stdout: list[bytes] = []
        self._stderr = StderrPassThrough(label)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=_drain, args=(self.proc.stdout, self._stdout.append)),
            threading.Thread(target=_drain, args=(self.proc.stderr, self._stderr.feed)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()

    def poll(self) -> WorkerOutcome | None:
        """None while the worker runs; kills it when it outstays the grace period after a stop
        signal; its outcome once it has exited."""
        if self.proc.poll() is None:
            if self._stops.received is not None and self._deadline is None:
                self._deadline = time.monotonic() + self._grace_s
            late = self._deadline is not None and time.monotonic() > self._deadline
            if late and not self._killed:
                log.error(
                    "crawl worker %d did not stop within %.0f s; killing it",
                    self.proc.pid,
                    self._grace_s,
                )
                self.proc.kill()
                self._killed = True
            return None
        return self._finish()

    def wait(self, interval: float) -> WorkerOutcome:
        """Poll until the worker has exited."""
        while (outcome := self.poll()) is None:
            time.sleep(interval)
        return outcome

    def kill(self) -> None:
        """An exception in this process: do not leave the worker behind."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._finish()

    def _finish(self) -> WorkerOutcome:
        signalled = self._stops.release(self.proc) > 0
        for reader in self._readers:
            reader.join(timeout=5)
        self._stderr.close()
        return WorkerOutcome(
            self.proc.returncode,
            b"".join(self._stdout).decode("utf-8", "replace"),
            self._stderr.tail(),
            self._killed,
            signalled,
        )


def _drain(stream: IO[bytes], sink: Callable[[bytes], object]) -> None:
    """Forward what a pipe delivers as it arrives (progress lines must not wait for a buffer)."""
    with stream:
        for chunk in iter(lambda: os.read(stream.fileno(), 65536), b""):
            sink(chunk)


class StderrPassThrough:
    """Passes a worker's stderr through to ours and keeps its last few kilobytes (unchanged).

    With a label, output goes on in whole lines, each starting with "<label>: " (lines that
    already do, such as the spider's progress lines, are left as they are): the lines of
    workers running side by side then never interleave mid-line and each says its source.
    """

    def __init__(self, label: str | None = None) -> None:
        self._prefix = f"{label}: ".encode() if label else None
        self._partial = b""
        self._tail = bytearray()
        self._lock = threading.Lock()

    def feed(self, chunk: bytes) -> None:
        with self._lock:
            self._tail += chunk
            del self._tail[:-STDERR_TAIL_BYTES]
        if self._prefix is None:
            _write_all(2, chunk)
            return
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            self._write_line(line)

    def close(self) -> None:
        """The stream ended: a last line without a newline is still shown."""
        if self._partial:
            self._write_line(self._partial)
            self._partial = b""

    def _write_line(self, line: bytes) -> None:
        assert self._prefix is not None
        line = line.rstrip(b"\r").rsplit(b"\r", 1)[-1]  # a progress bar's last state only
        # a JSON log line (--log-format json) names its source itself and must stay JSON
        own = line.startswith(self._prefix) or line.startswith(JSON_LOG_LINE)
        prefix = b"" if own else self._prefix
        _write_all(2, prefix + line + b"\n")

    def tail(self) -> str:
        with self._lock:
            return bytes(self._tail).decode("utf-8", "replace")


def _write_all(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:  # our stderr is closed: the tail is still kept for the message
        pass
