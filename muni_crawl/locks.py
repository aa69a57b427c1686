"""Advisory file locks: one crawl of a source, and one build of a tenant's index, at a time.

flock() locks die with their process, so a lock left by a run killed with -9 is simply free
again; no pid bookkeeping (which zombies and pid reuse defeat) is needed. The holder's pid is
written into the file only so that the refusal can name it.

Crawls and index builds have separate lock files (``<home>/.locks/<source>.lock`` and
``<home>/.locks/index/<tenant>.lock``): a crawl that re-indexes must not be mistaken for a
second crawl, and a source may share its name with a tenant.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import Self

from muni_crawl.errors import CrawlError, IndexBuildRunningError, MuniCrawlError


class _FileLock:
    """Exclusive, non-blocking flock on one file; subclasses say what a refusal means."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def _refusal(self, holder: str) -> MuniCrawlError:
        raise NotImplementedError

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise self._refusal(holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class SourceLock(_FileLock):
    """The crawl lock of one source: <locks_dir>/<source>.lock."""

    def __init__(self, locks_dir: Path, name: str) -> None:
        self.name = name
        super().__init__(locks_dir / f"{name}.lock")

    def _refusal(self, holder: str) -> MuniCrawlError:
        return CrawlError(self.name, f"already being crawled by another process (pid {holder})")


class IndexLock(_FileLock):
    """The index-build lock of one tenant: <locks_dir>/index/<tenant>.lock."""

    def __init__(self, locks_dir: Path, tenant: str) -> None:
        self.tenant = tenant
        super().__init__(locks_dir / "index" / f"{tenant}.lock")

    def _refusal(self, holder: str) -> MuniCrawlError:
        return IndexBuildRunningError(self.tenant, holder)
