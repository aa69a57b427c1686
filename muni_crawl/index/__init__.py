"""Per-tenant indexes: which pages a tenant sees (`audience`), how its index is built
(`build`), how a version is laid out on disk and loaded (`layout`), and how a tenant's
index is searched beside the shared indexes of national text (`view`)."""

from __future__ import annotations

from muni_crawl.index.audience import tenant_pages
from muni_crawl.index.build import BuildResult, affected_tenants, build_index, build_indexes
from muni_crawl.index.layout import (
    Manifest,
    TenantIndex,
    current_version,
    load_current,
    read_manifest,
    shared_dir,
    tenant_dir,
    write_version,
)
from muni_crawl.index.view import IndexView

__all__ = [
    "BuildResult",
    "IndexView",
    "Manifest",
    "TenantIndex",
    "affected_tenants",
    "build_index",
    "build_indexes",
    "current_version",
    "load_current",
    "read_manifest",
    "shared_dir",
    "tenant_dir",
    "tenant_pages",
    "write_version",
]
