"""Status per source and tenant: crawl health, freshness, index age and the review backlog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from muni_crawl.config import Settings
from muni_crawl.index import current_version, read_manifest, tenant_dir
from muni_crawl.schedule import last_success, next_due
from muni_crawl.sites import load_registry
from muni_crawl.store import Store

OVERDUE_GRACE = timedelta(hours=1)


def status_report(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Everything `muni-crawl status` shows, as plain data."""
    now = now or datetime.now(UTC)
    registry = load_registry(settings.spiders_dir)
    sources = []
    with Store(settings.database) as store:
        db = store.db
        for spec in registry.sources.values():
            last = db.execute(
                "SELECT * FROM crawl_runs WHERE source = ? ORDER BY id DESC LIMIT 1", (spec.name,)
            ).fetchone()
            pages = dict(
                db.execute(
                    "SELECT status, COUNT(*) FROM pages WHERE source = ? GROUP BY status",
                    (spec.name,),
                ).fetchall()
            )
            success = last_success(store, spec.name)
            due = next_due(spec, success)
            since = success.isoformat(timespec="milliseconds") if success else ""
            errors = db.execute(
                "SELECT COALESCE(SUM(failed), 0)"
                " + COALESCE(SUM(status NOT IN ('ok', 'partial', 'running')), 0)"
                " FROM crawl_runs WHERE source = ? AND started_at >= ?",
                (spec.name, since),
            ).fetchone()[0]
            sources.append(
                {
                    "source": spec.name,
                    "kind": spec.kind,
                    "enabled": spec.enabled,
                    "schedule": spec.schedule,
                    "last_started": last["started_at"] if last else None,
                    "last_finished": last["finished_at"] if last else None,
                    "last_status": last["status"] if last else "never crawled",
                    "last_message": last["message"] if last else None,
                    "pages_live": pages.get("live", 0),
                    "pages_deleted": pages.get("deleted", 0),
                    "errors_since_success": int(errors),
                    "next_due": due.isoformat(timespec="seconds") if due else "now",
                    "overdue": spec.enabled and (due is None or due + OVERDUE_GRACE < now),
                }
            )
        tenants = []
        for tenant in registry.tenants.values():
            version = current_version(settings, tenant.slug)
            manifest = (
                read_manifest(tenant_dir(settings, tenant.slug) / version) if version else None
            )
            reviews = dict(
                db.execute(
                    "SELECT review_status, COUNT(*) FROM answers WHERE tenant = ?"
                    " AND review_status IN ('pending', 'stale') GROUP BY review_status",
                    (tenant.slug,),
                ).fetchall()
            )
            age = None
            if manifest is not None:
                built = datetime.fromisoformat(manifest.built_at)
                age = round((now - built).total_seconds() / 3600, 1)
            tenants.append(
                {
                    "tenant": tenant.slug,
                    "name": tenant.name,
                    "index_version": version,
                    "index_age_hours": age,
                    "passages": manifest.passages if manifest else 0,
                    "documents": manifest.documents if manifest else 0,
                    "pending_reviews": reviews.get("pending", 0),
                    "stale_reviews": reviews.get("stale", 0),
                }
            )
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "sources": sources,
        "tenants": tenants,
    }
