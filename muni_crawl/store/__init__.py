"""Every SQL statement of muni_crawl lives in this package; the rest sees typed records.

One SQLite file per home holds two stores: the pages store (crawl runs, fetched resources,
pages and their versions: what the crawler writes) and the answers store (answers, their
citations and review trail, usage: what the Answerer writes). `Store` opens both on one
connection for the tools that join them (review, status); the embedding cache is a second file.
"""

from __future__ import annotations

from muni_crawl.store.answers import AnswerStore
from muni_crawl.store.database import DEFAULT_BUSY_TIMEOUT, Database, utcnow
from muni_crawl.store.embeddings import VectorCache
from muni_crawl.store.pages import PageStore, ResourceState
from muni_crawl.store.records import (
    CitedPage,
    CrawlRun,
    ExtractedResource,
    PageVersion,
    ReviewAction,
    StoredAnswer,
    StoredPage,
    VersionCounts,
)


class Store(PageStore, AnswerStore):
    """Both stores of one home's database on one connection."""


__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "AnswerStore",
    "CitedPage",
    "CrawlRun",
    "Database",
    "ExtractedResource",
    "PageStore",
    "PageVersion",
    "ResourceState",
    "ReviewAction",
    "Store",
    "StoredAnswer",
    "StoredPage",
    "VectorCache",
    "VersionCounts",
    "utcnow",
]
