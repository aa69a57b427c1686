"""spiders/ validation: every mistake is named by file and field, and `sources check` exits 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from muni_crawl import SourceSpecError, UnknownSourceError, UnknownTenantError, load_registry
from muni_crawl.cli import cli

REPO = Path(__file__).resolve().parent.parent

GOOD = """
kind = "municipal"
tenants = ["testrup"]
start_urls = ["https://www.testrup.invalid/"]
allowed_domains = ["testrup.invalid"]
"""


def write(home: Path, name: str, text: str) -> Path:
    path = home / "spiders" / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_spiders_folder_loads_with_real_sources() -> None:
    registry = load_registry(REPO / "spiders")
    for slug in ("aarhus", "aalborg", "odense", "vejle", "varde", "koebenhavn", "example"):
        assert slug in registry.tenants
    kinds = {s.kind for s in registry.sources.values()}
    assert kinds == {"municipal", "borger_dk", "knowledge_base"}
    assert registry.source("borger.dk").api and registry.source("borger.dk").allowed_domains == (
        "www.borger.dk",
    )
    assert registry.source("borger.dk").feeds("aarhus")
    assert registry.source("aarhus").feeds("aarhus") and not registry.source("aarhus").feeds(
        "vejle"
    )
    assert registry.tenant("aarhus").code == 751


def test_a_minimal_file_on_a_loopback_address_is_valid(isolated_home: Path) -> None:
    write(
        isolated_home,
        "local.toml",
        'kind = "municipal"\ntenants = ["testrup"]\n'
        'start_urls = ["http://127.0.0.5:8080/"]\nallowed_domains = ["127.0.0.5:8080"]\n',
    )
    spec = load_registry(isolated_home / "spiders").source("local")
    assert spec.url_allowed("http://127.0.0.5:8080/side.html")
    assert not spec.url_allowed("http://127.0.0.6:8080/side.html")


def test_a_port_in_allowed_domains_admits_only_that_port(isolated_home: Path) -> None:
    write(
        isolated_home,
        "local.toml",
        'kind = "municipal"\ntenants = ["testrup"]\n'
        'start_urls = ["http://127.0.0.1:8761/"]\nallowed_domains = ["127.0.0.1:8761"]\n',
    )
    spec = load_registry(isolated_home / "spiders").source("local")
    assert spec.url_allowed("http://127.0.0.1:8761/a.html")
    assert not spec.url_allowed("http://127.0.0.1:8762/a.html")


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (GOOD + 'colour = "blue"\n', "colour", "unknown key"),
        (GOOD.replace('kind = "municipal"\n', ""), "kind", "missing required key"),
        (GOOD.replace('"municipal"', '"blog"'), "kind", "must be one of"),
        (GOOD + 'max_pages = "many"\n', "max_pages", "expected int"),
        (GOOD + "max_pages = -3\n", "max_pages", "must be between 1 and"),
        (GOOD.replace('["testrup"]', '["atlantis"]'), "tenants", "not declared"),
        (GOOD.replace("https://www.testrup.invalid/", "www.testrup.invalid"), "start_urls", "http"),
        (GOOD.replace('["testrup.invalid"]', '["https://x.dk/"]'), "allowed_domains", "host name"),
        (GOOD + 'sitemaps = ["https://elsewhere.invalid/sitemap.xml"]\n', "sitemaps", "outside"),
        (GOOD + 'exclude = ["(unclosed"]\n', "exclude", "regular expression"),
        (GOOD + 'schedule = "every night"\n', "schedule", "cron"),
        (GOOD + "enabled = 1\n", "enabled", "expected bool"),
        ('kind = "municipal"\ntenants = [\n', None, "invalid TOML"),
    ],
)
def test_each_mistake_names_file_and_field(
    isolated_home: Path, text: str, field: str | None, words: str
) -> None:
    write(isolated_home, "broken.toml", text)
    with pytest.raises(SourceSpecError) as info:
        load_registry(isolated_home / "spiders")
    error = info.value
    assert error.path.name == "broken.toml" and error.field == field
    assert words in str(error)
    result = CliRunner().invoke(cli, ["sources", "check"])
    assert result.exit_code == 1
    assert "broken.toml" in result.stderr and words in result.stderr


def test_sources_check_lists_every_problem_at_once(isolated_home: Path) -> None:
    write(isolated_home, "a.toml", GOOD + "bogus = 1\n")
    write(isolated_home, "b.toml", GOOD.replace('["testrup"]', '["nowhere"]'))
    write(isolated_home, "c.toml", GOOD)
    result = CliRunner().invoke(cli, ["sources", "check"])
    assert result.exit_code == 1
    assert "a.toml: bogus" in result.stderr and "b.toml: tenants" in result.stderr
    assert "2 problem(s)" in result.stderr


def test_bad_tenants_file_is_reported(isolated_home: Path) -> None:
    write(isolated_home, "tenants.toml", '[aarhus]\nname = "Aarhus"\ncode = 7510\n')
    result = CliRunner().invoke(cli, ["sources", "check"])
    assert result.exit_code == 1
    assert "tenants.toml: aarhus.code" in result.stderr
    assert "tenants.toml: aarhus.contact_url" not in result.stderr  # missing → reported below
    assert "contact_url" in result.stderr or "code" in result.stderr


def test_sources_list_shows_sources_and_tenants(isolated_home: Path) -> None:
    write(isolated_home, "testrup.toml", GOOD)
    result = CliRunner().invoke(cli, ["sources", "list", "--format", "json"])
    assert result.exit_code == 0 and '"source": "testrup"' in result.stdout
    result = CliRunner().invoke(cli, ["sources", "list", "--tenants", "--format", "csv"])
    assert result.exit_code == 0 and "testrup,Testkommune,990" in result.stdout


def test_unknown_names_are_clear_errors(isolated_home: Path) -> None:
    write(isolated_home, "testrup.toml", GOOD)
    registry = load_registry(isolated_home / "spiders")
    with pytest.raises(UnknownTenantError, match="unknown tenant 'atlantis'"):
        registry.tenant("atlantis")
    with pytest.raises(UnknownSourceError, match="known sources: testrup"):
        registry.source("nope")
    result = CliRunner().invoke(cli, ["crawl", "nope"])
    assert result.exit_code == 1 and "unknown source 'nope'" in result.stderr


def test_crawl_without_sources_is_a_usage_error(isolated_home: Path) -> None:
    result = CliRunner().invoke(cli, ["crawl"])
    assert result.exit_code == 2 and "--all" in result.stderr


def test_old_sites_command_still_works_with_a_note(isolated_home: Path) -> None:
    write(isolated_home, "testrup.toml", GOOD)
    """`muni-crawl sites` was renamed `sources`; the old name works for one release."""
    result = CliRunner().invoke(cli, ["sites", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "`muni-crawl sites` is now `muni-crawl sources`" in result.stderr
    new = CliRunner().invoke(cli, ["sources", "list", "--format", "json"])
    assert json.loads(result.stdout) == json.loads(new.stdout)


def test_old_python_names_resolve_with_a_deprecation_warning() -> None:
    import muni_crawl

    with pytest.warns(DeprecationWarning, match="SourceSpec"):
        assert muni_crawl.SiteSpec is muni_crawl.SourceSpec
    with pytest.warns(DeprecationWarning, match="SourceSpecError"):
        assert muni_crawl.SiteSpecError is SourceSpecError
