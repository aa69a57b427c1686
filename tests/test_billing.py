"""Billing never trusts impossible numbers: hostile provider usage through a real openai client.

The fake OpenAI-compatible server sends whatever `usage` a test puts in the body; the answer
must be kept, billed on our own tiktoken counts, flagged, and the raw value kept for audit.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from muni_crawl import Answer, Answerer, Settings
from muni_crawl.billing import PLAUSIBLE_SLACK, as_count, reconcile
from muni_crawl.cli import cli
from muni_crawl.compose import count_chat_tokens
from muni_crawl.tokens import count_tokens, encoding_for_model
from muni_crawl.types import TokenUsage
from tests.fake_openai import FakeOpenAI

QUESTION = "Hvornår henter I storskrald?"
REPLY = "Storskrald hentes den første tirsdag i hver måned [1]."
MODEL = "gpt-4o-mini"
PRICE_IN, PRICE_OUT, PRICE_DOC = 1.10, 4.40, 0.0001  # the `llm` fixture's prices
LOCAL_OUT = count_tokens(REPLY, encoding_for_model(MODEL))
MISSING = object()


def _body(usage: Any) -> str:
    """A chat completion as a provider would send it, with `usage` as given (or left out)."""
    payload: dict[str, Any] = {
        "id": "chatcmpl-hostile",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": REPLY},
                "finish_reason": "stop",
            }
        ],
    }
    if usage is not MISSING:
        payload["usage"] = usage
    return json.dumps(payload)  # NaN and Infinity are written as JSON's non-standard literals


def _ask(llm: FakeOpenAI, usage: Any) -> tuple[Answer, int]:
    """Answer QUESTION with the given provider usage; returns the answer and our prompt count."""
    llm.enqueue(raw=_body(usage))
    answer = Answerer(home=Settings.load()).answer("example", QUESTION)
    local_in = count_chat_tokens(llm.chat_requests[-1]["body"]["messages"], MODEL)
    return answer, local_in


def _row(home: Path, answer_id: str) -> sqlite3.Row:
    conn = sqlite3.connect(home / "muni_crawl.db")
    conn.row_factory = sqlite3.Row
    try:
        row: sqlite3.Row = conn.execute(
            "SELECT * FROM answers WHERE id = ?", (answer_id,)
        ).fetchone()
        return row
    finally:
        conn.close()


def _expected_micro(tokens_in: int, tokens_out: int, documents: int) -> int:
    return round(tokens_in * PRICE_IN + tokens_out * PRICE_OUT + documents * PRICE_DOC * 1e6)


HOSTILE = {
    "negative prompt": ({"prompt_tokens": -100_000, "completion_tokens": LOCAL_OUT}, "-100000"),
    "zero prompt": ({"prompt_tokens": 0, "completion_tokens": LOCAL_OUT}, "=0 "),
    "10^12 prompt": ({"prompt_tokens": 10**12, "completion_tokens": LOCAL_OUT}, "1000000000000"),
    "10^30 completion": ({"prompt_tokens": None, "completion_tokens": 10**30}, "1000000000"),
    "string": ({"prompt_tokens": "lots", "completion_tokens": "many"}, "'lots'"),
    "numeric string": ({"prompt_tokens": "900", "completion_tokens": str(LOCAL_OUT)}, "'900'"),
    "fraction": ({"prompt_tokens": 900.5, "completion_tokens": LOCAL_OUT}, "900.5"),
    "NaN and Infinity": ({"prompt_tokens": math.nan, "completion_tokens": math.inf}, "nan"),
    "booleans": ({"prompt_tokens": True, "completion_tokens": False}, "True"),
    "nulls": ({"prompt_tokens": None, "completion_tokens": None}, "prompt_tokens missing"),
    "keys missing": ({"total_tokens": 5}, "completion_tokens missing"),
    "usage null": (None, "prompt_tokens missing"),
    "usage missing": (MISSING, "prompt_tokens missing"),
    "usage a string": ("lots", "prompt_tokens missing"),
    "usage a list": ([1, 2], "prompt_tokens missing"),
    "containers": ({"prompt_tokens": {"n": 900}, "completion_tokens": [12]}, "{'n': 900}"),
    "negative completion": ({"prompt_tokens": None, "completion_tokens": -5}, "=-5 "),
}


@pytest.mark.parametrize(("usage", "audit"), list(HOSTILE.values()), ids=list(HOSTILE))
def test_impossible_provider_usage_is_billed_on_local_counts_and_flagged(
    home: Path, llm: FakeOpenAI, usage: Any, audit: str
) -> None:
    answer, local_in = _ask(llm, usage)
    assert answer.status == "generated" and answer.text == REPLY  # the answer is kept
    used = answer.usage
    assert used.prompt_tokens == local_in and used.completion_tokens == LOCAL_OUT
    assert used.usage_mismatch is True
    assert used.provider_prompt_tokens in (None, local_in)
    assert used.provider_completion_tokens in (None, LOCAL_OUT)
    micro = _expected_micro(local_in, LOCAL_OUT, used.documents_searched)
    assert used.cost_dkk == pytest.approx(micro / 1e6, abs=1e-6)
    row = _row(home, answer.id)
    assert row["cost_micro_dkk"] == micro and row["usage_mismatch"] == 1
    assert row["review_status"] == "pending"
    assert row["usage_note"].startswith("provider usage not trusted: ")
    assert audit in row["usage_note"] and len(row["usage_note"]) < 400
    report = CliRunner().invoke(cli, ["usage", "--format", "json"])
    assert report.exit_code == 0, report.output
    [totals] = json.loads(report.stdout)
    assert totals["tokens_in"] == local_in and totals["tokens_out"] == LOCAL_OUT
    assert totals["usage_mismatches"] == 1
    assert totals["cost_dkk"] == f"{micro // 1_000_000}.{micro % 1_000_000:06d}"


def test_a_month_of_hostile_usage_adds_up_to_local_counts(
    home: Path, llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUNI_CRAWL_REUSE_PENDING_SECONDS", "0")  # every answer calls the LLM
    tokens_in = tokens_out = micro = 0
    for usage, _audit in HOSTILE.values():
        answer, local_in = _ask(llm, usage)
        tokens_in += local_in
        tokens_out += LOCAL_OUT
        micro += _expected_micro(local_in, LOCAL_OUT, answer.usage.documents_searched)
    report = CliRunner().invoke(cli, ["usage", "--format", "json"])
    [totals] = json.loads(report.stdout)
    assert totals["answers"] == totals["generated"] == len(HOSTILE)
    assert totals["usage_mismatches"] == len(HOSTILE)
    assert (totals["tokens_in"], totals["tokens_out"]) == (tokens_in, tokens_out)
    assert totals["cost_dkk"] == f"{micro // 1_000_000}.{micro % 1_000_000:06d}"
    assert 0 < micro < len(HOSTILE) * 10_000  # under a cent an answer, not millions of DKK


def test_small_honest_differences_are_billed_at_the_providers_count_and_flagged(
    home: Path, llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUNI_CRAWL_REUSE_PENDING_SECONDS", "0")
    llm.enqueue(REPLY, prompt_tokens=1, completion_tokens=LOCAL_OUT)  # learn our prompt count
    Answerer(home=Settings.load()).answer("example", QUESTION)
    local_in = count_chat_tokens(llm.chat_requests[-1]["body"]["messages"], MODEL)
    framing = local_in + 7  # providers count a few tokens of chat framing we do not
    answer, _ = _ask(llm, {"prompt_tokens": framing, "completion_tokens": float(LOCAL_OUT)})
    used = answer.usage
    assert used.provider_prompt_tokens == framing and used.provider_completion_tokens == LOCAL_OUT
    assert used.usage_mismatch is True
    row = _row(home, answer.id)
    assert row["usage_note"] is None
    assert row["cost_micro_dkk"] == _expected_micro(framing, LOCAL_OUT, used.documents_searched)


def test_matching_counts_are_not_flagged(
    home: Path, llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUNI_CRAWL_REUSE_PENDING_SECONDS", "0")
    llm.enqueue(REPLY, prompt_tokens=1, completion_tokens=LOCAL_OUT)
    Answerer(home=Settings.load()).answer("example", QUESTION)
    local_in = count_chat_tokens(llm.chat_requests[-1]["body"]["messages"], MODEL)
    answer, _ = _ask(llm, {"prompt_tokens": local_in, "completion_tokens": LOCAL_OUT})
    assert answer.usage.usage_mismatch is False
    assert answer.usage.provider_prompt_tokens == local_in
    assert _row(home, answer.id)["usage_note"] is None


def test_a_reply_longer_than_the_output_tokens_allowed_is_billed_locally(
    home: Path, llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUNI_CRAWL_LLM_MAX_OUTPUT_TOKENS", str(LOCAL_OUT))
    claimed = LOCAL_OUT + 30  # plausible next to our count, but more than we allowed
    answer, _ = _ask(llm, {"prompt_tokens": None, "completion_tokens": claimed})
    assert llm.chat_requests[-1]["body"]["max_tokens"] == LOCAL_OUT
    assert answer.usage.provider_completion_tokens is None and answer.usage.usage_mismatch
    note = _row(home, answer.id)["usage_note"]
    assert f"exceeds the {LOCAL_OUT + 8} output tokens allowed" in note


@pytest.mark.parametrize(
    ("provider", "billed"),
    [
        (2 * 1000 + PLAUSIBLE_SLACK, 2 * 1000 + PLAUSIBLE_SLACK),  # the upper edge is accepted
        (2 * 1000 + PLAUSIBLE_SLACK + 1, 1000),
        (1000 // 2 - PLAUSIBLE_SLACK, 1000 // 2 - PLAUSIBLE_SLACK),  # the lower edge
        (1000 // 2 - PLAUSIBLE_SLACK - 1, 1000),
    ],
)
def test_the_plausibility_band_is_a_factor_of_two_plus_slack(provider: int, billed: int) -> None:
    spent = TokenUsage(1000, 10, provider, 10, model=MODEL)
    billing = reconcile(spent, max_output_tokens=400)
    assert billing.prompt_tokens == billed
    assert (billing.note is None) is (billed == provider)


def test_counts_are_whole_non_negative_numbers_only() -> None:
    assert [as_count(v) for v in (0, 7, 7.0, 10**6)] == [0, 7, 7, 10**6]
    for junk in (-1, 7.5, True, False, "7", None, math.nan, math.inf, -0.5, [7], {"n": 7}):
        assert as_count(junk) is None, junk


def test_answers_without_an_llm_call_are_never_flagged(home: Path) -> None:
    answer = Answerer(home=Settings.load()).answer("example", QUESTION)
    assert answer.status == "extractive" and answer.usage.usage_mismatch is False
    assert _row(home, answer.id)["usage_note"] is None


def test_a_retried_call_widens_the_band_by_one_slack_and_one_output_limit() -> None:
    two_calls = TokenUsage(
        2000, 800, 2 * 2000 + 2 * PLAUSIBLE_SLACK, 2 * (400 + 8), model=MODEL, calls=2
    )
    billing = reconcile(two_calls, max_output_tokens=400)
    assert (billing.prompt_tokens, billing.completion_tokens) == (4100, 816)
    assert billing.note is None
    one_call = TokenUsage(2000, 800, 4100, 816, model=MODEL)
    note = reconcile(one_call, max_output_tokens=400).note or ""
    assert "prompt_tokens=4100" in note and "completion_tokens=816" in note
