"""An install that works with the pip people have, and a broken one that says what is wrong.

pip 23 (what a fresh Python 3.11 venv ships) does not match lxml 6's ``html-clean`` extra to
the ``lxml[html_clean]`` that justext asks for, so lxml_html_clean was silently left out and
every crawl worker died on import. Every distribution the package imports is declared, and a
worker that dies anyway reports the cause.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from click.testing import CliRunner

from muni_crawl import run_crawl
from muni_crawl.cli import cli
from tests.conftest import REPO, SiteFactory, calm, site_handler, write_source

PACKAGE = REPO / "muni_crawl"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(requirements: list[str]) -> set[str]:
    return {_normalise(re.split(r"[\s<>=!~;\[(]", r.strip(), maxsplit=1)[0]) for r in requirements}


def _third_party_imports() -> dict[str, tuple[set[str], bool]]:
    """Top-level module -> (files importing it, whether any import is at module level)."""
    found: dict[str, tuple[set[str], bool]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("muni_crawl", "__future__"):
                    continue
                files, eager = found.get(top, (set(), False))
                files.add(str(path.relative_to(REPO)))
                found[top] = (files, eager or id(node) in module_level)
    return found


@pytest.mark.slow
def test_every_third_party_import_is_a_declared_dependency() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    required = _declared(project["dependencies"])
    optional = {
        extra: _declared(requirements)
        for extra, requirements in project["optional-dependencies"].items()
    }
    providers = packages_distributions()
    imports = _third_party_imports()
    assert {"scrapy", "lxml", "cssselect", "twisted", "trafilatura"} <= set(imports)
    problems = []
    for module, (files, eager) in sorted(imports.items()):
        distributions = {_normalise(d) for d in providers.get(module, [])}
        if not distributions:
            problems.append(f"{module} (imported in {sorted(files)}) is not installed")
        elif eager and not distributions & required:
            problems.append(f"{module} is imported when {sorted(files)} load: not in dependencies")
        elif not distributions & (required | set().union(*optional.values())):
            problems.append(f"{module} (imported in {sorted(files)}) is declared nowhere")
    assert not problems, problems
    # not imported by us, but without it trafilatura cannot be imported (see module docstring)
    assert "lxml-html-clean" in required


def test_a_worker_that_cannot_import_its_dependencies_reports_the_cause(
    isolated_home: Path,
    site_server: SiteFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a broken install, as pip 23 leaves it: lxml_html_clean present on the path but unusable
    broken = tmp_path / "broken-site-packages" / "lxml_html_clean"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('No module named lxml_html_clean')\n")
    monkeypatch.setenv("PYTHONPATH", str(broken.parent))
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    [summary] = run_crawl(["testrup"])
    assert summary.status == "failed"
    assert summary.message is not None
    assert "ImportError" in summary.message and "lxml_html_clean" in summary.message
    assert "no summary" in summary.message  # and it says the worker died before writing one
    result = CliRunner().invoke(cli, ["crawl", "testrup", "--no-index", "--format", "json"])
    assert result.exit_code == 1
    assert "lxml.html.clean module is now a separate project" in result.stdout
    assert not site_handler(site).requests


def test_a_worker_that_crashes_while_crawling_reports_the_cause(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    # an operator mistake: a plain file where the lock folder should be
    (isolated_home / ".locks").write_text("not a folder")
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    [summary] = run_crawl(["testrup"])
    assert summary.status == "failed"
    assert summary.message is not None
    assert "crawl worker crashed: FileExistsError" in summary.message
    assert ".locks" in summary.message
    result = CliRunner().invoke(cli, ["crawl", "testrup", "--no-index", "--format", "json"])
    assert result.exit_code == 1 and "FileExistsError" in result.stdout
