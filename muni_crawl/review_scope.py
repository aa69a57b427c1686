"""Which tenants an approved answer may be served to: the pages it cites and links must reach them.

A page reaches the tenants whose index holds it (see index.tenant_pages): a "site" page the
tenants of its source, a "local" section only its municipality, and a "national" body every
tenant, because its text is the same for all. A tenant's contact page (the citation n=0 of a
no_answer) reaches only that tenant; a page that no longer exists reaches nobody. The text is
checked too: a link, or a source's domain written out, must reach every tenant served.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass

from muni_crawl.shown_text import as_shown
from muni_crawl.sources import Registry, SourceSpec
from muni_crawl.store import PageStore, StoredAnswer, StoredPage

GONE = "no longer exists"  # a cited page deleted since: no approval, whatever the scope


@dataclass(frozen=True)
class ScopeProblem:
    """A cited or linked page that does not reach every tenant an approval would serve."""

    url: str
    problem: str
    forceable: bool = True

    def __str__(self) -> str:
        return f"{self.url} {self.problem}"


# links a reviewer or a model may write: http(s) URLs and bare www. addresses
_LINK = re.compile(r"(?:https?://|www\.)[^\s<>\"'()\[\]{}]+", re.IGNORECASE)
_USERINFO = re.compile(r"//[^/?#@]*@")  # "http://kommune@naboby.dk/" goes to naboby.dk


def scope_problems(
    store: PageStore,
    registry: Registry,
    row: StoredAnswer,
    text: str,
    targets: Collection[str],
) -> list[ScopeProblem]:
    """What in an answer (its citations, the links in `text`) does not reach every target tenant.

    `row` is the stored answer (its `citations` JSON is what is served).
    """
    problems: list[ScopeProblem] = []
    for citation in json.loads(row.citations):
        url, page_id = str(citation.get("url", "")), citation.get("page_id") or 0
        if not isinstance(page_id, int):  # not written by this release: a page we cannot find
            problems.append(ScopeProblem(url, GONE, forceable=False))
            continue
        if not page_id:
            owners = {t.slug for t in registry.tenants.values() if t.contact_url == url}
            if not owners:  # neither a stored page nor any tenant's contact page
                problems.append(ScopeProblem(url, GONE, forceable=False))
                continue
            missing = [t for t in targets if t not in owners]
            if missing:
                problems.append(
                    ScopeProblem(
                        url,
                        f"is the contact page of {_names(owners)}, not of"
                        f" {_names(missing)}; a contact page is never shared",
                        forceable=False,
                    )
                )
            continue
        page = store.page(page_id)
        if page is None or page.status != "live":
            problems.append(ScopeProblem(url, GONE, forceable=False))
            continue
        problem = _unreached(page, registry, targets)
        if problem:
            problems.append(ScopeProblem(page.url, problem))
    return problems + _text_problems(store, registry, text, targets)


def _text_problems(
    store: PageStore, registry: Registry, text: str, targets: Collection[str]
) -> list[ScopeProblem]:
    """Links and sources' domains written in the text that do not reach every target tenant.

    The text is read as a browser would show it: NFKC (full-width digits) and without
    invisible characters, which would otherwise hide a link from the check.
    """
    shown = as_shown(text)
    problems: list[ScopeProblem] = []
    for link in dict.fromkeys(_links(shown)):
        problem = _link_unreached(store, registry, link, targets)
        if problem:
            problems.append(ScopeProblem(link, "(in the text) " + problem))
    for domain, specs in _mentioned_sites(registry, _LINK.sub(" ", shown)).items():
        reach = {t.slug for spec in specs if spec.enabled for t in registry.tenants_of(spec)}
        missing = [t for t in targets if t not in reach]
        if missing:
            sites = ", ".join(repr(s.name) for s in specs)
            problem = f"(in the text) is the site of {sites}; not served to {_names(missing)}"
            problems.append(ScopeProblem(domain, problem))
    return problems


def _reach(page: StoredPage, registry: Registry) -> tuple[set[str], str]:
    """The tenants a stored page is served to, and what kind of page it is (for messages)."""
    spec: SourceSpec | None = registry.sources.get(page.source)
    if spec is None or not spec.enabled:
        state = "no longer declared" if spec is None else "disabled"
        return set(), f"is a page of source {page.source!r}, which is {state}"
    if page.scope == "national":
        return set(registry.tenants), "is a national page"
    fed = {t.slug for t in registry.tenants_of(spec)}
    if page.scope == "local":
        local = {s for s in fed if registry.tenants[s].code == page.municipality_code}
        code = page.municipality_code
        return local, f"is the local section of municipality {code} ({_names(local) or 'none'})"
    return fed, f"is a page of source {page.source!r}, which feeds only {_names(fed)}"


def _unreached(page: StoredPage, registry: Registry, targets: Collection[str]) -> str | None:
    reach, kind = _reach(page, registry)
    missing = [t for t in targets if t not in reach]
    return f"{kind}; not served to {_names(missing)}" if missing else None


def _link_unreached(
    store: PageStore, registry: Registry, link: str, targets: Collection[str]
) -> str | None:
    """Same rule for a link in the text: a stored page, a contact page, or a source's site.

    A link to a site that no source crawls (a national authority, say) is not checked.
    """
    url = _USERINFO.sub("//", link if "://" in link else "https://" + link, count=1)
    pages = store.live_pages_at([url, url.split("#")[0]])
    pages = [p for p in pages if p.url == url] or pages  # the exact section first
    contacts = {t.slug for t in registry.tenants.values() if t.contact_url == url}
    if pages or contacts:
        reaches = [_reach(p, registry) for p in pages]
        reach = contacts.union(*(r for r, _ in reaches))
        kind = reaches[0][1] if reaches else f"is the contact page of {_names(contacts)}"
    else:
        specs = _sites_of(registry, url)
        if not specs:
            return None
        reach = {t.slug for spec in specs if spec.enabled for t in registry.tenants_of(spec)}
        kind = f"is on the site of {', '.join(repr(s.name) for s in specs)}"
    missing = [t for t in targets if t not in reach]
    return f"{kind}; not served to {_names(missing)}" if missing else None


def _sites_of(registry: Registry, url: str) -> list[SourceSpec]:
    """The sources whose allowed domains (host and port) hold this URL."""
    return [s for s in registry.sources.values() if s.offsite_policy.allows(url)]


def _mentioned_sites(registry: Registry, text: str) -> dict[str, list[SourceSpec]]:
    """Sources' domains written without a scheme ("naboby.dk/affald"), by domain."""
    found: dict[str, list[SourceSpec]] = {}
    for spec in registry.sources.values():
        for domain in spec.allowed_domains:
            if re.search(rf"(?<![\w-]){re.escape(domain)}(?![\w-]|:\d)", text, re.IGNORECASE):
                found.setdefault(domain.lower(), []).append(spec)
    return found


def _links(text: str) -> list[str]:
    return [m.group().rstrip(".,;:!?*_") for m in _LINK.finditer(text)]


def _names(slugs: Collection[str], most: int = 6) -> str:
    ordered = sorted(slugs)
    shown = ", ".join(ordered[:most])
    return shown + (f" and {len(ordered) - most} more" if len(ordered) > most else "")
