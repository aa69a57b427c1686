"""The bundled example through `muni-crawl demo`: borger.dk articles through the fake
ArticleExport service (national text once, local text per municipality), the local-variables feed,
sitemap indexes, PDFs, robots.txt, and a re-run that stores nothing new."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from muni_crawl import Settings, Store
from muni_crawl.cli import cli
from tests.conftest import example_ports_lock

REPO = Path(__file__).resolve().parent.parent


def _use_repo_spiders(home: Path) -> None:
    shutil.rmtree(home / "spiders")
    shutil.copytree(REPO / "spiders", home / "spiders")


def test_demo_crawls_the_example_sites_and_a_rerun_is_incremental(isolated_home: Path) -> None:
    _use_repo_spiders(isolated_home)
    with example_ports_lock():
        first = CliRunner().invoke(cli, ["demo"])
    assert first.exit_code == 0, first.output
    assert "pages stored" in first.stdout

    with Store(Settings.load().database) as store:
        pages = store.pages()
        versions = store.count_versions()
    by_url = {p.url: p for p in pages}
    kommune = "http://127.0.0.1:8761"
    borger = "http://127.0.0.1:8762"
    # sitemap index -> child sitemaps -> pages and PDFs
    assert kommune + "/dokumenter/affaldskalender-2026.pdf" in by_url
    assert len([p for p in pages if p.source == "example"]) >= 30
    # robots.txt keeps /intern/ out
    assert not any("HEMMELIG-INTERN-MARKØR" in p.text for p in pages)
    # the borger.dk national body is stored once, each local section separately, tagged
    laege = borger + "/sundhed/skift-af-laege.html"
    assert by_url[laege].scope == "national" and by_url[laege].municipality_code is None
    assert "NABOBY-LOKAL" not in by_url[laege].text
    assert by_url[laege + "#kommune-998"].municipality_code == 998
    assert "NABOBY-LOKAL" in by_url[laege + "#kommune-998"].text
    assert "NABOBY-LOKAL" not in by_url[laege + "#kommune-999"].text
    assert laege + "#kommune-998" not in {
        p.url for p in pages if p.url.startswith(borger + "/pension/folkepension.html")
    }
    # the local-variables feed (a semicolon CSV with a BOM): one page per record, cited with its
    # own link, tagged with its municipality; a record for a municipality that is not a tenant
    # of the source is skipped and counted
    entry = by_url["https://selvbetjening.eksempel.dk/parkering"]
    assert entry.scope == "local" and entry.municipality_code == 999
    assert "600 kr." in entry.text and entry.title == "Ansøg om beboerparkeringstilladelse"
    assert not any("aarhus" in p.url for p in pages)
    assert "1 record(s) for municipalities this source does not feed" in first.stdout
    naboby_entries = [
        p for p in pages if p.source == "example-selvbetjening" and p.municipality_code == 998
    ]
    assert naboby_entries and all("NABOBY-SB" in p.text for p in naboby_entries)

    with example_ports_lock():
        second = CliRunner().invoke(cli, ["demo"])
    assert second.exit_code == 0, second.output
    with Store(Settings.load().database) as store:
        assert store.count_versions() == versions
        runs = [r.to_dict() for r in store.runs(limit=4)]
    assert all(r["new"] == 0 and r["changed"] == 0 and r["status"] == "ok" for r in runs)


def test_runs_lists_crawl_history_as_json(isolated_home: Path) -> None:
    _use_repo_spiders(isolated_home)
    with example_ports_lock():
        assert CliRunner().invoke(cli, ["demo"]).exit_code == 0
    result = CliRunner().invoke(cli, ["runs", "--source", "naboby", "--format", "json"])
    rows = json.loads(result.stdout)
    assert rows[0]["source"] == "naboby" and rows[0]["new"] == 6


def test_demo_without_the_example_sources_says_where_they_are(isolated_home: Path) -> None:
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 1 and "example" in result.stderr and "spiders" in result.stderr
