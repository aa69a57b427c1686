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


# -- architecture: the rules that keep the package easy to change --------------------------------

PACKAGE = REPO / "muni_crawl"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, and every name it imports from a module (as mod.name)."""
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _modules() -> list[tuple[str, Path]]:
    return [(str(p.relative_to(PACKAGE)), p) for p in sorted(PACKAGE.rglob("*.py"))]


def test_only_the_store_package_touches_sqlite() -> None:
    outside = [name for name, path in _modules() if not name.startswith("store/")]
    assert [name for name, path in _modules() if "sqlite3" in _imports(path)] != []
    for name, path in _modules():
        if name in outside:
            assert "sqlite3" not in _imports(path), f"{name} imports sqlite3"
            assert ".execute(" not in path.read_text(encoding="utf-8"), f"{name} runs SQL"


def test_only_config_and_home_import_the_whole_settings() -> None:
    """Stages receive their group of settings (crawl, llm, index, ...), not all 36 fields;
    the package's public face re-exports Settings for callers."""
    allowed = {"config.py", "home.py", "__init__.py"}
    for name, path in _modules():
        if name not in allowed:
            assert "muni_crawl.config.Settings" not in _imports(path), f"{name} imports Settings"


def test_the_crawler_does_not_reach_into_review_or_answers() -> None:
    """Marking answers stale is refresh()'s step after a crawl, not the crawler's."""
    for name, path in _modules():
        if name.startswith("crawl/"):
            imported = _imports(path)
            assert not any(
                m.startswith(("muni_crawl.review", "muni_crawl.answer")) for m in imported
            )


# Where each package module is tested when it has no tests/test_<module>.py of its own: the
# end-to-end tests that drive it through the public API, the CLI or a real crawl.
TESTED_IN = {
    "chunk.py": ["test_index.py"],
    "cli/calibrate.py": ["test_gate_calibrate.py"],
    "cli/common.py": ["test_crawl_basic.py", "test_ops.py"],
    "cli/crawl.py": ["test_crawl_basic.py", "test_index.py", "test_locks_signals.py"],
    "cli/demo.py": ["test_example.py"],
    "cli/pages.py": ["test_crawl_basic.py"],
    "compose.py": ["test_answer.py", "test_reply_check.py"],
    "compounds.py": ["test_lexical.py"],
    "contact_points.py": ["test_reply_check.py"],
    "crawl/analysis.py": ["test_analysis.py"],
    "crawl/article_spider.py": ["test_article_export.py"],
    "crawl/feed_spider.py": ["test_feeds.py"],
    "crawl/hosts.py": ["test_crawl_concurrent.py"],
    "crawl/local_text.py": ["test_article_export.py", "test_extract_hidden.py"],
    "crawl/middleware.py": ["test_crawl_offsite.py", "test_crawl_resilience.py"],
    "crawl/reachability.py": ["test_unattended.py"],
    "crawl/resolver.py": ["test_crawl_offsite.py"],
    "crawl/spider.py": ["test_crawl_basic.py", "test_crawl_resilience.py"],
    "crawl/supervisor.py": ["test_crawl_concurrent.py", "test_locks_signals.py"],
    "crawl/worker.py": ["test_crawl_resilience.py", "test_locks_signals.py"],
    "css.py": ["test_extract_hidden.py"],
    "cues.py": ["test_evidence_gate.py"],
    "embed.py": ["test_index.py", "test_redact.py"],
    "embed_batches.py": ["test_embed.py"],
    "embed_packed.py": ["test_embed.py"],
    "embed_tokens.py": ["test_embed.py"],
    "embed_torch.py": ["test_embed.py"],
    "errors.py": ["test_config.py", "test_sources.py"],
    "evidence.py": ["test_evidence_gate.py"],
    "example/article_service.py": ["test_article_export.py"],
    "example/server.py": ["test_example.py"],
    "gate_fit.py": ["test_gate_calibrate.py"],
    "index/audience.py": ["test_index.py", "test_review_scope.py"],
    "index/build.py": ["test_index.py", "test_shared_index.py"],
    "index/chunk_cache.py": ["test_index_incremental.py"],
    "index/dedupe.py": ["test_lexical.py"],
    "index/layout.py": ["test_index.py", "test_retrieve.py"],
    "index/view.py": ["test_shared_index.py"],
    "lexical.py": ["test_retrieve.py"],
    "llm_client.py": ["test_answer.py", "test_install_deps.py"],
    "locks.py": ["test_locks_signals.py"],
    "logconfig.py": ["test_unattended.py"],
    "offsite.py": ["test_crawl_offsite.py"],
    "openmp.py": ["test_retrieve.py"],
    "places.py": ["test_evidence_gate.py"],
    "priority.py": ["test_priority.py"],
    "prompts.py": ["test_answer.py", "test_reply_check.py"],
    "question.py": ["test_answer_robust.py", "test_cli_ranges.py"],
    "redact_cues.py": ["test_redact.py"],
    "reply_markup.py": ["test_reply_check.py"],
    "schedule.py": ["test_ops.py", "test_unattended.py"],
    "serve/app.py": ["test_serve.py"],
    "serve/errors.py": ["test_serve.py"],
    "serve/keys.py": ["test_serve.py"],
    "serve/metrics.py": ["test_serve.py"],
    "serve/openapi.py": ["test_serve.py"],
    "serve/options.py": ["test_serve.py"],
    "serve/runner.py": ["test_serve.py"],
    "shown_text.py": ["test_reply_check.py", "test_review_scope.py"],
    "status.py": ["test_ops.py", "test_unattended.py"],
    "store/answer_log.py": ["test_answer_robust.py"],
    "store/answers.py": ["test_review.py", "test_store_upgrade.py"],
    "store/chunks.py": ["test_index_incremental.py"],
    "store/database.py": ["test_store.py", "test_store_upgrade.py"],
    "store/embeddings.py": ["test_index.py"],
    "store/migrations.py": ["test_store.py", "test_store_upgrade.py"],
    "store/pages.py": ["test_crawl_basic.py", "test_store_upgrade.py"],
    "store/records.py": ["test_store_upgrade.py"],
    "tokens.py": ["test_billing.py", "test_environment.py"],
    "types.py": ["test_answer.py", "test_contract.py"],
    "usage.py": ["test_answer.py", "test_billing.py"],
    "versioning.py": ["test_crawl_basic.py", "test_extract.py"],
    "visibility.py": ["test_extract_hidden.py"],
}


def test_every_module_has_its_tests_named() -> None:
    """A module is tested in tests/test_<module>.py, or TESTED_IN names where: a new module
    without either fails here, and so does a map entry that points at nothing."""
    tests = REPO / "tests"
    for name, _path in _modules():
        stem = Path(name).stem
        if stem in ("__init__", "__main__"):
            continue
        if (tests / f"test_{stem}.py").exists():
            continue
        assert name in TESTED_IN, (
            f"muni_crawl/{name} has no test module; add one or a TESTED_IN entry"
        )
        for test_module in TESTED_IN[name]:
            assert (tests / test_module).exists(), f"{name}: {test_module} does not exist"
    assert set(TESTED_IN) <= {name for name, _ in _modules()}, "TESTED_IN names a module gone"
