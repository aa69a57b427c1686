"""A real install: the wheel built from this repository, installed into a fresh venv, runs
`muni-crawl init`, `sources check` and `demo` in empty folders, with no checkout in sight.

The wheel is built once per session from a copy of the package's sources (so the build leaves
nothing in the shared checkout), with `--no-build-isolation`: an isolated build would fetch
setuptools from the network, which this machine does not have; the venv's own setuptools builds
it instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from muni_crawl.example.seed import EXAMPLE_SOURCES
from tests.conftest import REPO, example_ports_lock

PACKAGE = REPO / "muni_crawl"
PIP = [sys.executable, "-m", "pip"]


@dataclass(frozen=True)
class Install:
    wheel: Path
    venv: Path

    @property
    def command(self) -> Path:
        return self.venv / "bin" / "muni-crawl"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


def _run(
    args: Sequence[str | Path], cwd: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Install:
    """The wheel, built once, installed into a fresh venv."""
    base = tmp_path_factory.mktemp("install")
    source = base / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        PACKAGE, source / "muni_crawl", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    wheels = base / "wheels"
    build = _run(
        [
            *PIP,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            wheels,
            source,
        ],
        cwd=base,
        env=_clean_env(),
        timeout=180,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = wheels.glob("muni_crawl-*.whl")
    venv = base / "venv"
    # a plain venv: neither this checkout nor this venv's packages are visible in it
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    install = Install(wheel, venv)
    pip = _run(
        [*PIP, "--python", install.python, "install", "--no-deps", "--no-index", "--quiet", wheel],
        cwd=base,
        env=_clean_env(),
        timeout=180,
    )
    assert pip.returncode == 0, pip.stderr
    # The dependencies (scrapy, faiss, the packaged model, ...) are already installed in this
    # venv and cannot be downloaded here. A .pth line appends this venv's site-packages to the
    # new venv's sys.path, after its own site-packages: muni_crawl comes from the wheel, the
    # dependencies from here. (`--system-site-packages` would expose the base interpreter's
    # site-packages, not this venv's; and a .pth path line does not run this venv's own .pth
    # files, so the editable install of the checkout stays out.)
    own = _run(
        [install.python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        cwd=base,
        env=_clean_env(),
    )
    Path(own.stdout.strip(), "_muni_crawl_test_dependencies.pth").write_text(
        sysconfig.get_path("purelib") + "\n", encoding="utf-8"
    )
    return install


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without the test session's home, settings or Python path."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("MUNI_CRAWL_")
        and name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    return {**env, **extra}


def _empty_folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder


def test_the_wheel_holds_the_example_and_the_starter_files(installed: Install) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    data = [
        path
        for folder in ("example/sites", "example/spiders", "starter")
        for path in sorted((PACKAGE / folder).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert len(data) > 70
    missing = [str(p.relative_to(REPO)) for p in data if str(p.relative_to(REPO)) not in names]
    assert missing == []
    for source in EXAMPLE_SOURCES:
        assert f"muni_crawl/example/spiders/{source}.toml" in names
    assert "muni_crawl/py.typed" in names and "muni_crawl/calibration.toml" in names


def test_the_installed_package_is_the_wheel_not_the_checkout(
    installed: Install, tmp_path: Path
) -> None:
    probe = _run(
        [installed.python, "-c", "import muni_crawl, sys; print(muni_crawl.__file__)"],
        cwd=_empty_folder(tmp_path, "probe"),
        env=_clean_env(),
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).is_relative_to(installed.venv), probe.stdout
    version = _run([installed.command, "--version"], cwd=tmp_path, env=_clean_env())
    assert version.returncode == 0 and "0.1.0" in version.stdout, version


def test_init_then_sources_check_from_the_installed_command(
    installed: Install, tmp_path: Path
) -> None:
    home = _empty_folder(tmp_path, "starter")
    init = _run([installed.command, "init"], cwd=home, env=_clean_env())
    assert init.returncode == 0, init.stderr
    assert "muni-crawl sources check" in init.stdout
    assert (home / "spiders" / "knowledge-base.toml").is_file()
    assert (home / "muni-crawl.toml").is_file()
    check = _run([installed.command, "sources", "check"], cwd=home, env=_clean_env())
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "ok: 1 tenants, 3 sources"
    again = _run([installed.command, "init"], cwd=home, env=_clean_env())
    assert again.returncode == 1 and "not overwriting" in again.stderr


@pytest.mark.slow
def test_demo_runs_in_an_empty_folder_from_the_installed_command(
    installed: Install, tmp_path: Path, shared_embedding_cache: Path
) -> None:
    folder = _empty_folder(tmp_path, "demo")
    env = _clean_env(
        MUNI_CRAWL_EMBEDDING_THREADS="1",
        # the session's embedding cache: texts another test embedded are not embedded again
        MUNI_CRAWL_EMBEDDING_CACHE=str(shared_embedding_cache),
    )
    with example_ports_lock():
        demo = _run([installed.command, "demo"], cwd=folder, env=env, timeout=280)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "had no source files: copied the bundled example's sources and tenants" in demo.stderr
    assert sorted(p.stem for p in (folder / "spiders").glob("*.toml")) == sorted(
        [*EXAMPLE_SOURCES, "tenants"]
    )
    assert "pages stored" in demo.stdout
    answers = demo.stdout.split("\n[")[1:]
    assert len(answers) == 5, demo.stdout
    assert answers[0].startswith("example] Hvornår henter I storskrald?")
    assert "[1] http://127.0.0.1:8761/affald/storskrald.html" in answers[0]
    assert "[1] http://127.0.0.1:8764/affald/storskrald.html" in answers[1]
    assert "[1] https://selvbetjening.eksempel.dk/parkering" in answers[3]  # the CSV feed
    assert answers[4].startswith("naboby] Hvad er hovedstaden i Frankrig?")
    assert "(no_answer:" in answers[4]
    # every example source crawled cleanly and stored pages, read back with the installed CLI
    runs = _run([installed.command, "runs", "--format", "json"], cwd=folder, env=env)
    assert runs.returncode == 0, runs.stderr
    by_source = {row["source"]: row for row in json.loads(runs.stdout)}
    assert sorted(by_source) == sorted(EXAMPLE_SOURCES)
    for source, row in by_source.items():
        assert row["status"] == "ok" and row["new"] > 0, (source, row)
