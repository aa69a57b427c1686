"""Cron scheduling: which sources are due, and the crontab lines that run muni_crawl unattended.

A source is due when it has never been crawled successfully, or when its `schedule` (a cron
expression in its spiders/ file) has fired since the start of its last successful crawl.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from croniter import croniter

from muni_crawl.sources import Registry, SourceSpec
from muni_crawl.store import PageStore

CHECK_EVERY = "*/15 * * * *"


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


def crontab_lines(home: Path, log_file: Path | None = None) -> list[str]:
    """Ready crontab lines for the installed command: crawl what is due, and a status snapshot."""
    command = shutil.which("muni-crawl")
    invoke = shlex.quote(command) if command else f"{shlex.quote(sys.executable)} -m muni_crawl"
    home = home.resolve()
    log = (log_file or home / "logs" / "muni-crawl.log").resolve()
    bin_dir = Path(command).parent if command else Path(sys.executable).parent
    quoted_home = shlex.quote(str(home))
    return [
        "# muni_crawl: crawl the sources that are due, then re-index the tenants they feed",
        f"MUNI_CRAWL_HOME={home}",
        f"PATH={bin_dir}:/usr/local/bin:/usr/bin:/bin",
        f"{CHECK_EVERY} mkdir -p {shlex.quote(str(log.parent))} && cd {quoted_home} &&"
        f" {invoke} --quiet crawl --due >> {shlex.quote(str(log))} 2>&1",
        f"5 6 * * * cd {quoted_home} && {invoke} status --json"
        f" > {shlex.quote(str(home / 'status.json'))} 2>> {shlex.quote(str(log))}",
    ]
