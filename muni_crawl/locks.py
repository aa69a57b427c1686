"""Per-source advisory file locks: one crawl of a source at a time, and stale locks self-heal.

flock() locks die with their process, so a lock left by a run killed with -9 is simply free
again; no pid bookkeeping (which zombies and pid reuse defeat) is needed.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from muni_crawl.errors import CrawlError


class SourceLock:
    """Exclusive, non-blocking lock on <home>/.locks/<name>.lock."""

    def __init__(self, locks_dir: Path, name: str) -> None:
        self.name = name
        self.path = locks_dir / f"{name}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise CrawlError(
                self.name, f"already being crawled by another process (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> SourceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
