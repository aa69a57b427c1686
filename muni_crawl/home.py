"""A muni_crawl home, opened once: its settings, its sources and tenants, its stores and paths.

Everything a command or a chatbot process needs comes from one `Home`, instead of each call
site loading the settings, the registry and the database again. Stages receive only the
pieces they use (`home.settings.crawl`, `home.settings.llm`, `home.paths`, ...).
"""

from __future__ import annotations

import threading
import weakref
from functools import cached_property
from pathlib import Path
from typing import Any, Self, TypeVar, Union

from muni_crawl.config import HomePaths, Settings
from muni_crawl.sources import Registry, load_registry
from muni_crawl.store import DEFAULT_BUSY_TIMEOUT, AnswerStore, Database, PageStore, Store

_S = TypeVar("_S", bound=Database)
# what the library's entry points accept as a home (see Home.of)
HomeLike = Union["Home", Settings, Path, str, None]


class Home:
    """An opened home. `close()` (or leaving a `with` block) closes the stores it opened."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._opened: weakref.WeakSet[Database] = weakref.WeakSet()  # a dropped one closes itself
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | str | None = None, **overrides: Any) -> Home:
        """The home at `path` (default: $MUNI_CRAWL_HOME, else the current directory), with
        its settings file, the environment and `overrides` applied (see Settings.load)."""
        return cls(Settings.load(path, **overrides))

    @classmethod
    def of(cls, home: HomeLike) -> Home:
        """The library's entry points take a home as a Home, its Settings, or its path (None:
        $MUNI_CRAWL_HOME, else the current directory)."""
        if isinstance(home, Home):
            return home
        if isinstance(home, Settings):
            return cls(home)
        return cls.open(home)

    @property
    def path(self) -> Path:
        return self.settings.home

    @property
    def paths(self) -> HomePaths:
        return self.settings.paths

    @cached_property
    def registry(self) -> Registry:
        """The sources and tenants of spiders/, loaded on first use (a bad file raises then)."""
        return load_registry(self.paths.spiders_dir)

    def reload_registry(self) -> Registry:
        """Read spiders/ again (after a file changed)."""
        self.__dict__.pop("registry", None)
        return self.registry

    def store(self, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Store:
        """The pages and answers stores on one new connection, for this thread."""
        return self._track(Store(self.paths.database, busy_timeout=busy_timeout))

    def page_store(self) -> PageStore:
        """The pages store on a new connection, for this thread."""
        return self._track(PageStore(self.paths.database))

    def answer_store(self, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> AnswerStore:
        """The answers store on a new connection, for this thread."""
        return self._track(AnswerStore(self.paths.database, busy_timeout=busy_timeout))

    def _track(self, store: _S) -> _S:
        with self._lock:
            self._opened.add(store)
        return store

    def close(self) -> None:
        """Close every store this home opened (closing one twice is harmless)."""
        with self._lock:
            opened = list(self._opened)
            self._opened.clear()
        for store in opened:
            store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Home({str(self.path)!r})"
