"""muni_crawl: a grounded 'AI crawl' fallback for Danish municipal chatbots.

The public API: crawl sources into the store (run_crawl), read what was stored (Store),
and the settings, registry and error types around them.
"""

from __future__ import annotations

import logging

from muni_crawl.config import Settings
from muni_crawl.crawl import run_crawl
from muni_crawl.errors import (
    ConfigError,
    CrawlError,
    MuniCrawlError,
    SiteSpecError,
    StoreError,
    UnknownSourceError,
    UnknownTenantError,
)
from muni_crawl.sites import Registry, SiteSpec, Tenant, check_registry, load_registry
from muni_crawl.store import Store
from muni_crawl.types import CrawlSummary, Document, Page

__all__ = [
    "ConfigError",
    "CrawlError",
    "CrawlSummary",
    "Document",
    "MuniCrawlError",
    "Page",
    "Registry",
    "Settings",
    "SiteSpec",
    "SiteSpecError",
    "Store",
    "StoreError",
    "Tenant",
    "UnknownSourceError",
    "UnknownTenantError",
    "check_registry",
    "load_registry",
    "run_crawl",
]

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
