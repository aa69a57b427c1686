"""Every numeric CLI option has a checked range, and a bad value is a usage error (exit 2).

A value out of range must end in one clear line naming the option, never a traceback
(`runs --limit 99999999999999999999` used to end in SQLite's OverflowError), and a period that
ends before it starts is refused rather than reported as empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner, Result

from muni_crawl.cli import cli

HUGE = "99999999999999999999"


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


def _usage_error(result: Result, *named: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)
    for text in named:
        assert text in result.stderr, (text, result.stderr)


def test_every_numeric_option_is_bounded_on_both_sides() -> None:
    checked = []
    for name, command in [("", cli), *_commands(cli)]:
        for param in command.params:
            if not isinstance(param.type, click.types._NumberParamTypeBase):
                continue
            if isinstance(param, click.Option) and param.count:
                continue  # -v, -vv: a count, not a quantity
            where = f"{name or 'muni-crawl'} {param.opts[0]}"
            assert isinstance(param.type, click.types._NumberRangeBase), where
            assert param.type.min is not None and param.type.max is not None, where
            checked.append(where)
    assert {"search -k", "runs --limit", "review list --limit"} <= set(checked)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["runs", "--limit", HUGE], "--limit"),
        (["runs", "--limit", "0"], "--limit"),
        (["runs", "--limit", "-5"], "--limit"),
        (["runs", "--limit", "10001"], "--limit"),
        (["runs", "--limit", "1e3"], "--limit"),
        (["runs", "--limit", "NaN"], "--limit"),
        (["review", "list", "--limit", HUGE], "--limit"),
        (["review", "list", "--limit", "0"], "--limit"),
        (["search", "example", "storskrald", "-k", HUGE], "-k"),
        (["search", "example", "storskrald", "-k", "0"], "-k"),
        (["search", "example", "storskrald", "-k", "101"], "-k"),
        (["search", "example", "storskrald", "-k", "-1"], "-k"),
        (["search", "example", "storskrald", "-k", "fem"], "-k"),
    ],
)
def test_a_number_out_of_range_is_a_usage_error(args: list[str], option: str) -> None:
    _usage_error(_invoke(*args), f"Invalid value for '{option}'", args[-1])


def test_numbers_in_range_work() -> None:
    for args in (["runs", "--limit", "10000"], ["runs", "--limit", "1"]):
        result = _invoke(*args, "--format", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == []
    listed = _invoke("review", "list", "--limit", "1", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    assert "1<=x<=10000" in _invoke("runs", "-h").stdout  # the range is in the help


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--since", "2026-11-05", "--until", "2026-11-01"], ["2026-11-05", "2026-11-01"]),
        (["--since", "2026-12-01", "--until", "2026-01-31"], ["--since", "--until"]),
        (["--since", "2026-13-01"], ["--since", "2026-13-01"]),
        (["--until", "i går"], ["--until", "i går"]),
        (["--month", "2026-00"], ["--month", "2026-00"]),
        (["--month", "2026-11", "--since", "2026-11-01"], ["--month", "--since"]),
    ],
)
def test_a_bad_usage_period_is_a_usage_error_naming_it(args: list[str], named: list[str]) -> None:
    _usage_error(_invoke("usage", *args), *named)


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "2026-11-01", "--until", "2026-11-01"],  # one day
        ["--until", "9999-12-31"],  # the last day a date can hold: no overflow
        ["--month", "9999-12"],
        ["--since", "0001-01-01"],
    ],
)
def test_edge_periods_are_accepted(args: list[str]) -> None:
    result = _invoke("usage", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
