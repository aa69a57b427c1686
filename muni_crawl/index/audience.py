"""Which pages a tenant sees: its sources' pages, national bodies, and only its own local text.

No tenant is ever served another municipality's local sections; review_scope applies the same
rule to what an approved answer cites.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from muni_crawl.sources import Registry
from muni_crawl.store import PageStore
from muni_crawl.store.pages import PageHead
from muni_crawl.types import Page


class _Viewed(Protocol):
    """What the choice of a tenant's view reads of a page (a Page or a PageHead)."""

    @property
    def source(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def municipality_code(self) -> int | None: ...
    @property
    def fingerprint(self) -> str: ...


P = TypeVar("P", bound=_Viewed)
NATIONAL = "national"  # the scope of text every tenant of a source sees alike


def tenant_pages(store: PageStore, registry: Registry, tenant: str) -> list[Page]:
    """The tenant's view: its sources' pages, national bodies, and only its own local sections.

    A text served at several URLs without a canonical link (``/`` and ``/index.html``) is
    indexed once, under its shortest URL, so it is neither returned twice nor billed twice.
    """
    return tenant_view(store.pages(), registry, tenant)


def tenant_page_heads(store: PageStore, registry: Registry, tenant: str) -> list[PageHead]:
    """The same view as tenant_pages, without reading any page's text."""
    return tenant_view(store.page_heads(), registry, tenant)


def tenant_view(pages: Sequence[P], registry: Registry, tenant: str) -> list[P]:
    """The tenant's view of these live pages, in their order (see tenant_pages)."""
    code = registry.tenant(tenant).code
    sources = {s.name for s in registry.sources_for(tenant)}
    view = [
        page
        for page in pages
        if page.source in sources and (page.scope != "local" or page.municipality_code == code)
    ]
    return one_per_text(view)


def shared_view(pages: Sequence[P], source: str) -> list[P]:
    """The national pages of a source, which every tenant it feeds sees alike: what its
    shared index holds (see view.py)."""
    return one_per_text([p for p in pages if p.source == source and p.scope == NATIONAL])


def one_per_text(view: list[P]) -> list[P]:
    """The pages in their order, a text served at several URLs kept once (shortest URL)."""
    chosen: dict[str, P] = {}
    for page in sorted(view, key=lambda p: (len(p.url), p.url)):
        chosen.setdefault(page.fingerprint, page)
    kept = {id(page) for page in chosen.values()}
    return [page for page in view if id(page) in kept]
