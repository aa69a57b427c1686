"""Per-tenant indexes: which pages a tenant sees (`audience`), how its index is built
(`build`) and how a version is laid out on disk and loaded (`layout`)."""

from __future__ import annotations

from muni_crawl.index.audience import tenant_pages
from muni_crawl.index.build import BuildResult, affected_tenants, build_index, build_indexes
from muni_crawl.index.layout import (
    Manifest,
    TenantIndex,
    current_version,
    load_current,
    read_manifest,
    tenant_dir,
    write_version,
)

__all__ = [
    "BuildResult",
    "Manifest",
    "TenantIndex",
    "affected_tenants",
    "build_index",
    "build_indexes",
    "current_version",
    "load_current",
    "read_manifest",
    "tenant_dir",
    "tenant_pages",
    "write_version",
]
