"""Build an openai client from the standard variables: OpenAI, Azure OpenAI or a compatible server.

OpenAI and compatible servers: OPENAI_API_KEY and OPENAI_BASE_URL. Azure OpenAI:
AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and OPENAI_API_VERSION. Secrets are only ever read
from the environment.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from muni_crawl.errors import ConfigError

DEFAULT_AZURE_API_VERSION = "2024-10-21"


def provider() -> str | None:
    """'azure', 'openai', or None when no credentials are in the environment."""
    if os.environ.get("AZURE_OPENAI_ENDPOINT"):
        return "azure"
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return "openai"
    return None


def check_environment() -> str:
    """The provider the environment configures, or ConfigError naming the variable at fault.

    Called when an Answerer is created, so a broken deployment fails once at start-up with
    the variable's name, not on every citizen's question.
    """
    kind = provider()
    if kind is None:
        raise ConfigError(
            "no LLM endpoint configured: set OPENAI_API_KEY (and optionally OPENAI_BASE_URL), or"
            " AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY"
        )
    if kind == "azure":
        _check_url("AZURE_OPENAI_ENDPOINT")
        if not os.environ.get("AZURE_OPENAI_API_KEY", "").strip():
            raise ConfigError("AZURE_OPENAI_ENDPOINT is set but AZURE_OPENAI_API_KEY is not")
        version = os.environ.get("OPENAI_API_VERSION")
        if version is not None and (not version.strip() or not version.isprintable()):
            raise ConfigError(f"OPENAI_API_VERSION is not a version: {version!r}")
    elif os.environ.get("OPENAI_BASE_URL"):
        _check_url("OPENAI_BASE_URL")
    for secret in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"):
        value = os.environ.get(secret, "")
        if value and (not value.isprintable() or value != value.strip()):
            # never echo a secret: say what is wrong with it, not what it is
            raise ConfigError(f"{secret} contains spaces, line breaks or control characters")
    return kind


def _check_url(variable: str) -> None:
    value = os.environ.get(variable, "")
    parts = urlsplit(value.strip())
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"{variable} has an invalid port: {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{variable} must be an http(s) URL, not {value!r}")


def make_client(*, timeout: float, max_retries: int) -> Any:
    """An openai.OpenAI or openai.AzureOpenAI client configured from the environment."""
    import openai

    kind = check_environment()
    if kind == "azure":
        return openai.AzureOpenAI(
            azure_endpoint=os.environ["AZURE_OPENAI_ENDPOINT"],
            api_key=os.environ["AZURE_OPENAI_API_KEY"],
            api_version=os.environ.get("OPENAI_API_VERSION", DEFAULT_AZURE_API_VERSION),
            timeout=timeout,
            max_retries=max_retries,
        )
    return openai.OpenAI(
        api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        timeout=timeout,
        max_retries=max_retries,
    )
