"""Cron scheduling: which sources are due, and the crontab lines that run muni_crawl unattended.

A source is due when it has never been crawled successfully, or when its `schedule` (a cron
expression in its spiders/ file) has fired since the start of its last successful crawl.

The crontab has one `crawl --due` line rather than a line per schedule: the sources that are
due are read from spiders/ at each run (a new source, or a changed schedule at the same
minutes, needs no new crontab), one process keeps two sources of a host apart and re-indexes
each tenant once, and an unreachable or failed source is retried at the next run instead of
at its next scheduled time. The line runs at every minute that any schedule can fire, so no
source's own schedule is overridden.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import textwrap
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from croniter import croniter

from muni_crawl.sources import Registry, SourceSpec
from muni_crawl.store import PageStore


def last_success(store: PageStore, source: str) -> datetime | None:
    started = store.last_success_start(source)
    return datetime.fromisoformat(started) if started else None


def next_due(spec: SourceSpec, since: datetime | None) -> datetime | None:
    """When the source is next due after `since` (None: due now, never crawled)."""
    if since is None:
        return None
    next_time: datetime = croniter(spec.schedule, since).get_next(datetime)
    return next_time if next_time.tzinfo else next_time.replace(tzinfo=UTC)


def due_sources(
    registry: Registry, store: PageStore, now: datetime | None = None
) -> list[SourceSpec]:
    """Enabled sources whose schedule fired since their last successful crawl."""
    now = now or datetime.now(UTC)
    due = []
    for spec in registry.sources.values():
        if not spec.enabled:
            continue
        when = next_due(spec, last_success(store, spec.name))
        if when is None or when <= now:
            due.append(spec)
    return due


def entry_point() -> str | None:
    """The installed `muni-crawl` command: the one beside this Python (its virtual
    environment's), else the first on PATH; None when neither exists."""
    beside = Path(sys.executable).parent / "muni-crawl"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("muni-crawl")


def check_minutes(specs: Iterable[SourceSpec]) -> list[int]:
    """The minutes of the hour at which some enabled source's schedule can fire."""
    minutes: set[int] = set()
    for spec in specs:
        if not spec.enabled:
            continue
        expanded, _ = croniter.expand(spec.schedule)
        field = expanded[0]
        minutes.update(range(60) if "*" in field else (int(m) for m in field))
    return sorted(minutes) or [0]


def minute_field(minutes: list[int]) -> str:
    """A cron minute field for exactly these minutes: `*/5` where a step says it, else a list."""
    for step in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30):
        if minutes == list(range(0, 60, step)):
            return "*" if step == 1 else f"*/{step}"
    return ",".join(str(m) for m in minutes)


def crontab_lines(
    home: Path, specs: Iterable[SourceSpec], log_file: Path | None = None
) -> list[str]:
    """Ready crontab lines for the installed command: `crawl --due` at every minute that some
    source's schedule can fire (at least hourly, so a failed crawl is retried within the
    hour), and a daily status snapshot. Logs go to a rotating log file, with timestamps."""
    specs = list(specs)
    command = entry_point()
    if command:
        invoke = _cron_quote(command)
        bin_dir = Path(command).parent
    else:
        invoke = f"{_cron_quote(sys.executable)} -m muni_crawl"
        bin_dir = Path(sys.executable).parent
    home = home.resolve()
    log = (log_file or home / "logs" / "muni-crawl.log").resolve()
    log_options = f"--quiet --log-file {_cron_quote(str(log))}"
    quoted_home = _cron_quote(str(home))
    lines = [
        "# muni_crawl: crawl the sources that are due, then re-index the tenants they feed.",
        "# One `crawl --due` line, run at every minute that one of these schedules can fire,",
        "# so no source waits past its own schedule (and at least hourly, to retry failures):",
        *_schedule_comments(specs),
        "# Print these lines again (muni-crawl schedule) after changing a schedule.",
        "# Logs (with timestamps, rotated) go to the log file; cron mails only errors.",
    ]
    if not command:
        lines.append(
            f"# no muni-crawl command beside {sys.executable} or on PATH: python -m muni_crawl"
        )
    return [
        *lines,
        f"MUNI_CRAWL_HOME={home}",
        f"PATH={bin_dir}:/usr/local/bin:/usr/bin:/bin",
        f"{minute_field(check_minutes(specs))} * * * * cd {quoted_home} &&"
        f" {invoke} {log_options} crawl --due > /dev/null",
        f"5 6 * * * cd {quoted_home} && {invoke} {log_options} status --json"
        f" > {_cron_quote(str(home / 'status.json'))}",
    ]


def _schedule_comments(specs: list[SourceSpec]) -> list[str]:
    """`#   <schedule>: <sources>` per distinct schedule of the enabled sources."""
    by_schedule: dict[str, list[str]] = {}
    for spec in specs:
        if spec.enabled:
            by_schedule.setdefault(spec.schedule, []).append(spec.name)
    if not by_schedule:
        return ["#   (no enabled source)"]
    lines = []
    for schedule, names in sorted(by_schedule.items()):
        lines += textwrap.wrap(
            f"{schedule}: {', '.join(names)}",
            width=96,
            initial_indent="#   ",
            subsequent_indent="#     ",
            break_on_hyphens=False,
        )
    return lines


def _cron_quote(text: str) -> str:
    """Shell-quoted, with cron's one special character in a command (%) escaped."""
    return shlex.quote(text).replace("%", "\\%")
