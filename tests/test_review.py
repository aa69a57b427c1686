"""Review end to end: pending, approve, served first at 0 tokens, stale on re-crawl, re-approve."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from muni_crawl import Answerer, Settings, refresh
from muni_crawl.cli import cli
from muni_crawl.example.server import EXAMPLE_SITES, SITES_DIR, serve
from tests.fake_openai import FakeOpenAI

QUESTION = "Hvornår henter I storskrald?"
REWORDED = "Hvornår bliver storskrald hentet?"
REPLY = "Storskrald hentes den første tirsdag i hver måned i Eksempelby [1]."


def _answerer() -> Answerer:
    return Answerer(home=Settings.load())


def _invoke(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result


def _review_status(home: Path, answer_id: str) -> str:
    conn = sqlite3.connect(home / "muni_crawl.db")
    return str(
        conn.execute("SELECT review_status FROM answers WHERE id = ?", (answer_id,)).fetchone()[0]
    )


def _crawl_example_with(home: Path, tmp_path: Path, edit: tuple[str, str] | None) -> None:
    """Re-crawl the example municipality, its storskrald page optionally edited."""
    site = tmp_path / "kommune"
    if not site.exists():
        shutil.copytree(SITES_DIR / "kommune", site)
    if edit:
        page = site / "affald" / "storskrald.html"
        page.write_text(page.read_text(encoding="utf-8").replace(*edit), encoding="utf-8")
    running = serve(site, port=EXAMPLE_SITES["kommune"], name="kommune")
    try:
        # the daily cycle: crawl, then mark answers whose cited pages changed as stale
        [summary] = refresh(["example"], home=Settings.load(home), reindex=False).crawls
    finally:
        running.stop()
    assert summary.status == "ok"


def test_the_whole_review_loop(home: Path, llm: FakeOpenAI, tmp_path: Path) -> None:
    llm.enqueue(REPLY, prompt_tokens=1000, completion_tokens=20)
    generated = _answerer().answer("example", QUESTION)
    assert generated.status == "generated"
    listing = _invoke("review", "list", "--status", "pending", "--json")
    [row] = json.loads(listing.stdout)
    assert row["id"] == generated.id and row["question"] == QUESTION

    approved = _invoke("review", "approve", generated.id, "--reviewer", "mette")
    assert approved.exit_code == 0, approved.output

    calls = len(llm.chat_requests)
    for question in (QUESTION, REWORDED):
        served = _answerer().answer("example", question)
        assert served.status == "approved", served.reason
        assert served.text == REPLY and served.usage.prompt_tokens == 0
        assert served.usage.cost_dkk == 0 and served.citations == generated.citations
    assert len(llm.chat_requests) == calls  # no LLM call for approved answers
    other = _answerer().answer("naboby", QUESTION)  # another tenant: not served there
    assert other.status != "approved"

    # the cited page changes on re-crawl: the approved answer goes stale and is not served
    _crawl_example_with(home, tmp_path, ("første tirsdag", "anden onsdag"))
    assert _review_status(home, generated.id) == "stale"
    stale = _invoke("review", "list", "--status", "stale", "--json")
    assert generated.id in stale.stdout
    llm.enqueue("Storskrald hentes den anden onsdag [1].", prompt_tokens=900)
    assert _answerer().answer("example", QUESTION).status == "generated"
    shown = _invoke("review", "show", generated.id)
    text = shown.stdout
    assert "-" in text and "første tirsdag" in text and "anden onsdag" in text
    assert "stale" in text and "mette" in text  # audit trail

    again = _invoke("review", "approve", generated.id, "--reviewer", "mette")
    assert again.exit_code == 0
    assert _review_status(home, generated.id) == "approved"
    assert _answerer().answer("example", QUESTION).status == "approved"
    # an unchanged re-crawl does not make it stale again
    _crawl_example_with(home, tmp_path, None)
    assert _review_status(home, generated.id) == "approved"


def test_edit_in_editor_then_export(
    home: Path, llm: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm.enqueue(REPLY)
    answer = _answerer().answer("example", QUESTION)
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "Redigeret: storskrald hentes tirsdag [1]." > "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.setenv("VISUAL", str(editor))
    result = _invoke(
        "review", "approve", answer.id, "--edit", "--scope", "all", "--force", "--reviewer", "ole"
    )
    assert result.exit_code == 0, result.output
    served = _answerer().answer("naboby", QUESTION)  # scope all: every tenant gets it
    assert served.status == "approved" and served.text.startswith("Redigeret:")
    exported = json.loads(_invoke("review", "export", "--format", "json").stdout)
    assert exported[0]["answer"].startswith("Redigeret:") and exported[0]["scope"] == "all"
    assert exported[0]["approved_by"] == "ole" and exported[0]["citations"][0]["url"]
    csv_out = _invoke("review", "export", "--tenant", "naboby", "--format", "csv").stdout
    assert csv_out.startswith("id,tenant,scope") and "Redigeret" in csv_out
    shown = _invoke("review", "show", answer.id).stdout
    assert "edit" in shown and "ole" in shown


def test_interactive_loop(home: Path, llm: FakeOpenAI) -> None:
    llm.enqueue(REPLY)
    first = _answerer().answer("example", QUESTION)
    llm.enqueue("Et pas til børn koster 156 kr. [1].")
    second = _answerer().answer("example", "Hvad koster et pas til et barn?")
    result = _invoke("review", "next", "--reviewer", "kim", input="a" + "r" + "forkert pris\n")
    assert result.exit_code == 0, result.output
    assert "[a]pprove" in result.output and "No more pending" in result.output
    assert _review_status(home, first.id) == "approved"
    assert _review_status(home, second.id) == "rejected"
    quit_now = _invoke("review", "next", input="q")
    assert "No more pending" in quit_now.output


def test_rejected_text_is_not_served_again_and_repeats_reuse_the_pending_answer(
    home: Path, llm: FakeOpenAI
) -> None:
    llm.enqueue(REPLY, prompt_tokens=1000, completion_tokens=20)
    first = _answerer().answer("example", QUESTION)
    repeat = _answerer().answer("example", QUESTION)  # within the window: reused, not paid
    assert repeat.status == "generated" and repeat.text == REPLY
    assert repeat.usage.prompt_tokens == 0 and len(llm.chat_requests) == 1
    assert "reused" in (repeat.reason or "")
    rejected = _invoke("review", "reject", first.id, "--reason", "forkert dag", "--reviewer", "kim")
    assert rejected.exit_code == 0
    llm.enqueue(REPLY)  # the model says the same thing again
    after = _answerer().answer("example", QUESTION)
    assert after.status == "extractive" and "rejected" in (after.reason or "")


def test_clear_errors(home: Path, llm: FakeOpenAI) -> None:
    result = _invoke("review", "approve", "nope")
    assert result.exit_code == 1 and "no such answer" in result.stderr
    llm.enqueue(REPLY)
    answer = _answerer().answer("example", QUESTION)
    assert _invoke("review", "approve", answer.id).exit_code == 0
    twice = _invoke("review", "approve", answer.id)
    assert twice.exit_code == 1 and "not pending" in twice.stderr
    late = _invoke("review", "reject", answer.id, "--reason", "x")
    assert late.exit_code == 1 and "not pending" in late.stderr
    missing = _invoke("review", "reject", answer.id)
    assert missing.exit_code == 2  # --reason is required


def test_concurrent_reviewers_never_lose_an_action(home: Path, llm: FakeOpenAI) -> None:
    ids = []
    for question in (QUESTION, "Hvad koster et pas til et barn?", "Hvordan skifter jeg læge?"):
        llm.enqueue("Svar fra kilden [1].")
        ids.append(_answerer().answer("example", question).id)

    def approve(answer_id: str, who: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "muni_crawl", "review", "approve", answer_id, "--reviewer", who],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    # two reviewers on different answers, and two racing for the same one
    procs = [approve(ids[0], "a"), approve(ids[1], "b"), approve(ids[2], "c"), approve(ids[2], "d")]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert results[0][0] == 0 and results[1][0] == 0, results
    race = sorted(code for code, _ in results[2:])
    assert race == [0, 1], results
    assert "not pending" in (results[2][1] + results[3][1])
    conn = sqlite3.connect(home / "muni_crawl.db")
    trail = conn.execute("SELECT answer_id, reviewer FROM review_actions ORDER BY id").fetchall()
    assert len(trail) == 3 and {a for a, _ in trail} == set(ids)
