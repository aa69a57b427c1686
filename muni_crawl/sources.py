"""spiders/*.toml -> validated SourceSpec objects and the Tenant registry.

A source file is data, not code: adding a municipality means adding a file. Every problem is
reported as a SourceSpecError naming the file and the field, so `muni-crawl sources check` can list
them all at once.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from muni_crawl.config import out_of_range, setting_metadata
from muni_crawl.errors import SourceSpecError, UnknownSourceError, UnknownTenantError
from muni_crawl.offsite import OffsitePolicy

TENANTS_FILE = "tenants.toml"
# municipal: a website crawled page by page; borger_dk: the ArticleExport service (`api`);
# knowledge_base: a feed of structured records (`feed`): selvbetjening.nu, ProKom, a spreadsheet
KINDS = ("municipal", "borger_dk", "knowledge_base")
RETIRED_KINDS = {
    "selvbetjening": 'selvbetjening.nu is read as a feed now: kind = "knowledge_base" with'
    ' feed = "<export URL or file>"',
}
FEED_FORMATS = ("json", "jsonl", "csv")
FEED_FIELDS = ("municipality_code", "title", "text", "url", "updated", "id")
ALL_TENANTS = "*"
DEFAULT_SCHEDULE = "0 3 * * *"

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_HOST = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
)

REQUIRED_KEYS = ("kind", "tenants")
# what each kind needs besides those (see _kind_keys)
CRAWL_KEYS = ("start_urls", "allowed_domains")
OPTIONAL_KEYS = (
    "start_urls",
    "allowed_domains",
    "api",
    "articles",
    "feed",
    "format",
    "auth_env",
    "fields",
    "sitemaps",
    "include",
    "exclude",
    "max_pages",
    "max_depth",
    "download_delay",
    "schedule",
    "enabled",
    "description",
)


@dataclass(frozen=True)
class Tenant:
    """A municipality: slug, official name, municipality code and the contact page for citizens."""

    slug: str
    name: str
    code: int
    contact_url: str


@dataclass(frozen=True)
class SourceSpec:
    """One crawled source, as described by spiders/<name>.toml."""

    name: str
    path: Path
    kind: str
    tenants: tuple[str, ...]
    start_urls: tuple[str, ...]
    allowed_domains: tuple[str, ...]
    sitemaps: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_pages: int | None = None
    max_depth: int | None = None
    download_delay: float | None = None
    schedule: str = DEFAULT_SCHEDULE
    enabled: bool = True
    description: str = ""
    api: str | None = None  # borger_dk: the ArticleExport service's URL
    articles: tuple[str, ...] = ()  # borger_dk: article URLs, IDs or URL patterns to keep
    feed: str | None = None  # knowledge_base: a URL, or a path relative to the home
    feed_format: str | None = None  # knowledge_base: json, jsonl or csv (default: detected)
    auth_env: str | None = None  # knowledge_base: the variable holding a bearer token
    fields: Mapping[str, str] | None = None  # knowledge_base: record field -> the feed's column
    _include_re: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)
    _exclude_re: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)

    @property
    def reads_service(self) -> bool:
        """True when the source is read through a service or feed rather than crawled."""
        return self.api is not None or self.feed is not None

    def wants_article(self, article_id: int, url: str) -> bool:
        """borger_dk: is this article in the `articles` list (all when the list is empty)?"""
        if not self.articles:
            return True
        for entry in self.articles:
            if entry.isdigit():
                if int(entry) == article_id:
                    return True
            elif entry.startswith(("http://", "https://")):
                if entry.rstrip("/") == url.rstrip("/"):
                    return True
            elif re.search(entry, url):
                return True
        return False

    @property
    def is_national(self) -> bool:
        """True for sources that feed every tenant listed (borger.dk, selvbetjening.nu)."""
        return self.kind != "municipal"

    def feeds(self, tenant: str) -> bool:
        """Does this source feed the given tenant's index?"""
        return ALL_TENANTS in self.tenants or tenant in self.tenants

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        """allowed_domains without ports (what Scrapy's offsite filter understands)."""
        return tuple(sorted({_split_port(d)[0] for d in self.allowed_domains}))

    @cached_property
    def offsite_policy(self) -> OffsitePolicy:
        """Host, port and address rules of allowed_domains; the crawler enforces the same ones.

        Subdomains are included; an entry with a port (``127.0.0.1:8761``) admits only that
        port, one without a port only the scheme's default port. See muni_crawl.offsite.
        """
        return OffsitePolicy(self.allowed_domains)

    def url_allowed(self, url: str) -> bool:
        """Inside allowed_domains (offsite_policy), matches an include (if any), no exclude."""
        if not self.offsite_policy.allows(url):
            return False
        if self._include_re and not any(p.search(url) for p in self._include_re):
            return False
        return not any(p.search(url) for p in self._exclude_re)


