"""The example's spiders/ files ship with the package, in step with the repository's spiders/,
and `muni-crawl demo` seeds an empty home with them but leaves a home with other sources alone."""

from __future__ import annotations

import importlib.util
import shutil
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from muni_crawl.cli import cli
from muni_crawl.example.seed import (
    EXAMPLE_SOURCES,
    EXAMPLE_TENANTS,
    PACKAGED_SPIDERS,
    is_empty,
    seed_spiders,
)
from muni_crawl.sources import load_registry
from tests.conftest import REPO

SPIDERS = REPO / "spiders"


def _load_sync_script() -> ModuleType:
    path = REPO / "scripts" / "sync_example_spiders.py"
    spec = importlib.util.spec_from_file_location("sync_example_spiders", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tenants(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("source", EXAMPLE_SOURCES)
def test_the_packaged_source_files_are_the_repositorys(source: str) -> None:
    """Run scripts/sync_example_spiders.py when this fails (see docs/development.md)."""
    packaged = PACKAGED_SPIDERS / f"{source}.toml"
    assert packaged.read_bytes() == (SPIDERS / f"{source}.toml").read_bytes(), (
        f"{packaged} differs from spiders/{source}.toml: run scripts/sync_example_spiders.py"
    )


def test_the_packaged_tenants_are_the_repositorys_example_tenants() -> None:
    declared = _tenants(SPIDERS / "tenants.toml")
    packaged = _tenants(PACKAGED_SPIDERS / "tenants.toml")
    assert packaged == {slug: declared[slug] for slug in EXAMPLE_TENANTS}, (
        "run scripts/sync_example_spiders.py"
    )
    assert sorted(p.name for p in PACKAGED_SPIDERS.iterdir()) == sorted(
        ["tenants.toml", *(f"{s}.toml" for s in EXAMPLE_SOURCES)]
    )


def test_the_sync_script_is_current_and_names_a_stale_copy(tmp_path: Path) -> None:
    sync = _load_sync_script()
    assert sync.main(["--check"]) == 0
    edited = tmp_path / "spiders"
    shutil.copytree(SPIDERS, edited)
    with (edited / "naboby.toml").open("a", encoding="utf-8") as handle:
        handle.write('schedule = "0 4 * * *"\n')
    tenants = (edited / "tenants.toml").read_text(encoding="utf-8")
    (edited / "tenants.toml").write_text(
        tenants.replace('name = "Eksempel Kommune"', 'name = "Eksempel Kommune (ny)"'),
        encoding="utf-8",
    )
    assert sync.stale(spiders=edited) == ["tenants.toml", "naboby.toml"]


def test_seeding_fills_a_missing_or_empty_folder_and_loads(tmp_path: Path) -> None:
    missing = tmp_path / "a" / "spiders"
    assert is_empty(missing)
    written = seed_spiders(missing)
    assert sorted(p.name for p in written) == sorted(p.name for p in PACKAGED_SPIDERS.iterdir())
    registry = load_registry(missing)
    assert sorted(registry.sources) == sorted(EXAMPLE_SOURCES)
    assert sorted(registry.tenants) == sorted(EXAMPLE_TENANTS)
    empty = tmp_path / "b" / "spiders"
    (empty / "notes").mkdir(parents=True)  # no TOML file: nothing to lose
    assert is_empty(empty) and len(seed_spiders(empty)) == 1 + len(EXAMPLE_SOURCES)
    # seeding again would overwrite someone's files: refused
    assert not is_empty(missing)
    with pytest.raises(FileExistsError, match="not empty"):
        seed_spiders(missing)


def test_a_folder_with_only_a_tenants_file_is_not_empty(tmp_path: Path) -> None:
    spiders = tmp_path / "spiders"
    spiders.mkdir()
    (spiders / "tenants.toml").write_text("", encoding="utf-8")
    assert not is_empty(spiders)


def test_demo_in_a_home_with_other_sources_suggests_an_empty_folder(
    isolated_home: Path,
) -> None:
    (isolated_home / "spiders" / "testrup.toml").write_text(
        'kind = "municipal"\ntenants = ["testrup"]\nstart_urls = ["https://testkommune.invalid/"]\n'
        'allowed_domains = ["testkommune.invalid"]\n',
        encoding="utf-8",
    )
    before = sorted(p.name for p in (isolated_home / "spiders").iterdir())
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 1, result.output
    assert "example, naboby, example-borger, example-selvbetjening" in result.stderr
    assert "muni-crawl --home <empty folder> demo" in result.stderr
    assert str(isolated_home / "spiders") in result.stderr
    # left alone: nothing seeded, nothing crawled
    assert sorted(p.name for p in (isolated_home / "spiders").iterdir()) == before
    assert not (isolated_home / "muni_crawl.db").exists()


def test_demo_where_spiders_is_a_file_says_so(isolated_home: Path) -> None:
    shutil.rmtree(isolated_home / "spiders")
    (isolated_home / "spiders").write_text("not a folder", encoding="utf-8")
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 1, result.output
    assert "cannot copy the bundled example's spiders files" in result.stderr
    assert str(isolated_home / "spiders") in result.stderr
