"""Contracts: the public API, the CLI's help, docs/cli.md and the README stay in step."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

import muni_crawl
from muni_crawl.cli import cli

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
COMMAND_REFERENCE = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "muni-crawl") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found += _commands(command, path)
        else:
            found.append((path, command))
    return found


def test_all_is_sorted_and_importable() -> None:
    assert muni_crawl.__all__ == sorted(muni_crawl.__all__)
    for name in muni_crawl.__all__:
        assert hasattr(muni_crawl, name), name


def test_every_command_has_help_with_an_example_and_is_in_the_command_reference() -> None:
    commands = _commands(cli)
    assert len(commands) >= 7
    for path, _command in commands:
        args = [*path.split()[1:], "-h"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, (path, result.output)
        assert "Example:" in result.output, f"{path} help has no example"
        assert f"`{path}`" in COMMAND_REFERENCE, f"{path} is not in docs/cli.md"


def test_the_readme_has_the_two_quickstart_commands() -> None:
    assert "## Quickstart" in README
    assert "make demo" in README and "make test" in README


def test_importing_the_package_changes_no_environment_and_no_other_logger() -> None:
    """A library must not reconfigure its host application on import: no environment
    variables written, no handlers or levels set on loggers other than its own NullHandler."""
    import subprocess
    import sys

    probe = (
        "import logging, os\n"
        "env = dict(os.environ)\n"
        "names = ['', 'scrapy', 'faiss', 'openai', 'httpx', 'trafilatura']\n"
        "levels = {n: logging.getLogger(n).level for n in names}\n"
        "import muni_crawl, muni_crawl.answer, muni_crawl.index, muni_crawl.retrieve\n"
        "import muni_crawl.review, muni_crawl.crawl, muni_crawl.cli\n"
        "assert dict(os.environ) == env, set(os.environ) ^ set(env)\n"
        "assert {n: logging.getLogger(n).level for n in names} == levels\n"
        "handlers = logging.getLogger('muni_crawl').handlers\n"
        "assert all(isinstance(h, logging.NullHandler) for h in handlers), handlers\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
