"""Shared CLI plumbing: exit codes, the command context, table/JSON/CSV output."""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from muni_crawl.home import Home

F = TypeVar("F", bound=Callable[..., Any])

# Every exit code of every command (docs/operations.md has the table).
EXIT_OK = 0
EXIT_FAILURE = 1  # a clear error, or nothing could be crawled
EXIT_USAGE = 2  # bad options or arguments
EXIT_PARTIAL = 3  # some sources or pages failed, or a source looked broken (anomaly)
EXIT_LOCKED = 4  # a source is being crawled by another process
EXIT_UNREACHABLE = 5  # a source did not answer at all (refused, DNS, TLS, timeout)
EXIT_OVERDUE = 6  # status: a source is overdue by its schedule (nothing failing)


@dataclass
class CliContext:
    """What every command needs: the home (opened on first use, closed when the command
    ends), and how chatty to be."""

    home_path: Path | None
    verbose: int = 0
    quiet: bool = False  # no progress output (asked for, or stderr is not a terminal)
    silent: bool = False  # --quiet given: no diagnostics either
    _home: Home | None = field(default=None, repr=False)

    @property
    def home(self) -> Home:
        if self._home is None:
            self._home = Home.open(self.home_path)
        return self._home

    def close(self) -> None:
        if self._home is not None:
            self._home.close()


pass_home = click.make_pass_decorator(CliContext)


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> None:
    """Print rows to stdout as a table, CSV or JSON."""
    if fmt == "json":
        click.echo(json.dumps(list(rows), indent=2, ensure_ascii=False, default=str))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    else:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(show_edge=False, header_style="bold")
        for column in columns:
            table.add_column(column)
        for row in rows:
            # Text, not str: rich would read "[/]" or "[link=...]" in a stored title or
            # question as markup (a crash, or a hidden link on the reviewer's screen)
            table.add_row(*(Text(printable(_cell(row.get(c)))) for c in columns))
        Console(width=None if sys.stdout.isatty() else 250).print(table)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def format_option(*choices: str) -> Callable[[F], F]:
    """The --format option shared by every command with tabular output."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


MAX_ROWS = 10_000  # the most rows a listing option may ask for


def limit_option(default: int, what: str) -> Callable[[F], F]:
    """A --limit option with a checked range: a clear usage error, never an OverflowError."""
    return click.option(
        "--limit",
        type=click.IntRange(1, MAX_ROWS),
        default=default,
        show_default=True,
        help=f"How many {what} (1-{MAX_ROWS}).",
    )


# C0/C1 controls (terminal escapes) and bidirectional overrides (text that displays differently
# from what it is), which a hostile question, page or model reply can carry into stored text
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Stored text made safe for a terminal: no control characters; newlines and tabs kept."""
    return _UNPRINTABLE.sub("", text)
