"""Knowledge-base feeds (selvbetjening.nu exports, ProKom, a spreadsheet of local variables):
real crawls of feeds served on 127.0.0.1 or kept as files in the home."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from muni_crawl import Home, SourceSpecError, load_registry, run_crawl
from muni_crawl.cli import cli
from muni_crawl.crawl.feeds import FeedError, read_feed
from muni_crawl.example.server import RunningSite, StaticSiteHandler, serve
from muni_crawl.types import Page

TOKEN = "s3cret-feed-token"
CSV = (
    "\ufeffkommunekode;titel;tekst;link\r\n"
    "990;Pris for beboerparkering;Beboerparkering koster 600 kr. om året.;"
    "https://testrup.invalid/parkering\r\n"
    "990;Åbningstid Borgerservice;Borgerservice har åbent 10-15, torsdag til 17.;\r\n"
    ";Log ind;Alle løsninger kræver MitID.;\r\n"
    "751;Storskrald i Aarhus;Ikke en af kildens kommuner.;https://aarhus.invalid/storskrald\r\n"
    "990;;En række uden titel;\r\n"
    "abc;Forkert kode;Kommunekoden er ikke et tal.;\r\n"
)
FIELDS = (
    '\n[fields]\nmunicipality_code = "kommunekode"\ntitle = "titel"\ntext = "tekst"\nurl = "link"\n'
)


class FeedHandler(StaticSiteHandler):
    """Serves the feed files only to a client with the right bearer token (when one is set)."""

    token: ClassVar[str | None] = None
    seen_auth: ClassVar[list[str | None]] = []
    redirect_to: ClassVar[str | None] = None

    def route(self, path: str) -> bool:
        auth = self.headers.get("Authorization")
        type(self).seen_auth.append(auth)
        if self.redirect_to is not None:
            self.send_response(302)
            self.send_header("Location", self.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        if self.token is not None and auth != f"Bearer {self.token}":
            self.send_text(401, "login required")
            return True
        return False


@pytest.fixture
def feed_site(tmp_path: Path) -> Iterator[RunningSite]:
    root = tmp_path / "feed"
    root.mkdir()
    (root / "variabler.csv").write_bytes(CSV.encode("utf-8"))
    handler = type("Feed", (FeedHandler,), {"token": None, "seen_auth": []})
    site = serve(root, handler=handler, name="feed")
    yield site
    site.stop()


def _handler(site: RunningSite) -> type[FeedHandler]:
    handler: object = site.server.RequestHandlerClass
    assert isinstance(handler, type) and issubclass(handler, FeedHandler)
    return handler


def _feed_root(site: RunningSite) -> Path:
    return _handler(site).root


def _source(home: Path, name: str, feed: str, extra: str = "") -> None:
    (home / "spiders" / f"{name}.toml").write_text(
        f'kind = "knowledge_base"\ntenants = ["testrup"]\nfeed = "{feed}"\n{extra}',
        encoding="utf-8",
    )


def _pages(source: str) -> dict[str, Page]:
    with Home.open() as home, home.page_store() as store:
        return {p.title: p for p in store.pages(source, include_deleted=True)}


def test_a_semicolon_csv_with_a_bom_becomes_one_page_per_record(
    isolated_home: Path, feed_site: RunningSite
) -> None:
    _source(isolated_home, "lokal", feed_site.url + "/variabler.csv", FIELDS)
    [summary] = run_crawl(["lokal"])
    assert summary.status == "ok" and summary.new == 3, summary
    message = summary.message or ""
    assert "1 record(s) for municipalities this source does not feed" in message
    assert "2 malformed record(s) skipped (row 5: no titel, row 6: kommunekode" in message
    pages = _pages("lokal")
    price = pages["Pris for beboerparkering"]
    assert price.url == "https://testrup.invalid/parkering" and "600 kr." in price.text
    assert price.scope == "local" and price.municipality_code == 990
    hours = pages["Åbningstid Borgerservice"]  # no link: a stable address made from the feed
    assert hours.url.startswith(feed_site.url + "/variabler.csv#record-")
    assert pages["Log ind"].scope == "site"  # no municipality: every tenant of the source
    assert "Storskrald i Aarhus" not in pages


def test_changed_and_removed_records_are_new_versions_and_deletions(
    isolated_home: Path, feed_site: RunningSite
) -> None:
    _source(isolated_home, "lokal", feed_site.url + "/variabler.csv", FIELDS)
    run_crawl(["lokal"])
    [unchanged] = run_crawl(["lokal"])
    assert (unchanged.not_modified, unchanged.new, unchanged.changed) == (1, 0, 0)  # a 304
    before = _pages("lokal")["Åbningstid Borgerservice"].url
    feed = _feed_root(feed_site) / "variabler.csv"
    text = feed.read_text(encoding="utf-8-sig")
    text = text.replace("600 kr.", "650 kr.").replace("torsdag til 17", "torsdag til 18")
    text = "\n".join(line for line in text.splitlines() if not line.startswith(";Log ind"))
    feed.write_text(text, encoding="utf-8")
    [changed] = run_crawl(["lokal"])
    assert (changed.changed, changed.deleted, changed.new) == (2, 1, 0), changed
    pages = _pages("lokal")
    assert "650 kr." in pages["Pris for beboerparkering"].text
    assert pages["Åbningstid Borgerservice"].url == before  # an edited text keeps its address
    assert pages["Log ind"].status == "deleted"


def test_a_token_is_sent_from_the_named_variable_and_its_absence_names_it(
    isolated_home: Path, feed_site: RunningSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = _handler(feed_site)
    handler.token = TOKEN
    _source(
        isolated_home,
        "hemmelig",
        feed_site.url + "/variabler.csv",
        'auth_env = "FEED_TOKEN"\n' + FIELDS,
    )
    (isolated_home / "fil.json").write_text(
        json.dumps([{"title": "Fra en fil", "text": "Lokal viden.", "municipality_code": 990}]),
        encoding="utf-8",
    )
    _source(isolated_home, "fil", "fil.json")
    monkeypatch.delenv("FEED_TOKEN", raising=False)
    missing, other = run_crawl(["hemmelig", "fil"])
    assert missing.status == "failed" and "FEED_TOKEN" in (missing.message or "")
    assert other.status == "ok" and other.new == 1  # the other sources go on
    assert handler.seen_auth == []  # nothing was sent without the token
    monkeypatch.setenv("FEED_TOKEN", "wrong")
    [refused] = run_crawl(["hemmelig"])
    assert refused.status == "failed" and "HTTP 401" in (refused.message or "")
    assert "FEED_TOKEN" in (refused.message or "") and "wrong" not in (refused.message or "")
    monkeypatch.setenv("FEED_TOKEN", TOKEN)
    [granted] = run_crawl(["hemmelig"])
    assert granted.status == "ok" and granted.new == 3, granted
    assert handler.seen_auth[-1] == f"Bearer {TOKEN}"


def test_a_feed_longer_than_the_cap_keeps_the_first_records(isolated_home: Path) -> None:
    rows = [{"title": f"Fakta {n}", "text": f"Tekst nummer {n}."} for n in range(50)]
    (isolated_home / "lang.json").write_text(json.dumps(rows), encoding="utf-8")
    _source(isolated_home, "lang", "lang.json", "max_pages = 10\n")
    [summary] = run_crawl(["lang"])
    assert summary.capped and summary.new == 10, summary
    assert "50 records, only the first 10 kept" in (summary.message or "")


def test_a_redirect_elsewhere_never_carries_the_token(
    isolated_home: Path, feed_site: RunningSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feed's host answers with a redirect to another server: it is refused, not followed."""
    (tmp_path / "other").mkdir()
    thief = serve(tmp_path / "other", handler=type("Thief", (FeedHandler,), {"seen_auth": []}))
    try:
        _handler(feed_site).redirect_to = thief.url + "/variabler.csv"
        monkeypatch.setenv("FEED_TOKEN", TOKEN)
        _source(
            isolated_home, "lokal", feed_site.url + "/variabler.csv", 'auth_env = "FEED_TOKEN"\n'
        )
        [summary] = run_crawl(["lokal"])
    finally:
        thief.stop()
    assert summary.status == "failed", summary
    assert _handler(thief).seen_auth == []  # never contacted, so never given the token


