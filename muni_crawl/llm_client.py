"""Build an openai client from the standard variables: OpenAI, Azure OpenAI or a compatible server.

OpenAI and compatible servers: OPENAI_API_KEY and OPENAI_BASE_URL. Azure OpenAI:
AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and OPENAI_API_VERSION. Secrets are only ever read
from the environment.
"""

from __future__ import annotations

import os
from typing import Any

from muni_crawl.errors import ConfigError

DEFAULT_AZURE_API_VERSION = "2024-10-21"


def provider() -> str | None:
    """'azure', 'openai', or None when no credentials are in the environment."""
    if os.environ.get("AZURE_OPENAI_ENDPOINT"):
        return "azure"
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return "openai"
    return None


def make_client(*, timeout: float, max_retries: int) -> Any:
    """An openai.OpenAI or openai.AzureOpenAI client configured from the environment."""
    import openai

    kind = provider()
    if kind == "azure":
        key = os.environ.get("AZURE_OPENAI_API_KEY")
        if not key:
            raise ConfigError("AZURE_OPENAI_ENDPOINT is set but AZURE_OPENAI_API_KEY is not")
        return openai.AzureOpenAI(
            azure_endpoint=os.environ["AZURE_OPENAI_ENDPOINT"],
            api_key=key,
            api_version=os.environ.get("OPENAI_API_VERSION", DEFAULT_AZURE_API_VERSION),
            timeout=timeout,
            max_retries=max_retries,
        )
    if kind == "openai":
        return openai.OpenAI(
            api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
            base_url=os.environ.get("OPENAI_BASE_URL") or None,
            timeout=timeout,
            max_retries=max_retries,
        )
    raise ConfigError(
        "no LLM endpoint configured: set OPENAI_API_KEY (and optionally OPENAI_BASE_URL), or"
        " AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY"
    )
