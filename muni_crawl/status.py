"""Status per source and tenant: crawl health, freshness, index age and the review backlog.

Each enabled source has a `health` a monitor can act on: `unreachable` (its last crawl got no
answer), `failing` (its last crawl failed, was an anomaly or died), `overdue` (its schedule
fired more than an hour ago, or it was never crawled) or `ok`; a disabled source is
`disabled`. `problems` lists the sources that are not ok, for `muni-crawl status` to name,
and the home's own gate calibration (`muni-crawl calibrate --write`) where it is broken: a
running answerer then keeps its last good values and logs once, which a monitor would miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from muni_crawl.calibration import check_home_calibration, home_calibration_file
from muni_crawl.errors import ConfigError
from muni_crawl.home import Home
from muni_crawl.index import read_manifest, shared_dir, tenant_dir
from muni_crawl.index.layout import current_version_in
from muni_crawl.schedule import last_success, next_due

OVERDUE_GRACE = timedelta(hours=1)
FAILING_STATUSES = ("failed", "anomaly", "aborted")
HEALTH_ORDER = ("failing", "unreachable", "overdue")  # worst first
CALIBRATION_PROBLEM = "calibration.toml"  # what `problems` names for a broken one


@dataclass(frozen=True)
class Problem:
    """An enabled source that needs someone: its health and why, in words."""

    source: str
    health: str
    detail: str


def health(enabled: bool, last_status: str, overdue: bool) -> str:
    """One word for a source's state (see the module docstring)."""
    if not enabled:
        return "disabled"
    if last_status == "unreachable":
        return "unreachable"
    if last_status in FAILING_STATUSES:
        return "failing"
    return "overdue" if overdue else "ok"


def problems(report: dict[str, Any]) -> list[Problem]:
    """The sources of a status report that are not ok, the worst first."""
    found = []
    for row in report["sources"]:
        if row["health"] not in HEALTH_ORDER:
            continue
        if row["health"] == "overdue":
            detail = (
                "never crawled"
                if row["next_due"] == "now"
                else f"due since {row['next_due']} (schedule {row['schedule']})"
            )
        else:
            detail = f"last crawl {row['last_status']} at {row['last_started']}"
            if row["last_message"]:
                detail += f": {row['last_message']}"
        found.append(Problem(row["source"], row["health"], detail))
    calibration = report.get("calibration") or {}
    if calibration.get("error"):
        found.append(Problem(CALIBRATION_PROBLEM, "failing", calibration["error"]))
    return sorted(found, key=lambda p: HEALTH_ORDER.index(p.health))


def status_report(home: Home, now: datetime | None = None) -> dict[str, Any]:
    """Everything `muni-crawl status` shows, as plain data."""
    now = now or datetime.now(UTC)
    registry = home.registry
    indexes_dir = home.paths.indexes_dir
    sources = []
    with home.store() as store:
        for spec in registry.sources.values():
            last = store.last_run(spec.name)
            pages = store.page_status_counts(spec.name)
            success = last_success(store, spec.name)
            due = next_due(spec, success)
            since = success.isoformat(timespec="milliseconds") if success else ""
            errors = store.errors_since(spec.name, since)
            last_status = last.status if last else "never crawled"
            overdue = spec.enabled and (due is None or due + OVERDUE_GRACE < now)
            sources.append(
                {
                    "source": spec.name,
                    "kind": spec.kind,
                    "enabled": spec.enabled,
                    "schedule": spec.schedule,
                    "last_started": last.started_at if last else None,
                    "last_finished": last.finished_at if last else None,
                    "last_status": last_status,
                    "last_message": last.message if last else None,
                    "pages_live": pages.get("live", 0),
                    "pages_deleted": pages.get("deleted", 0),
                    "errors_since_success": errors,
                    "next_due": due.isoformat(timespec="seconds") if due else "now",
                    "overdue": overdue,
                    "health": health(spec.enabled, last_status, overdue),
                }
            )
        tenants = []
        for tenant in registry.tenants.values():
            reviews = store.review_counts(tenant.slug)
            root = tenant_dir(indexes_dir, tenant.slug)
            index = _index_figures(root, now)
            tenants.append(
                {
                    "tenant": tenant.slug,
                    "name": tenant.name,
                    # a version whose manifest is unreadable is still named
                    "index_version": index["index_version"] if index else current_version_in(root),
                    "index_age_hours": index["index_age_hours"] if index else None,
                    "passages": index["passages"] if index else 0,
                    "documents": index["documents"] if index else 0,
                    "pending_reviews": reviews.get("pending", 0),
                    "stale_reviews": reviews.get("stale", 0),
                    # questions refused at 0 tokens when asked again (review list --unanswerable)
                    "unanswerable": reviews.get("unanswerable", 0),
                }
            )
    shared = [
        {"source": source, **index}
        for source in registry.sources
        if (index := _index_figures(shared_dir(indexes_dir, source), now)) is not None
    ]
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "sources": sources,
        "tenants": tenants,
        "shared_indexes": shared,  # of national text (see index/view.py), where built
        "calibration": _calibration(home.path),
    }


def _calibration(home: Path) -> dict[str, str | None]:
    """The home's own gate calibration: its file (None: the shipped values alone) and what
    is wrong with it (None: nothing)."""
    path = home_calibration_file(home)
    if not path.exists():
        return {"file": None, "error": None}
    try:
        check_home_calibration(home)
    except ConfigError as exc:
        return {"file": str(path), "error": str(exc)}
    return {"file": str(path), "error": None}


def _index_figures(root: Path, now: datetime) -> dict[str, Any] | None:
    """The current version of the index at `root`: its name, age, passages and documents
    (None when none is built or its manifest is unreadable)."""
    version = current_version_in(root)
    manifest = read_manifest(root / version) if version else None
    if manifest is None:
        return None
    built = datetime.fromisoformat(manifest.built_at)
    return {
        "index_version": version,
        "index_age_hours": round((now - built).total_seconds() / 3600, 1),
        "passages": manifest.passages,
        "documents": manifest.documents,
    }
