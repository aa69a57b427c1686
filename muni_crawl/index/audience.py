"""Which pages a tenant sees: its sources' pages, national bodies, and only its own local text.

No tenant is ever served another municipality's local sections; review_scope applies the same
rule to what an approved answer cites.
"""

from __future__ import annotations

from muni_crawl.sources import Registry
from muni_crawl.store import PageStore
from muni_crawl.types import Page


def tenant_pages(store: PageStore, registry: Registry, tenant: str) -> list[Page]:
    """The tenant's view: its sources' pages, national bodies, and only its own local sections.

    A text served at several URLs without a canonical link (``/`` and ``/index.html``) is
    indexed once, under its shortest URL, so it is neither returned twice nor billed twice.
    """
    code = registry.tenant(tenant).code
    sources = {s.name for s in registry.sources_for(tenant)}
    view = [
        page
        for page in store.pages()
        if page.source in sources and (page.scope != "local" or page.municipality_code == code)
    ]
    chosen: dict[str, Page] = {}
    for page in sorted(view, key=lambda p: (len(p.url), p.url)):
        chosen.setdefault(page.fingerprint, page)
    kept = {id(page) for page in chosen.values()}
    return [page for page in view if id(page) in kept]
