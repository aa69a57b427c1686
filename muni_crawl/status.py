"""Status per source and tenant: crawl health, freshness, index age and the review backlog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from muni_crawl.home import Home
from muni_crawl.index import current_version, read_manifest, tenant_dir
from muni_crawl.schedule import last_success, next_due

OVERDUE_GRACE = timedelta(hours=1)


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
            sources.append(
                {
                    "source": spec.name,
                    "kind": spec.kind,
                    "enabled": spec.enabled,
                    "schedule": spec.schedule,
                    "last_started": last.started_at if last else None,
                    "last_finished": last.finished_at if last else None,
                    "last_status": last.status if last else "never crawled",
                    "last_message": last.message if last else None,
                    "pages_live": pages.get("live", 0),
                    "pages_deleted": pages.get("deleted", 0),
                    "errors_since_success": errors,
                    "next_due": due.isoformat(timespec="seconds") if due else "now",
                    "overdue": spec.enabled and (due is None or due + OVERDUE_GRACE < now),
                }
            )
        tenants = []
        for tenant in registry.tenants.values():
            version = current_version(indexes_dir, tenant.slug)
            manifest = (
                read_manifest(tenant_dir(indexes_dir, tenant.slug) / version) if version else None
            )
            reviews = store.review_counts(tenant.slug)
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
