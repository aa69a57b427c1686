"""Bulk work yields the CPU to questions: crawls and index builds run at a lower priority.

A server that answers questions often also crawls and indexes from cron. Both are CPU-bound,
and on a small machine an index build embedding passages on every core stretches a question's
p95 several times over (benchmarks/retrieval_speed.py measures it). At a nice value of 10 the
kernel gives a runnable question about ten times the bulk job's share of a core, so questions
keep their latency while the bulk job still uses every core the questions leave idle.

On Linux a nice value belongs to a thread and is inherited by the threads and processes it
starts, so the commands call this first, before the embedding engine's threads or the crawl
workers exist.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def yield_to_questions(nice: int) -> int:
    """Lower this thread's CPU priority to at least `nice` (never raise it: that needs
    privileges); returns the nice value now in effect. Where priorities are not available
    (Windows) nothing changes."""
    getpriority = getattr(os, "getpriority", None)
    setpriority = getattr(os, "setpriority", None)
    if getpriority is None or setpriority is None:
        return 0
    current: int = getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        try:
            setpriority(os.PRIO_PROCESS, 0, nice)
        except OSError as exc:  # a container's seccomp profile may refuse it
            log.warning("cannot lower the CPU priority to nice %d: %s", nice, exc)
            return current
        return nice
    return current
