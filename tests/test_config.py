"""Settings: environment, settings file, types, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from muni_crawl import ConfigError, Settings
from muni_crawl.config import describe_settings


def test_home_comes_from_the_environment(isolated_home: Path) -> None:
    settings = Settings.load()
    assert settings.home == isolated_home
    assert settings.database == isolated_home / "muni_crawl.db"
    assert settings.spiders_dir == isolated_home / "spiders"


def test_environment_beats_settings_file_and_values_are_typed(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_home / "muni-crawl.toml").write_text(
        'max_pages = 77\nuser_agent = "fil/1.0"\nautothrottle = false\n', encoding="utf-8"
    )
    monkeypatch.setenv("MUNI_CRAWL_MAX_PAGES", "12")
    settings = Settings.load()
    assert settings.max_pages == 12
    assert settings.user_agent == "fil/1.0"
    assert settings.autothrottle is False


def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUNI_CRAWL_MAX_PAGES", "lots")
    with pytest.raises(ConfigError, match="MUNI_CRAWL_MAX_PAGES"):
        Settings.load()


def test_unknown_keys_in_the_settings_file_are_errors(isolated_home: Path) -> None:
    (isolated_home / "muni-crawl.toml").write_text("max_pagez = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown setting 'max_pagez'"):
        Settings.load()


def test_settings_survive_the_trip_to_a_worker_process(isolated_home: Path) -> None:
    import json

    settings = Settings.load(max_pages=9)
    raw = json.loads(settings.to_json())
    home = raw.pop("home")
    assert Settings.load(home, **raw) == settings


def test_every_setting_is_documented_in_the_settings_reference() -> None:
    docs = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
    reference = docs.read_text(encoding="utf-8")
    for _group, variable, _default, description in describe_settings():
        assert variable in reference, f"{variable} missing from docs/settings.md"
        assert description