@dataclass(frozen=True)
class Registry:
    """All tenants and sources of one home."""

    tenants: Mapping[str, Tenant]
    sources: Mapping[str, SourceSpec]

    def tenant(self, slug: str) -> Tenant:
        try:
            return self.tenants[slug]
        except (KeyError, TypeError):  # TypeError: a caller passed a list or another non-slug
            raise UnknownTenantError(str(slug), sorted(self.tenants)) from None

    def source(self, name: str) -> SourceSpec:
        try:
            return self.sources[name]
        except KeyError:
            raise UnknownSourceError(name, sorted(self.sources)) from None

    def sources_for(self, tenant: str) -> list[SourceSpec]:
        """Every enabled source that feeds this tenant."""
        self.tenant(tenant)
        return [s for s in self.sources.values() if s.enabled and s.feeds(tenant)]

    def tenants_of(self, source: SourceSpec) -> list[Tenant]:
        """Every tenant a source feeds."""
        if ALL_TENANTS in source.tenants:
            return list(self.tenants.values())
        return [self.tenants[t] for t in source.tenants if t in self.tenants]

    def tenant_by_code(self, code: int) -> Tenant | None:
        for tenant in self.tenants.values():
            if tenant.code == code:
                return tenant
        return None


def load_registry(spiders_dir: Path) -> Registry:
    """Load and validate spiders/; raise the first SourceSpecError found."""
    registry, errors = check_registry(spiders_dir)
    if errors:
        raise errors[0]
    return registry


def check_registry(spiders_dir: Path) -> tuple[Registry, list[SourceSpecError]]:
    """Load everything that is valid and collect every problem (for `sources check`)."""
    errors: list[SourceSpecError] = []
    if not spiders_dir.is_dir():
        err = SourceSpecError(spiders_dir, None, "folder not found (is MUNI_CRAWL_HOME right?)")
        return Registry({}, {}), [err]
    tenants = _load_tenants(spiders_dir / TENANTS_FILE, errors)
    sources: dict[str, SourceSpec] = {}
    for path in sorted(spiders_dir.glob("*.toml")):
        if path.name == TENANTS_FILE:
            continue
        spec = _load_source(path, tenants, errors)
        if spec is not None:
            sources[spec.name] = spec
    return Registry(tenants, sources), errors


def _read_toml(path: Path, errors: list[SourceSpecError]) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(SourceSpecError(path, None, f"cannot read: {exc}"))
    except ValueError as exc:  # TOMLDecodeError, or an integer with thousands of digits
        errors.append(SourceSpecError(path, None, f"invalid TOML: {exc}"))
    return None


def _load_tenants(path: Path, errors: list[SourceSpecError]) -> dict[str, Tenant]:
    if not path.is_file():
        errors.append(SourceSpecError(path, None, "missing: declare tenants here"))
        return {}
    data = _read_toml(path, errors)
    if data is None:
        return {}
    tenants: dict[str, Tenant] = {}
    codes: dict[int, str] = {}
    for slug, table in data.items():
        before = len(errors)
        if not _SLUG.match(slug):
            errors.append(
                SourceSpecError(path, slug, "tenant slug must be lowercase a-z, 0-9, - or _")
            )
        if not isinstance(table, dict):
            errors.append(
                SourceSpecError(path, slug, "must be a table ([slug] with name, code, ...)")
            )
            continue
        unknown = set(table) - {"name", "code", "contact_url"}
        for key in sorted(unknown):
            errors.append(SourceSpecError(path, f"{slug}.{key}", "unknown key"))
        name = _expect(path, f"{slug}.name", table.get("name"), str, errors)
        code = _expect(path, f"{slug}.code", table.get("code"), int, errors)
        contact = _expect(path, f"{slug}.contact_url", table.get("contact_url"), str, errors)
        if isinstance(contact, str):
            _check_url(path, f"{slug}.contact_url", contact, errors)
        if isinstance(code, int) and not 100 <= code <= 999:
            errors.append(
                SourceSpecError(path, f"{slug}.code", "municipality code must be 100-999")
            )
        elif isinstance(code, int) and code in codes:
            errors.append(
                SourceSpecError(path, f"{slug}.code", f"code {code} already used by {codes[code]}")
            )
        if len(errors) == before and name and contact and isinstance(code, int):
            tenants[slug] = Tenant(slug=slug, name=name, code=code, contact_url=contact)
            codes[code] = slug
    return tenants


