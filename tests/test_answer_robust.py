"""answer() raises only for caller errors: a locked database, junk questions, broken settings.

The lock tests hold SQLite's write lock from a real second process, as a crawl or a review
does, and check that the answer neither waits for it nor loses its record.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from muni_crawl import (
    Answerer,
    ConfigError,
    InvalidQuestionError,
    Settings,
    Store,
    UnknownTenantError,
)
from muni_crawl.cli import cli
from muni_crawl.review import approve
from muni_crawl.store.answer_log import AnswerRecord, spool_dir, spooled_count
from tests.fake_openai import FakeOpenAI

QUESTION = "Hvornår henter I storskrald?"
REPO = Path(__file__).resolve().parent.parent

HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("UPDATE crawl_runs SET message = message")
print("locked", flush=True)
sys.stdin.readline()  # hold the write lock until the test lets go (or dies)
db.execute("COMMIT")
"""


class WriteLock:
    """Another process holding the database's write lock, like a crawl or a review."""

    def __init__(self, database: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(database)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("\n")
            self.process.stdin.close()
            self.process.wait(timeout=30)


@pytest.fixture
def write_lock(home: Path) -> Iterator[WriteLock]:
    lock = WriteLock(home / "muni_crawl.db")
    yield lock
    lock.release()


def _rows(home: Path, answer_id: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(home / "muni_crawl.db")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM answers WHERE id = ?", (answer_id,)).fetchall()
    finally:
        conn.close()


def _usage_answers(tenant: str) -> int:
    result = CliRunner().invoke(cli, ["usage", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["tenant"]: r for r in json.loads(result.stdout)}
    return int(rows[tenant]["answers"]) if tenant in rows else 0


# -- a write lock held by another process -------------------------------------------------


def test_an_answer_does_not_wait_for_another_process_and_its_record_is_kept(
    home: Path,
) -> None:
    answerer = Answerer(home=Settings.load())
    answerer.answer("example", QUESTION)  # warm: model and index loaded, store open
    database = home / "muni_crawl.db"
    lock = WriteLock(database)
    try:
        started = time.monotonic()
        answer = answerer.answer("example", QUESTION)
        elapsed = time.monotonic() - started
        assert answer.status == "extractive" and "tirsdag" in answer.text
        assert elapsed < 3.0, f"answer() waited {elapsed:.1f} s on another process's lock"
        assert _rows(home, answer.id) == []  # not written yet, but on disk in the spool
        assert spooled_count(database) == 1
        assert (spool_dir(database) / f"{answer.id}.json").is_file()
    finally:
        lock.release()
    assert _usage_answers("example") == 2  # `usage` opens the store, which writes the spool
    assert len(_rows(home, answer.id)) == 1 and spooled_count(database) == 0


def test_spooled_records_are_written_by_the_next_answer_and_counted_once(home: Path) -> None:
    answerer = Answerer(home=Settings.load())
    answerer.answer("example", QUESTION)
    lock = WriteLock(home / "muni_crawl.db")
    try:
        held = [answerer.answer("example", f"{QUESTION} ({n})") for n in range(3)]
    finally:
        lock.release()
    after = answerer.answer("naboby", "Hvornår henter I storskrald?")
    for answer in [*held, after]:
        assert len(_rows(home, answer.id)) == 1
    assert spooled_count(home / "muni_crawl.db") == 0
    assert _usage_answers("example") == 4 and _usage_answers("naboby") == 1


def test_a_background_thread_writes_the_spool_once_the_lock_is_released(home: Path) -> None:
    answerer = Answerer(home=Settings.load())
    answerer.answer("example", QUESTION)
    lock = WriteLock(home / "muni_crawl.db")
    try:
        answer = answerer.answer("example", QUESTION)
        time.sleep(1.5)  # the thread retries meanwhile and must keep the record spooled
        assert _rows(home, answer.id) == [] and spooled_count(home / "muni_crawl.db") == 1
    finally:
        lock.release()
    deadline = time.monotonic() + 20
    while not _rows(home, answer.id) and time.monotonic() < deadline:
        time.sleep(0.2)  # nothing else touches the database: only the retry thread can write
    assert len(_rows(home, answer.id)) == 1
    assert spooled_count(home / "muni_crawl.db") == 0


def test_approved_answers_are_served_while_a_review_holds_the_lock(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUNI_CRAWL_REVIEW_EXTRACTIVE", "true")
    answerer = Answerer(home=Settings.load())
    first = answerer.answer("example", QUESTION)
    with Store(home / "muni_crawl.db") as store:
        approve(store, first.id, reviewer="test", embedder=answerer.library.embedder)
    lock = WriteLock(home / "muni_crawl.db")
    try:
        started = time.monotonic()
        served = answerer.answer("example", QUESTION)
        assert time.monotonic() - started < 3.0
    finally:
        lock.release()
    assert served.status == "approved" and served.usage.prompt_tokens == 0


def test_a_record_spooled_by_a_process_that_exits_under_the_lock_is_not_lost(
    home: Path, write_lock: WriteLock
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.run(
        [sys.executable, "-m", "muni_crawl", "ask", "example", QUESTION, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr
    assert "Traceback" not in process.stderr
    answer_id = json.loads(process.stdout)["id"]
    database = home / "muni_crawl.db"
    assert _rows(home, answer_id) == [] and spooled_count(database) == 1
    write_lock.release()
    with Store(database):  # any process that opens the store writes what was spooled
        pass
    [row] = _rows(home, answer_id)
    assert row["status"] == "extractive" and spooled_count(database) == 0


def test_a_damaged_spool_file_is_set_aside_and_does_not_block_the_others(home: Path) -> None:
    database = home / "muni_crawl.db"
    folder = spool_dir(database)
    folder.mkdir()
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    (folder / "alien.json").write_text(
        json.dumps({"values": {"id": "x", "DROP TABLE answers": 1}, "citations": []}),
        encoding="utf-8",
    )
    good = AnswerRecord(
        {
            "id": "spooled-1",
            "tenant": "example",
            "question": "q",
            "question_hash": "h",
            "language": "da",
            "status": "extractive",
            "text": "t [1]",
            "citations": "[]",
            "passages": "[]",
            "created_at": "2026-01-01T00:00:00.000+00:00",
        }
    )
    for name, column, value in (
        ("odd", "text", ["not", "text"]),
        ("billing-text", "cost_micro_dkk", "lots"),
        ("billing-null", "prompt_tokens", None),
        ("billing-huge", "cost_micro_dkk", 10**30),
        ("billing-bool", "provider_prompt_tokens", True),
    ):
        hostile = json.loads(good.to_json())
        hostile["values"][column] = value
        (folder / f"{name}.json").write_text(json.dumps(hostile), encoding="utf-8")
    (folder / "folder.json").mkdir()
    for name in ("spooled-1.json", "duplicate-of-spooled-1.json"):
        (folder / name).write_text(good.to_json(), encoding="utf-8")
    with Store(database) as store:
        count = store.db.execute("SELECT COUNT(*) FROM answers WHERE id = 'spooled-1'")
        assert count.fetchone()[0] == 1
    assert sorted(p.name for p in folder.iterdir()) == [
        "alien.bad",
        "billing-bool.bad",
        "billing-huge.bad",
        "billing-null.bad",
        "billing-text.bad",
        "broken.bad",
        "folder.bad",
        "odd.bad",
    ]
    assert spooled_count(database) == 0


# -- junk questions -----------------------------------------------------------------------

JUNK = {
    "empty": "",
    "spaces": "   ",
    "whitespace variants": "\t\n\r\u00a0\u2002\u2003\u3000\u2028\u2029\u202f\u205f",
    "lone surrogate": "\ud800",
    "surrogate inside words": "Hvornår henter I \udcff storskrald?",
    "NUL bytes": "\x00\x00\x00",
    "control characters": "\x01\x02\x07\x7f\x9f",
    "terminal escapes": "\x1b[31m\x1b[2J\x1b]0;pwned\x07\x1bc",
    "punctuation": "?!?!",
    "punctuation run": ".,;:-_()[]{}<>\"'/\\|*&^%$#@!~`",
    "emoji": "😀😡🤖🗑️",
    "emoji with joiners": "👨\u200d👩\u200d👧\u200d👦",
    "flags": "🇩🇰🇺🇦",
    "RTL marks": "\u200f\u200e\u202b\u202e\u2067\u2069",
    "zero-width": "\u200b\u200c\u200d\u2060\ufeff",
    "combining marks": "\u0301" * 10_000,
    "letter with 10k combining marks": "a" + "\u0301" * 10_000,
    "hangul fillers": "\u3164\u115f\u1160\uffa0",
    "variation selectors": "\ufe0f\ufe0e\U000e0100",
    "tag characters": "\U000e0041\U000e0042\U000e007f",
    "braille blanks": "\u2800\u2800\u2800",
    "box drawing": "╔═╗║╚╝",
    "math symbols": "∑∫√∞≠±",
    "private use": "\ue000\uf8ff",
    "soft hyphens": "\u00ad\u00ad",
    "far too long": "storskrald " * 5000,
    "a million characters": "x" * 1_000_000,
}


@pytest.mark.parametrize("question", list(JUNK.values()), ids=list(JUNK))
def test_junk_questions_are_refused_clearly_by_the_api(home: Path, question: str) -> None:
    answerer = Answerer(home=Settings.load())
    with pytest.raises(InvalidQuestionError) as info:
        answerer.answer("example", question)
    message = str(info.value)
    assert message.startswith("the question ")
    assert question.strip() == "" or question[:20] not in message  # never echoes the text
    assert not (home / "muni_crawl.db").exists() or _count_answers(home) == 0


def _count_answers(home: Path) -> int:
    conn = sqlite3.connect(home / "muni_crawl.db")
    try:
        return int(conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("\ud800", "unpaired surrogate (U+D800)"),
        ("?!?!", "no letters or digits"),
        ("😀😀", "no letters or digits"),
        ("\x00\u200f\u200b", "empty"),
        ("a" + "\u0301" * 10_000, "limit is 1000"),
    ],
)
def test_junk_questions_through_the_cli_exit_1_without_a_traceback(
    home: Path, question: str, words: str
) -> None:
    result = CliRunner().invoke(cli, ["ask", "example", question])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # click's clean exit, not a crash
    assert "Traceback" not in result.output and "Error: the question" in result.stderr
    assert words in result.stderr


def test_invalid_utf8_on_the_command_line_is_refused_in_a_real_process(home: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    raw = subprocess.run(  # the bytes reach the program as lone surrogates (surrogateescape)
        [sys.executable, "-m", "muni_crawl", "ask", "example", os.fsdecode(b"hvorn\xe5r \xff")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert raw.returncode == 1 and "Traceback" not in raw.stderr
    assert "unpaired surrogate" in raw.stderr


@pytest.mark.parametrize(
    ("question", "cleaned"),
    [
        ("Hvornår\u200b henter I\u00ad storskrald?", "Hvornår henter I storskrald?"),
        ("Hvorna\u030ar henter I storskrald?", "Hvornår henter I storskrald?"),  # NFC
        ("\u202eHvornår\x00 henter\tI\nstorskrald?\u202c", "Hvornår henter I storskrald?"),
        ("Hvornår henter I storskrald? 🗑️🙏", "Hvornår henter I storskrald? 🗑🙏"),
    ],
)
def test_invisible_and_control_characters_are_removed_before_answering(
    home: Path, question: str, cleaned: str
) -> None:
    answer = Answerer(home=Settings.load()).answer("example", question)
    assert answer.question == cleaned
    assert answer.status == "extractive" and "tirsdag" in answer.text


def test_a_question_that_is_not_text_or_a_tenant_that_is_not_a_slug(home: Path) -> None:
    answerer = Answerer(home=Settings.load())
    for question in (None, 42, b"Hvorn\xc3\xa5r?", ["storskrald"]):
        with pytest.raises(InvalidQuestionError, match="must be text"):
            answerer.answer("example", question)  # type: ignore[arg-type]
    for tenant in (["example"], None, 999):
        with pytest.raises(UnknownTenantError):
            answerer.answer(tenant, QUESTION)  # type: ignore[arg-type]


# -- configuration errors are reported when the Answerer is created -------------------------


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"MUNI_CRAWL_ANSWER_PASSAGES": "0"}, "MUNI_CRAWL_ANSWER_PASSAGES"),
        ({"MUNI_CRAWL_LLM_TIMEOUT": "-5"}, "MUNI_CRAWL_LLM_TIMEOUT"),
        ({"MUNI_CRAWL_LLM_TIMEOUT": "nan"}, "MUNI_CRAWL_LLM_TIMEOUT"),
        ({"MUNI_CRAWL_MAX_QUESTION_CHARS": "0"}, "MUNI_CRAWL_MAX_QUESTION_CHARS"),
        ({"MUNI_CRAWL_PRICE_INPUT_DKK": "-1.10"}, "MUNI_CRAWL_PRICE_INPUT_DKK"),
        ({"MUNI_CRAWL_MIN_EVIDENCE": "7"}, "MUNI_CRAWL_MIN_EVIDENCE"),
        ({"MUNI_CRAWL_EMBEDDER": "openai"}, "MUNI_CRAWL_EMBEDDING_MODEL"),
        ({"MUNI_CRAWL_LLM_MODEL": "gpt-4o-mini"}, "OPENAI_API_KEY"),
        (
            {"MUNI_CRAWL_LLM_MODEL": "gpt-4o-mini", "AZURE_OPENAI_ENDPOINT": "https://x.invalid"},
            "AZURE_OPENAI_API_KEY",
        ),
        (
            {
                "MUNI_CRAWL_LLM_MODEL": "gpt-4o-mini",
                "AZURE_OPENAI_ENDPOINT": "x.invalid/openai",
                "AZURE_OPENAI_API_KEY": "k",
            },
            "AZURE_OPENAI_ENDPOINT",
        ),
        (
            {"MUNI_CRAWL_LLM_MODEL": "gpt-4o-mini", "OPENAI_BASE_URL": "ftp://127.0.0.1/v1"},
            "OPENAI_BASE_URL",
        ),
        (
            {"MUNI_CRAWL_LLM_MODEL": "gpt-4o-mini", "OPENAI_API_KEY": "sk-abc\nX-Evil: 1"},
            "OPENAI_API_KEY",
        ),
    ],
)
def test_configuration_errors_surface_when_the_answerer_is_created(
    home: Path, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=named) as info:
        Answerer()
    assert "sk-abc" not in str(info.value)  # a secret is described, never echoed
    result = CliRunner().invoke(cli, ["ask", "example", QUESTION])
    assert result.exit_code == 1 and named in result.stderr
    assert isinstance(result.exception, SystemExit) and "the question" not in result.stderr


def test_a_working_llm_setup_still_answers(home: Path, llm: FakeOpenAI) -> None:
    llm.enqueue("Storskrald hentes første tirsdag i måneden [1].")
    answer = Answerer().answer("example", QUESTION)
    assert answer.status == "generated", answer.reason