def test_a_file_feed_in_the_home_and_a_missing_one(isolated_home: Path) -> None:
    lines = [
        {
            "id": "p1",
            "title": "Pris på pas",
            "text": "Pas koster 721 kr.",
            "municipality_code": "990",
        },
        {
            "title": "Hundeskat",
            "text": "Der er ingen hundeskat i Danmark.",
            "updated": "2026-01-01",
        },
    ]
    folder = isolated_home / "viden"
    folder.mkdir()
    (folder / "prokom.jsonl").write_text(
        "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8"
    )
    _source(isolated_home, "prokom", "viden/prokom.jsonl")
    [summary] = run_crawl(["prokom"])
    assert summary.status == "ok" and summary.new == 2, summary
    pages = _pages("prokom")
    assert pages["Hundeskat"].url.startswith("kb://prokom/viden/prokom.jsonl#record-")
    assert "Opdateret: 2026-01-01" in pages["Hundeskat"].text
    (folder / "prokom.jsonl").unlink()
    [gone] = run_crawl(["prokom"])
    assert gone.status == "failed" and "cannot read the feed file" in (gone.message or "")
    assert _pages("prokom")["Hundeskat"].status == "live"  # a missing file deletes nothing


@pytest.mark.parametrize(
    "body",
    [
        b'[{"title": "A", "text": "a"}, {"title": "B", "text": "b"}]',
        b'{"records": [{"title": "A", "text": "a"}, {"title": "B", "text": "b"}]}',
        b'{"title": "A", "text": "a"}\n{"title": "B", "text": "b"}\n',
        b"title,text\nA,a\nB,b\n",
        b"\xef\xbb\xbftitle;text\r\nA;a\r\nB;b\r\n",
    ],
)
def test_every_supported_format_reads_the_same_records(body: bytes) -> None:
    fmt = "csv" if not body.lstrip(b"\xef\xbb\xbf").startswith((b"[", b"{")) else "json"
    read = read_feed(body, fmt)
    assert [(r.title, r.text) for r in read.records] == [("A", "a"), ("B", "b")]
    assert read.malformed == []