def _load_source(
    path: Path, tenants: Mapping[str, Tenant], errors: list[SourceSpecError]
) -> SourceSpec | None:
    data = _read_toml(path, errors)
    if data is None:
        return None
    before = len(errors)
    name = path.stem
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
        errors.append(SourceSpecError(path, None, "file name must be letters, digits, . _ or -"))
    for key in sorted(set(data) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS)):
        errors.append(SourceSpecError(path, key, "unknown key"))
    for key in REQUIRED_KEYS:
        if key not in data:
            errors.append(SourceSpecError(path, key, "missing required key"))
    kind = _expect(path, "kind", data.get("kind"), str, errors, required=False)
    if isinstance(kind, str) and kind in RETIRED_KINDS:
        errors.append(SourceSpecError(path, "kind", f"{kind!r} is retired: {RETIRED_KINDS[kind]}"))
    elif isinstance(kind, str) and kind not in KINDS:
        errors.append(SourceSpecError(path, "kind", f"must be one of {', '.join(KINDS)}"))
    service = _service_keys(path, kind if isinstance(kind, str) else "", data, errors)
    tenant_list = _str_list(path, "tenants", data.get("tenants"), errors)
    if "tenants" in data and not tenant_list and isinstance(data.get("tenants"), list):
        errors.append(SourceSpecError(path, "tenants", "must name at least one tenant, or '*'"))
    for slug in tenant_list:
        if slug != ALL_TENANTS and slug not in tenants:
            errors.append(
                SourceSpecError(
                    path, "tenants", f"tenant {slug!r} is not declared in {TENANTS_FILE}"
                )
            )
    domains = [
        d.lower() for d in _str_list(path, "allowed_domains", data.get("allowed_domains"), errors)
    ] or list(service.get("domains", []))
    for domain in domains:
        if not _HOST.match(_split_port(domain)[0]):
            errors.append(
                SourceSpecError(
                    path, "allowed_domains", f"{domain!r} is not a host name (no scheme or path)"
                )
            )
    allowed = tuple(sorted(set(domains)))
    start_urls = _str_list(path, "start_urls", data.get("start_urls"), errors)
    if "start_urls" in data and not start_urls and isinstance(data.get("start_urls"), list):
        errors.append(SourceSpecError(path, "start_urls", "must list at least one URL"))
    sitemaps = _str_list(path, "sitemaps", data.get("sitemaps", []), errors)
    for key, urls in (("start_urls", start_urls), ("sitemaps", sitemaps)):
        for url in urls:
            host = _check_url(path, key, url, errors)
            probe = SourceSpec("", path, "municipal", (), (), allowed)
            refusal = probe.offsite_policy.refusal(url) if host and allowed else None
            if refusal is not None:
                errors.append(SourceSpecError(path, key, f"{url} is refused: {refusal}"))
    include = _patterns(path, "include", data.get("include", []), errors)
    exclude = _patterns(path, "exclude", data.get("exclude", []), errors)
    max_pages = _number(path, "max_pages", data.get("max_pages"), int, errors)
    max_depth = _number(path, "max_depth", data.get("max_depth"), int, errors)
    delay = _number(path, "download_delay", data.get("download_delay"), float, errors)
    schedule = _expect(path, "schedule", data.get("schedule", DEFAULT_SCHEDULE), str, errors)
    if isinstance(schedule, str) and not _valid_cron(schedule):
        errors.append(
            SourceSpecError(path, "schedule", f"{schedule!r} is not a 5-field cron expression")
        )
    enabled = _expect(path, "enabled", data.get("enabled", True), bool, errors)
    description = _expect(path, "description", data.get("description", ""), str, errors)
    if len(errors) != before:
        return None
    return SourceSpec(
        name=name,
        path=path,
        kind=str(kind),
        tenants=tuple(tenant_list),
        start_urls=tuple(start_urls),
        allowed_domains=allowed,
        sitemaps=tuple(sitemaps),
        include=tuple(p.pattern for p in include),
        exclude=tuple(p.pattern for p in exclude),
        max_pages=max_pages,
        max_depth=max_depth,
        download_delay=delay,
        schedule=str(schedule),
        enabled=bool(enabled),
        description=str(description or ""),
        api=service.get("api"),
        articles=tuple(service.get("articles", ())),
        feed=service.get("feed"),
        feed_format=service.get("format"),
        auth_env=service.get("auth_env"),
        fields=service.get("fields"),
        _include_re=tuple(include),
        _exclude_re=tuple(exclude),
    )


