"""muni_crawl: a grounded 'AI crawl' fallback for Danish municipal chatbots.

The public API: crawl sources into the store (run_crawl), build per-tenant indexes
(build_indexes), retrieve passages (retrieve, or a reusable Library), read what was stored
(Store), and the settings, registry and error types around them.
"""

from __future__ import annotations

import logging

from muni_crawl.answer import Answerer, answer
from muni_crawl.config import Settings
from muni_crawl.crawl import run_crawl
from muni_crawl.errors import (
    ConfigError,
    CrawlError,
    IndexBuildRunningError,
    IndexNotBuiltError,
    InvalidQuestionError,
    LLMError,
    MuniCrawlError,
    SiteSpecError,
    StoreError,
    UnknownSourceError,
    UnknownTenantError,
)
from muni_crawl.index import BuildResult, build_indexes
from muni_crawl.retrieve import Library, Retrieval, retrieve
from muni_crawl.sites import Registry, SiteSpec, Tenant, check_registry, load_registry
from muni_crawl.store import Store
from muni_crawl.types import Answer, Citation, CrawlSummary, Document, Page, Passage, Usage

__all__ = [
    "Answer",
    "Answerer",
    "BuildResult",
    "Citation",
    "ConfigError",
    "CrawlError",
    "CrawlSummary",
    "Document",
    "IndexBuildRunningError",
    "IndexNotBuiltError",
    "InvalidQuestionError",
    "LLMError",
    "Library",
    "MuniCrawlError",
    "Page",
    "Passage",
    "Registry",
    "Retrieval",
    "Settings",
    "SiteSpec",
    "SiteSpecError",
    "Store",
    "StoreError",
    "Tenant",
    "UnknownSourceError",
    "UnknownTenantError",
    "Usage",
    "answer",
    "build_indexes",
    "check_registry",
    "load_registry",
    "retrieve",
    "run_crawl",
]

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
