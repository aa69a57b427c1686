"""Review scope and review output, end to end through the CLI on the indexed example home.

An approval names who is served an answer: its tenant, or every tenant (`--scope all`). These
tests produce real answers (the packaged embedder, the example indexes and the fake OpenAI
server), pick which passage the model cites, and check that `review approve` refuses to serve
a page to tenants whose index does not hold it, that `--force` is recorded, and that nothing a
stored question or reason holds leaves `review show`, `list` or `export` unredacted.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from muni_crawl import Answerer, Settings
from muni_crawl.cli import cli
from muni_crawl.review import mark_stale
from muni_crawl.sources import load_registry
from muni_crawl.store import Store
from muni_crawl.types import Answer, Passage
from tests.fake_openai import FakeOpenAI

STORSKRALD = "Hvornår henter I storskrald?"
FOLKEPENSION = "Hvad er folkepension?"
APPLY_FOR_PENSION = "Hvordan søger jeg folkepension?"
OFF_TOPIC = "Hvad er hovedstaden i Frankrig?"
EXAMPLE_CONTACT = "http://127.0.0.1:8761/kontakt.html"
NABOBY_CONTACT = "http://127.0.0.1:8764/kontakt.html"
RAW_CPR = "010203-4567"


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _db(home: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(home / "muni_crawl.db")
    conn.row_factory = sqlite3.Row
    return conn


def _answer_citing(
    llm: FakeOpenAI, tenant: str, question: str, wanted: Callable[[Passage], bool]
) -> tuple[Answer, Passage]:
    """A generated answer whose only citation is the first retrieved passage that is `wanted`."""
    answerer = Answerer(home=Settings.load())
    k = answerer.home.settings.answering.answer_passages
    passages = answerer.library.retrieve(tenant, question, k).passages
    n, passage = next((n, p) for n, p in enumerate(passages, 1) if wanted(p))
    llm.enqueue(f"Det står beskrevet i kilden, som forklarer reglerne og hvad du skal gøre [{n}].")
    answer = answerer.answer(tenant, question)
    assert answer.status == "generated", answer.reason
    assert [c.url for c in answer.citations] == [passage.url]
    return answer, passage


def _review_state(home: Path, answer_id: str) -> tuple[Any, ...]:
    """Everything an approval may change, to check that a refused one changed nothing."""
    with _db(home) as conn:
        row = conn.execute(
            "SELECT review_status, approved_text, scope, reviewed_by, question_vector"
            " FROM answers WHERE id = ?",
            (answer_id,),
        ).fetchone()
        trail = conn.execute(
            "SELECT * FROM review_actions WHERE answer_id = ?", (answer_id,)
        ).fetchall()
        cited = conn.execute(
            "SELECT n, page_id, page_version FROM answer_citations WHERE answer_id = ?",
            (answer_id,),
        ).fetchall()
    return tuple(row), [tuple(r) for r in trail], [tuple(r) for r in cited]


def _trail(home: Path, answer_id: str) -> list[sqlite3.Row]:
    with _db(home) as conn:
        return conn.execute(
            "SELECT * FROM review_actions WHERE answer_id = ? ORDER BY id", (answer_id,)
        ).fetchall()


def _use_editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """$EDITOR becomes a script that replaces the answer with `text`."""
    replacement = tmp_path / "edited.txt"
    replacement.write_text(text, encoding="utf-8")
    editor = tmp_path / "editor.sh"
    editor.write_text(f'#!/bin/sh\ncat "{replacement}" > "$1"\n', encoding="utf-8")
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.setenv("VISUAL", str(editor))


def test_scope_all_refuses_a_page_that_feeds_one_tenant_and_force_records_why(
    home: Path, llm: FakeOpenAI
) -> None:
    answer, page = _answer_citing(
        llm, "example", STORSKRALD, lambda p: p.scope == "site" and p.source == "example"
    )
    before = _review_state(home, answer.id)

    refused = _invoke("review", "approve", answer.id, "--scope", "all", "--reviewer", "mette")
    assert refused.exit_code == 1, refused.output
    message = refused.stderr
    assert page.url in message and "source 'example'" in message
    assert "feeds only example" in message and "naboby" in message
    assert "--force" in message and "Traceback" not in refused.output
    assert _review_state(home, answer.id) == before  # nothing changed, no audit row
    assert Answerer(home=Settings.load()).answer("naboby", STORSKRALD).status != "approved"

    forced = _invoke(
        "review", "approve", answer.id, "--scope", "all", "--force", "--reviewer", "mette"
    )
    assert forced.exit_code == 0, forced.output
    assert "Warning: forced --scope all" in forced.stderr and page.url in forced.stderr
    [action] = _trail(home, answer.id)
    assert action["action"] == "approve" and action["reviewer"] == "mette"
    assert action["reason"].startswith("forced --scope all: ") and page.url in action["reason"]
    shown = _invoke("review", "show", answer.id).stdout
    assert "forced --scope all" in shown and "mette" in shown
    # forced means forced: the other tenant is now served it, as the reviewer chose
    served = Answerer(home=Settings.load()).answer("naboby", STORSKRALD)
    assert served.status == "approved" and served.citations == answer.citations


def test_local_sections_are_never_shared_but_national_pages_are(
    home: Path, llm: FakeOpenAI
) -> None:
    local, section = _answer_citing(llm, "example", APPLY_FOR_PENSION, lambda p: p.scope == "local")
    national, body = _answer_citing(llm, "example", FOLKEPENSION, lambda p: p.scope == "national")
    assert section.municipality_code == 999 and body.source == "example-borger"
    refused = _invoke("review", "approve", local.id, "--scope", "all")
    assert refused.exit_code == 1
    assert section.url in refused.stderr
    assert "local section of municipality 999 (example)" in refused.stderr
    # the same answer is fine for its own tenant
    assert _invoke("review", "approve", local.id).exit_code == 0

    approved = _invoke("review", "approve", national.id, "--scope", "all", "--reviewer", "ole")
    assert approved.exit_code == 0, approved.output
    assert "Warning" not in approved.stderr
    [action] = _trail(home, national.id)
    assert action["reason"] is None
    served = Answerer(home=Settings.load()).answer("naboby", FOLKEPENSION)
    assert served.status == "approved" and [c.url for c in served.citations] == [body.url]


def test_a_cited_page_that_is_gone_or_another_tenants_contact_page_is_never_forced(
    home: Path, llm: FakeOpenAI
) -> None:
    answer, page = _answer_citing(llm, "example", STORSKRALD, lambda p: p.source == "example")
    with _db(home) as conn:  # the page row is gone altogether (not only marked deleted)
        conn.execute("DELETE FROM page_versions WHERE page_id = ?", (page.page_id,))
        conn.execute("DELETE FROM pages WHERE id = ?", (page.page_id,))
    before = _review_state(home, answer.id)
    for scope in ("tenant", "all"):
        refused = _invoke("review", "approve", answer.id, "--scope", scope, "--force")
        assert refused.exit_code == 1
        assert "no longer exists" in refused.stderr and "reject it instead" in refused.stderr
    interactive = CliRunner().invoke(cli, ["review", "next"], input="a")  # says so, goes on
    assert interactive.exit_code == 0, interactive.output
    assert "Not approved" in interactive.stderr and "No more pending" in interactive.stdout
    assert _review_state(home, answer.id) == before

    # a no_answer carries the tenant's contact page as citation n=0; one marked for review
    # (by hand, or by an older release) may be approved for its tenant, never for all
    no_answer = Answerer(home=Settings.load()).answer("example", OFF_TOPIC)
    assert no_answer.status == "no_answer"
    assert [(c.n, c.url) for c in no_answer.citations] == [(0, EXAMPLE_CONTACT)]
    with _db(home) as conn:
        conn.execute("UPDATE answers SET review_status = 'pending' WHERE id = ?", (no_answer.id,))
    forced = _invoke("review", "approve", no_answer.id, "--scope", "all", "--force")
    assert forced.exit_code == 1
    assert EXAMPLE_CONTACT in forced.stderr and "contact page of example" in forced.stderr
    assert _invoke("review", "approve", no_answer.id).exit_code == 0


def test_an_edit_cannot_link_another_tenant_or_carry_a_cpr_number(
    home: Path, llm: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer, page = _answer_citing(llm, "example", STORSKRALD, lambda p: p.source == "example")
    before = _review_state(home, answer.id)
    hostile_edits = {
        f"Kontakt Naboby på {NABOBY_CONTACT} [1].": NABOBY_CONTACT,
        "Se også 127.0.0.1:8764/affald.html [1].": "127.0.0.1:8764 (in the text)",
        "Læs [her](http://127.0.0.1:8764/ikke-crawlet.html) [1].": "ikke-crawlet.html",
        "Se http://127.0.0.1:8762/rejse/pas.html#kommune-998 [1].": "#kommune-998",
    }
    for text, named in hostile_edits.items():
        _use_editor(tmp_path, monkeypatch, text)
        refused = _invoke("review", "approve", answer.id, "--edit")
        assert refused.exit_code == 1, (text, refused.output)
        assert named in refused.stderr and "(in the text)" in refused.stderr, text
        assert "not served to example" in refused.stderr
    for cpr in (RAW_CPR, "0102034567"):
        _use_editor(tmp_path, monkeypatch, f"Borgeren med CPR {cpr} skal ringe [1].")
        refused = _invoke("review", "approve", answer.id, "--edit", "--force")
        assert refused.exit_code == 1 and "CPR number" in refused.stderr
        assert cpr not in refused.output
    assert _review_state(home, answer.id) == before

    # the tenant's own pages, contact page and sites outside every source are fine
    own = f"Se {page.url} eller {EXAMPLE_CONTACT}, og læs https://www.retsinformation.dk [1]."
    _use_editor(tmp_path, monkeypatch, own + " Ring på 70 20 30 40.")
    approved = _invoke("review", "approve", answer.id, "--edit", "--reviewer", "kim")
    assert approved.exit_code == 0, approved.output
    assert "adds 1 phone number(s)" in approved.stderr  # a warning, kept in the audit trail
    [action] = _trail(home, answer.id)
    assert action["action"] == "edit" and "phone number" in action["reason"]


def test_scope_all_checks_links_in_the_text_too(
    home: Path, llm: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer, body = _answer_citing(llm, "example", FOLKEPENSION, lambda p: p.scope == "national")
    _use_editor(tmp_path, monkeypatch, f"Folkepension søges via {EXAMPLE_CONTACT} [1].")
    refused = _invoke("review", "approve", answer.id, "--edit", "--scope", "all")
    assert refused.exit_code == 1 and EXAMPLE_CONTACT in refused.stderr
    assert "not served to" in refused.stderr and "naboby" in refused.stderr
    _use_editor(tmp_path, monkeypatch, f"Folkepension er beskrevet på {body.url} [1].")
    assert _invoke("review", "approve", answer.id, "--edit", "--scope", "all").exit_code == 0


def test_an_answer_whose_tenant_was_removed_can_be_rejected_not_approved(
    home: Path, llm: FakeOpenAI
) -> None:
    answer, _ = _answer_citing(llm, "naboby", STORSKRALD, lambda p: p.source == "naboby")
    spiders = home / "spiders"  # Naboby leaves: its tenant, its source and its feeds go
    tenants = (spiders / "tenants.toml").read_text(encoding="utf-8")
    start = tenants.index("[naboby]")
    (spiders / "tenants.toml").write_text(tenants[:start], encoding="utf-8")
    (spiders / "naboby.toml").unlink()
    for name in ("example-borger.toml", "example-selvbetjening.toml"):
        spec = spiders / name
        text = spec.read_text(encoding="utf-8")
        spec.write_text(text.replace('["example", "naboby"]', '["example"]'), encoding="utf-8")
    assert _invoke("sites", "check").exit_code == 0

    for scope in ("tenant", "all"):
        refused = _invoke("review", "approve", answer.id, "--scope", scope, "--force")
        assert refused.exit_code == 1
        assert "'naboby' is no longer declared" in refused.stderr
    rejected = _invoke("review", "reject", answer.id, "--reason", "kommunen er udtrådt")
    assert rejected.exit_code == 0, rejected.output
    with _db(home) as conn:
        status = conn.execute(
            "SELECT review_status FROM answers WHERE id = ?", (answer.id,)
        ).fetchone()[0]
    assert status == "rejected"


def test_export_show_and_list_redact_questions_stored_by_an_older_release(
    home: Path, llm: FakeOpenAI
) -> None:
    answer, _ = _answer_citing(llm, "example", STORSKRALD, lambda p: p.source == "example")
    assert _invoke("review", "approve", answer.id).exit_code == 0
    pending, _ = _answer_citing(llm, "example", FOLKEPENSION, lambda p: True)
    raw_question = f"Mit CPR er {RAW_CPR}, skriv til karen@example.org: {STORSKRALD}"
    with _db(home) as conn:  # as an older release, with a weaker redactor, stored them
        conn.execute(
            "UPDATE answers SET question = ?, approved_text = approved_text || ?"
            " WHERE id IN (?, ?)",
            (raw_question, f" Kundens CPR: {RAW_CPR}.", answer.id, pending.id),
        )
    reason = f"borgeren {RAW_CPR} klagede"
    rejected = _invoke("review", "reject", pending.id, "--reason", reason)
    assert rejected.exit_code == 0

    outputs = {
        "export json": _invoke("review", "export", "--format", "json").stdout,
        "export csv": _invoke("review", "export", "--format", "csv").stdout,
        "show": _invoke("review", "show", answer.id).stdout,
        "show rejected": _invoke("review", "show", pending.id).stdout,
        "list": _invoke("review", "list").stdout,
        "list json": _invoke("review", "list", "--json").stdout,
    }
    for name, text in outputs.items():
        assert RAW_CPR not in text and "karen@example.org" not in text, name
        assert "[CPR-NUMMER]" in text, name
    [exported] = json.loads(outputs["export json"])
    assert exported["question"].startswith("Mit CPR er [CPR-NUMMER], skriv til [E-MAIL]")
    assert exported["answer"].endswith("Kundens CPR: [CPR-NUMMER].")
    [row] = list(csv.DictReader(io.StringIO(outputs["export csv"])))
    assert row["question"] == exported["question"] and row["answer"] == exported["answer"]
    with _db(home) as conn:  # a reviewer's reason is stored redacted
        stored = conn.execute(
            "SELECT reason FROM review_actions WHERE answer_id = ?", (pending.id,)
        ).fetchone()[0]
    assert stored == "borgeren [CPR-NUMMER] klagede"


def test_hostile_stored_text_cannot_drive_the_terminal_or_the_spreadsheet(
    home: Path, llm: FakeOpenAI
) -> None:
    question = f"{STORSKRALD} [/] [link=http://evil.example]klik[/link]"
    answer, _ = _answer_citing(llm, "example", question, lambda p: p.source == "example")
    listing = _invoke("review", "list")
    assert listing.exit_code == 0, listing.output  # "[/]" is text, not rich markup
    assert "[/]" in listing.stdout and "[link=http://evil.example]" in listing.stdout
    assert "\x1b" not in listing.stdout
    with _db(home) as conn:  # a formula and a terminal escape, as an older release kept them
        conn.execute(
            "UPDATE answers SET question = ?, text = ? WHERE id = ?",
            ('=HYPERLINK("http://evil.example","klik")', "\x1b]0;ejet\x07Svar [1].", answer.id),
        )
    shown = _invoke("review", "show", answer.id).stdout
    assert "\x1b" not in shown and "\x07" not in shown and "Svar [1]." in shown
    assert _invoke("review", "approve", answer.id).exit_code == 0
    exported = _invoke("review", "export", "--format", "csv").stdout
    [row] = list(csv.DictReader(io.StringIO(exported)))
    assert row["question"] == '\'=HYPERLINK("http://evil.example","klik")'
    assert row["answer"] == "]0;ejetSvar [1]." and "\x1b" not in exported


def test_approvals_for_all_that_no_longer_reach_every_tenant_go_stale(
    home: Path, llm: FakeOpenAI
) -> None:
    old, page = _answer_citing(llm, "example", STORSKRALD, lambda p: p.source == "example")
    forced, _ = _answer_citing(llm, "example", FOLKEPENSION, lambda p: p.scope == "local")
    national, _ = _answer_citing(llm, "example", APPLY_FOR_PENSION, lambda p: p.scope == "national")
    assert _invoke("review", "approve", old.id).exit_code == 0
    with _db(home) as conn:  # what a release without the scope check let a reviewer do
        conn.execute("UPDATE answers SET scope = 'all' WHERE id = ?", (old.id,))
    assert Answerer(home=Settings.load()).answer("naboby", STORSKRALD).status == "approved"
    assert _invoke("review", "approve", forced.id, "--scope", "all", "--force").exit_code == 0
    assert _invoke("review", "approve", national.id, "--scope", "all").exit_code == 0

    with Store(Settings.load().database) as store:
        assert mark_stale(store) == []  # without the registry: only changed pages count
        stale = mark_stale(store, load_registry(Settings.load().spiders_dir))
    assert stale == [old.id]  # not the forced one, not the national one
    [_, action] = _trail(home, old.id)
    assert action["action"] == "stale" and action["reason"].startswith(
        "no longer shared by every tenant: " + page.url
    )
    assert Answerer(home=Settings.load()).answer("naboby", STORSKRALD).status != "approved"