def _service_keys(
    path: Path, kind: str, data: Mapping[str, Any], errors: list[SourceSpecError]
) -> dict[str, Any]:
    """The keys of a service-read kind (borger_dk's `api`, knowledge_base's `feed`), checked;
    `domains` is the host the service lives on (the allowed domain unless others are given)."""
    found: dict[str, Any] = {}
    own = {
        "borger_dk": ("api", "articles"),
        "knowledge_base": ("feed", "format", "auth_env", "fields"),
    }
    for key in ("api", "articles", "feed", "format", "auth_env", "fields"):
        if key in data and key not in own.get(kind, ()):
            errors.append(SourceSpecError(path, key, f"is not a key of kind {kind!r} sources"))
    if kind == "municipal" or kind not in own:
        for key in CRAWL_KEYS:
            if key not in data and kind in KINDS:
                errors.append(SourceSpecError(path, key, "missing required key"))
        return found
    address_key = "api" if kind == "borger_dk" else "feed"
    address = _expect(path, address_key, data.get(address_key), str, errors)
    if address is None:
        if address_key not in data:
            what = "the ArticleExport service's URL" if kind == "borger_dk" else "a URL or a file"
            errors.append(SourceSpecError(path, address_key, f"missing: {what}"))
        return found
    address = address.strip()
    if "://" in address or kind == "borger_dk":
        host = _check_url(path, address_key, address, errors)
        if host is not None:
            port = urlsplit(address).port
            found["domains"] = [f"{host}:{port}" if port else host]
    elif Path(address).is_absolute() or ".." in Path(address).parts:
        errors.append(
            SourceSpecError(
                path, address_key, f"{address!r}: a file feed is a path inside the home"
            )
        )
    found[address_key] = address
    if kind == "borger_dk":
        articles = _str_list(path, "articles", data.get("articles", []), errors)
        for entry in articles:
            if not entry.isdigit() and not entry.startswith(("http://", "https://")):
                _patterns(path, "articles", [entry], errors)
        found["articles"] = articles
        return found
    fmt = _expect(path, "format", data.get("format"), str, errors)
    if isinstance(fmt, str) and fmt not in FEED_FORMATS:
        errors.append(SourceSpecError(path, "format", f"must be one of {', '.join(FEED_FORMATS)}"))
    found["format"] = fmt if fmt in FEED_FORMATS else None
    auth = _expect(path, "auth_env", data.get("auth_env"), str, errors)
    if isinstance(auth, str) and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", auth):
        errors.append(SourceSpecError(path, "auth_env", f"{auth!r} is not a variable name"))
    found["auth_env"] = auth
    fields = data.get("fields")
    if fields is not None:
        if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
            errors.append(SourceSpecError(path, "fields", 'a table of field = "column" names'))
        else:
            for key in sorted(set(fields) - set(FEED_FIELDS)):
                errors.append(
                    SourceSpecError(
                        path, f"fields.{key}", f"unknown field; fields are {', '.join(FEED_FIELDS)}"
                    )
                )
            found["fields"] = {k: v.strip() for k, v in fields.items()}
    return found


def _split_port(entry: str) -> tuple[str, int | None]:
    match = re.match(r"^(.*):(\d+)$", entry)
    return (match.group(1), int(match.group(2))) if match else (entry, None)


def _expect(
    path: Path,
    key: str,
    value: Any,
    kind: type,
    errors: list[SourceSpecError],
    required: bool = True,
) -> Any:
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > sys.float_info.max:
            errors.append(SourceSpecError(path, key, "is too large a number"))
            return None
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        errors.append(
            SourceSpecError(path, key, f"expected {kind.__name__}, got {type(value).__name__}")
        )
        return None
    return value


def _str_list(path: Path, key: str, value: Any, errors: list[SourceSpecError]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append(SourceSpecError(path, key, "expected a list of strings"))
        return []
    return [v.strip() for v in value]


def _check_url(path: Path, key: str, url: str, errors: list[SourceSpecError]) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors.append(SourceSpecError(path, key, f"{url!r} is not an absolute http(s) URL"))
        return None
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        errors.append(SourceSpecError(path, key, f"{url!r} has an invalid port"))
        return None
    return parts.hostname.lower()


def _patterns(
    path: Path, key: str, value: Any, errors: list[SourceSpecError]
) -> list[re.Pattern[str]]:
    compiled = []
    for pattern in _str_list(path, key, value, errors):
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            errors.append(SourceSpecError(path, key, f"bad regular expression {pattern!r}: {exc}"))
    return compiled


def _number(path: Path, key: str, value: Any, kind: type, errors: list[SourceSpecError]) -> Any:
    """A numeric key, in the range of the setting of the same name (finite, min, max)."""
    checked = _expect(path, key, value, kind, errors)
    if checked is None:
        return None
    problem = out_of_range(setting_metadata(key), checked)
    if problem is not None:
        errors.append(SourceSpecError(path, key, problem))
        return None
    return checked


_CRON_MACROS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight"}


def _valid_cron(expr: str) -> bool:
    from croniter import croniter

    if expr.strip() not in _CRON_MACROS and len(expr.split()) != 5:
        return False
    return bool(croniter.is_valid(expr))