@pytest.mark.parametrize(
    ("body", "fmt", "error"),
    [
        (b"{broken", "json", "invalid JSON"),
        (b'{"items": []}', "json", "'records' array"),
        (b'"just a string"', "json", "array of records"),
        (b"\xff\xfe\x00t", "csv", "not UTF-8"),
        (b"", "csv", "empty CSV"),
    ],
)
def test_an_unreadable_feed_is_a_clear_error(body: bytes, fmt: str, error: str) -> None:
    with pytest.raises(FeedError, match=error):
        read_feed(body, fmt)


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ('feed = "/etc/passwd"\n', "feed", "a path inside the home"),
        ('feed = "../udenfor.csv"\n', "feed", "a path inside the home"),
        ('feed = "x.csv"\nformat = "xml"\n', "format", "json, jsonl, csv"),
        ('feed = "x.csv"\nauth_env = "MY-TOKEN"\n', "auth_env", "not a variable name"),
        ('feed = "x.csv"\n[fields]\nprice = "pris"\n', "fields.price", "unknown field"),
        ('feed = "x.csv"\napi = "https://a.invalid/x"\n', "api", "not a key of kind"),
        ("", "feed", "missing"),
    ],
)
def test_bad_feed_sources_are_named_by_field(
    isolated_home: Path, extra: str, field: str, words: str
) -> None:
    (isolated_home / "spiders" / "kb.toml").write_text(
        f'kind = "knowledge_base"\ntenants = ["testrup"]\n{extra}', encoding="utf-8"
    )
    with pytest.raises(SourceSpecError) as info:
        load_registry(isolated_home / "spiders")
    assert info.value.field == field and words in str(info.value)


def test_the_retired_selvbetjening_kind_says_what_replaced_it(isolated_home: Path) -> None:
    (isolated_home / "spiders" / "sb.toml").write_text(
        'kind = "selvbetjening"\ntenants = ["testrup"]\nstart_urls = ["https://sb.invalid/"]\n'
        'allowed_domains = ["sb.invalid"]\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["sources", "check"])
    assert result.exit_code == 1 and "knowledge_base" in result.stderr
