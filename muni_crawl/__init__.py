"""muni_crawl: a grounded 'AI crawl' fallback for Danish municipal chatbots.

The public API: open a home (Home: its settings, sources and stores), run the daily cycle
(refresh: crawl, mark stale answers, re-index), or its steps (run_crawl, build_indexes),
retrieve passages (retrieve, or a reusable Library), answer (answer, or a reusable Answerer;
aanswer, Answerer.aanswer and Library.aretrieve for an event loop),
read what was stored (Store), and the settings, registry and error types around them.

The names are imported when first used (PEP 562), not with the package: a crawl worker, which
runs `python -m muni_crawl.crawl.worker` once per source, then loads Scrapy and trafilatura
but not answering, BM25 or SciPy (about 0.5 CPU s and 40 MiB less for every crawl).
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and readers see; at run time see _PUBLIC below
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

# each public name -> the module that defines it (imported on first use)
_PUBLIC = {
    **dict.fromkeys(["Answerer", "aanswer", "answer"], "muni_crawl.answer"),
    "Settings": "muni_crawl.config",
    "run_crawl": "muni_crawl.crawl",
    **dict.fromkeys(
        [
            "ConfigError",
            "CrawlError",
            "IndexBuildRunningError",
            "IndexNotBuiltError",
            "InvalidQuestionError",
            "LLMError",
            "MuniCrawlError",
            "SourceSpecError",
            "StoreError",
            "UnknownSourceError",
            "UnknownTenantError",
        ],
        "muni_crawl.errors",
    ),
    "Home": "muni_crawl.home",
    **dict.fromkeys(["BuildResult", "build_indexes"], "muni_crawl.index"),
    **dict.fromkeys(["RefreshResult", "refresh"], "muni_crawl.refresh"),
    **dict.fromkeys(["Library", "Retrieval", "retrieve"], "muni_crawl.retrieve"),
    **dict.fromkeys(
        ["Registry", "SourceSpec", "Tenant", "check_registry", "load_registry"],
        "muni_crawl.sources",
    ),
    "Store": "muni_crawl.store",
    **dict.fromkeys(
        [
            "Answer",
            "Citation",
            "CrawlSummary",
            "Document",
            "Page",
            "Passage",
            "TokenUsage",
            "Usage",
        ],
        "muni_crawl.types",
    ),
}
# submodules named like the function they export: the package attribute is the function
_SHADOWED = frozenset(name for name, module in _PUBLIC.items() if module == f"{__name__}.{name}")

# names renamed in 0.2 ("source" is the one word for a spiders/ file), kept for one release
_RENAMED = {"SiteSpec": "SourceSpec", "SiteSpecError": "SourceSpecError"}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use; old names still resolve, with a
    DeprecationWarning naming the new one."""
    module = _PUBLIC.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    new_name = _RENAMED.get(name)
    if new_name is None:
        raise AttributeError(f"module 'muni_crawl' has no attribute {name!r}")
    warnings.warn(
        f"muni_crawl.{name} is now muni_crawl.{new_name}", DeprecationWarning, stacklevel=2
    )
    return __getattr__(new_name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps `muni_crawl.answer`, `.refresh` and `.retrieve` the functions: importing one of
    those submodules makes the import system set the package's attribute to the module, as the
    eager `from muni_crawl.answer import answer` used to overwrite at once."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
