"""Home: a home opened once hands out its settings by concern, its registry and its stores."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from muni_crawl import Home, Settings
from muni_crawl.config import SETTING_GROUPS, setting_group
from muni_crawl.errors import SourceSpecError


def test_a_home_opens_once_and_closes_every_store_it_opened(isolated_home: Path) -> None:
    with Home.open() as home:
        assert home.path == isolated_home
        assert home.paths.database == isolated_home / "muni_crawl.db"
        assert home.registry is home.registry  # loaded once
        both, pages, answers = home.store(), home.page_store(), home.answer_store()
        assert both.runs() == pages.runs() == [] and answers.approved_answers() == []
    for store in (both, pages, answers):  # closed with the home
        with pytest.raises(sqlite3.ProgrammingError):
            store.db.execute("SELECT 1")


def test_the_entry_points_take_a_home_its_settings_or_its_path(isolated_home: Path) -> None:
    settings = Settings.load(isolated_home)
    opened = Home(settings)
    assert Home.of(opened) is opened
    assert Home.of(settings).settings is settings
    assert Home.of(isolated_home).path == Home.of(str(isolated_home)).path == isolated_home
    assert Home.of(None).path == isolated_home  # MUNI_CRAWL_HOME


def test_a_broken_spiders_file_fails_when_the_registry_is_first_needed(isolated_home: Path) -> None:
    (isolated_home / "spiders" / "bad.toml").write_text("kind = 'nonsense'\n", encoding="utf-8")
    home = Home.open()  # opening reads only the settings: `status` or `usage` still work
    with pytest.raises(SourceSpecError, match=r"bad\.toml"):
        _ = home.registry
    (isolated_home / "spiders" / "bad.toml").unlink()
    assert home.reload_registry().tenants


def test_every_setting_belongs_to_exactly_one_group() -> None:
    names = [f.name for f in dataclasses.fields(Settings)]
    grouped = [f.name for group in SETTING_GROUPS.values() for f in dataclasses.fields(group)]
    paths_only = {"db_path", "embedding_cache"}  # reached through Settings.paths
    assert sorted(set(names) - paths_only) == sorted(name for name in grouped if name in names), (
        "a setting without a group (or in two)"
    )
    assert len(grouped) == len(set(grouped))
    assert {setting_group(name) for name in names} == set(SETTING_GROUPS)


def test_each_stage_sees_its_group_with_the_loaded_values(isolated_home: Path) -> None:
    settings = Settings.load(isolated_home, llm_model="gpt-4o-mini", chunk_max_tokens=300)
    assert settings.llm.llm_model == "gpt-4o-mini"
    assert settings.index.chunk_max_tokens == 300
    assert settings.crawl.user_agent == settings.user_agent
    assert settings.paths.indexes_dir == isolated_home / "indexes"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.llm.llm_model = "other"  # type: ignore[misc]
