"""Using the package leaves the host's environment as it found it (tiktoken, Hugging Face)."""

from __future__ import annotations

import os

import pytest

from muni_crawl import tokens
from muni_crawl.environment import scoped_environment
from muni_crawl.tokens import count_tokens


def test_counting_tokens_sets_no_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setattr(tokens, "_encodings", {})  # load the encoding again, in this test
    before = dict(os.environ)
    assert count_tokens("Hvad koster et pas?") > 0
    assert dict(os.environ) == before


def test_scoped_variables_are_restored_even_after_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MUNI_PROBE_KEPT", "host value")
    monkeypatch.delenv("MUNI_PROBE_NEW", raising=False)
    with (
        pytest.raises(RuntimeError),
        scoped_environment(MUNI_PROBE_KEPT="ours", MUNI_PROBE_NEW="ours"),
    ):
        assert os.environ["MUNI_PROBE_KEPT"] == os.environ["MUNI_PROBE_NEW"] == "ours"
        raise RuntimeError("the library call failed")
    assert os.environ["MUNI_PROBE_KEPT"] == "host value"
    assert "MUNI_PROBE_NEW" not in os.environ
