"""`muni-crawl init`: a starter home that validates as written, and with every commented-out
option switched on; existing files are never overwritten without --force."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

from click.testing import CliRunner

from muni_crawl import Settings
from muni_crawl.cli import cli
from muni_crawl.config import describe_settings
from muni_crawl.sources import KINDS, check_registry

STARTER_FILES = [
    "spiders/tenants.toml",
    "spiders/aarhus.toml",
    "spiders/borger.dk.toml",
    "spiders/knowledge-base.toml",
    "muni-crawl.toml",
]
# a commented-out option line: "# key = value" (prose comments never take that shape)
OPTION_LINE = re.compile(r"^# ([a-z_]+ = .+)$", re.M)


def _init(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["init", *args])
    return result.exit_code, result.stdout, result.stderr


def _switch_on_options(home: Path) -> list[str]:
    """Uncomment every "# key = value" line of the starter files; return the keys."""
    keys = []
    for name in STARTER_FILES:
        path = home / name
        text = path.read_text(encoding="utf-8")
        keys += [m.split(" = ")[0] for m in OPTION_LINE.findall(text)]
        path.write_text(OPTION_LINE.sub(r"\1", text), encoding="utf-8")
    return keys


def test_init_writes_a_home_that_validates_with_one_source_of_each_kind(tmp_path: Path) -> None:
    home = tmp_path / "new-home"
    code, out, _ = _init(str(home))
    assert code == 0, out
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()) == sorted(
        STARTER_FILES
    )
    registry, errors = check_registry(home / "spiders")
    assert errors == []
    assert {s.kind for s in registry.sources.values()} == set(KINDS)
    [tenant] = registry.tenants.values()
    assert (tenant.slug, tenant.code) == ("aarhus", 751)
    borger = registry.source("borger.dk")
    assert borger.api == "https://www.borger.dk/_vti_bin/borger/ArticleExport.svc"
    assert borger.tenants == ("*",) and borger.feeds("aarhus")
    feed = registry.source("knowledge-base")
    assert not feed.enabled and feed.feed == "feeds/local-variables.csv"
    assert feed.fields is not None
    assert set(feed.fields) == {"municipality_code", "title", "text", "url", "updated"}
    municipal = registry.source("aarhus")
    assert municipal.sitemaps and municipal.exclude and municipal.max_pages == 20000
    # the settings file is all comments: the defaults apply
    assert tomllib.loads((home / "muni-crawl.toml").read_text(encoding="utf-8")) == {}

    result = CliRunner().invoke(cli, ["--home", str(home), "sources", "check"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "ok: 1 tenants, 3 sources"


def test_every_commented_option_is_valid_when_switched_on(tmp_path: Path) -> None:
    home = tmp_path / "home2"
    assert _init(str(home))[0] == 0
    keys = _switch_on_options(home)
    assert {"articles", "format", "auth_env", "user_agent", "llm_model"} <= set(keys)
    registry, errors = check_registry(home / "spiders")
    assert errors == []
    assert registry.source("knowledge-base").auth_env == "KNOWLEDGE_BASE_TOKEN"
    assert registry.source("knowledge-base").feed_format == "csv"
    assert len(registry.source("borger.dk").articles) == 3
    settings = Settings.load(home)
    assert settings.llm_model == "gpt-4o-mini" and settings.embedding_threads == 1
    # every setting the file shows is a real one (Settings.load refuses unknown names too)
    names = {v.removeprefix("MUNI_CRAWL_").lower() for _, v, _, _ in describe_settings()}
    written = tomllib.loads((home / "muni-crawl.toml").read_text(encoding="utf-8"))
    assert set(written) <= names and len(written) >= 8


def test_init_prints_what_to_edit_and_the_commands_to_run(tmp_path: Path) -> None:
    home = tmp_path / "with space"
    code, out, _ = _init(str(home))
    assert code == 0
    for name in STARTER_FILES:
        assert name in out
    prefix = f"muni-crawl --home {shlex.quote(str(home))} "
    for command in ("sources check", "crawl --all", 'ask aarhus "', "schedule"):
        assert prefix + command in out, out
    assert "enabled = true" in out and "user_agent" in out


def test_init_defaults_to_the_home_and_then_needs_no_home_option(tmp_path: Path) -> None:
    home = tmp_path / "by-option"
    result = CliRunner().invoke(cli, ["--home", str(home), "init"])
    assert result.exit_code == 0, result.output
    assert (home / "spiders" / "borger.dk.toml").is_file()
    result = CliRunner().invoke(cli, ["init"], env={"MUNI_CRAWL_HOME": str(tmp_path / "by-env")})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "by-env" / "muni-crawl.toml").is_file()
    # the commands shown are for the home the other commands use by default: no --home
    assert "\n  muni-crawl sources check\n" in result.stdout


def test_init_refuses_to_overwrite_and_names_the_files(isolated_home: Path) -> None:
    # the test home already has spiders/tenants.toml
    tenants = (isolated_home / "spiders" / "tenants.toml").read_text(encoding="utf-8")
    code, out, err = _init()
    assert code == 1 and out == ""
    assert f"{isolated_home} already has spiders/tenants.toml;" in err
    assert "--force" in err
    assert (isolated_home / "spiders" / "tenants.toml").read_text(encoding="utf-8") == tenants
    assert not (isolated_home / "spiders" / "borger.dk.toml").exists()  # nothing half-written

    (isolated_home / "muni-crawl.toml").write_text("llm_model = 'mine'\n", encoding="utf-8")
    code, _, err = _init()
    assert code == 1 and "spiders/tenants.toml, muni-crawl.toml; not overwriting them" in err

    code, out, _ = _init("--force")
    assert code == 0 and "spiders/tenants.toml" in out and "(replaced)" in out
    assert "aarhus" in (isolated_home / "spiders" / "tenants.toml").read_text(encoding="utf-8")
    assert Settings.load(isolated_home).llm_model == ""


def test_init_into_a_file_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x", encoding="utf-8")
    code, _, err = _init(str(target))
    assert code == 2 and "a-file" in err and "is a file" in err
