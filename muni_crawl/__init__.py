"""muni_crawl: a grounded 'AI crawl' fallback for Danish municipal chatbots.

The public API: open a home (Home: its settings, sources and stores), run the daily cycle
(refresh: crawl, mark stale answers, re-index), or its steps (run_crawl, build_indexes),
retrieve passages (retrieve, or a reusable Library), answer (answer, or a reusable Answerer;
aanswer, Answerer.aanswer and Library.aretrieve for an event loop),
read what was stored (Store), and the settings, registry and error types around them.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from muni_crawl.answer import Answerer, aanswer, answer
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
    SourceSpecError,
    StoreError,
    UnknownSourceError,
    UnknownTenantError,
)
from muni_crawl.home import Home
from muni_crawl.index import BuildResult, build_indexes
from muni_crawl.refresh import RefreshResult, refresh
from muni_crawl.retrieve import Library, Retrieval, retrieve
from muni_crawl.sources import Registry, SourceSpec, Tenant, check_registry, load_registry
from muni_crawl.store import Store
from muni_crawl.types import (
    Answer,
    Citation,
    CrawlSummary,
    Document,
    Page,
    Passage,
    TokenUsage,
    Usage,
)

__all__ = [
    "Answer",
    "Answerer",
    "BuildResult",
    "Citation",
    "ConfigError",
    "CrawlError",
    "CrawlSummary",
    "Document",
    "Home",
    "IndexBuildRunningError",
    "IndexNotBuiltError",
    "InvalidQuestionError",
    "LLMError",
    "Library",
    "MuniCrawlError",
    "Page",
    "Passage",
    "RefreshResult",
    "Registry",
    "Retrieval",
    "Settings",
    "SourceSpec",
    "SourceSpecError",
    "Store",
    "StoreError",
    "Tenant",
    "TokenUsage",
    "UnknownSourceError",
    "UnknownTenantError",
    "Usage",
    "aanswer",
    "answer",
    "build_indexes",
    "check_registry",
    "load_registry",
    "refresh",
    "retrieve",
    "run_crawl",
]

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

# names renamed in 0.2 ("source" is the one word for a spiders/ file), kept for one release
_RENAMED = {"SiteSpec": "SourceSpec", "SiteSpecError": "SourceSpecError"}


def __getattr__(name: str) -> Any:
    """Old names still resolve, with a DeprecationWarning naming the new one."""
    new_name = _RENAMED.get(name)
    if new_name is None:
        raise AttributeError(f"module 'muni_crawl' has no attribute {name!r}")
    warnings.warn(
        f"muni_crawl.{name} is now muni_crawl.{new_name}", DeprecationWarning, stacklevel=2
    )
    return globals()[new_name]
