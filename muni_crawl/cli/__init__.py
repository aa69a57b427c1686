"""The `muni-crawl` command line: a thin click layer over the library.

Data goes to stdout, progress and diagnostics to stderr. Exit codes (muni_crawl.cli.common):
0 success, 1 failure, 2 usage error, 3 partly failed, 4 locked, 5 unreachable, 6 overdue.
Logging (format, levels, the rotating --log-file) is set up here, by muni_crawl.logconfig.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from muni_crawl import logconfig
from muni_crawl.cli.common import CliContext
from muni_crawl.errors import MuniCrawlError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# old command names kept working for one release: (old name -> new name)
DEPRECATED_ALIASES = {"sites": "sources"}


class MuniGroup(click.Group):
    """A group that turns library errors into one clear line on stderr and exit code 1."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Resolve a deprecated spelling to its new command, with a note on stderr."""
        new_name = DEPRECATED_ALIASES.get(cmd_name)
        if new_name is not None:
            click.echo(
                f"note: `muni-crawl {cmd_name}` is now `muni-crawl {new_name}`;"
                " the old name goes in the next release",
                err=True,
            )
            cmd_name = new_name
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MuniCrawlError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=MuniGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="MUNI_CRAWL_HOME",
    help="Folder with spiders/, indexes/ and the database [env MUNI_CRAWL_HOME; default: .]",
)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("-q", "--quiet", is_flag=True, help="No progress output; only errors on stderr.")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also log to this file (with INFO lines), rotated by size.",
)
@click.option(
    "--log-format",
    type=click.Choice(logconfig.LOG_FORMATS),
    default="text",
    show_default=True,
    help="Log lines as text, or one JSON object per line (for log shippers).",
)
@click.option(
    "--log-max-mb",
    type=click.FloatRange(logconfig.MIN_LOG_MB, logconfig.MAX_LOG_MB),
    default=logconfig.DEFAULT_MAX_MB,
    show_default=True,
    help="Rotate the log file at this size (MB).",
)
@click.option(
    "--log-backups",
    type=click.IntRange(1, logconfig.MAX_BACKUPS),
    default=logconfig.DEFAULT_BACKUPS,
    show_default=True,
    help="Rotated log files kept.",
)
@click.version_option(package_name="muni_crawl")
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    verbose: int,
    quiet: bool,
    log_file: Path | None,
    log_format: str,
    log_max_mb: float,
    log_backups: int,
) -> None:
    """Crawl municipal sites, borger.dk and selvbetjening.nu into a local store.

    Log lines carry a timestamp, level and logger name; tracebacks only with -v. Without
    --log-file they go to stderr (journald or docker logs keep them).

    Example: muni-crawl crawl --all
    """
    logconfig.configure(
        logconfig.LogOptions(
            verbose=verbose,
            quiet=quiet,
            log_file=log_file,
            log_format=log_format,
            max_mb=log_max_mb,
            backups=log_backups,
        )
    )
    ctx.call_on_close(logconfig.reset)
    ctx.obj = CliContext(
        home_path=home, verbose=verbose, quiet=quiet or not sys.stderr.isatty(), silent=quiet
    )
    ctx.call_on_close(ctx.obj.close)


def _register() -> None:
    from muni_crawl.cli import (
        answer,
        calibrate,
        crawl,
        demo,
        index,
        init,
        ops,
        pages,
        review,
        serve,
        sources,
    )

    cli.add_command(sources.sources)
    cli.add_command(crawl.crawl)
    cli.add_command(answer.ask)
    cli.add_command(answer.usage)
    cli.add_command(review.review)
    cli.add_command(calibrate.calibrate)
    cli.add_command(ops.status)
    cli.add_command(ops.schedule)
    cli.add_command(index.index)
    cli.add_command(index.search)
    cli.add_command(pages.pages)
    cli.add_command(pages.runs)
    cli.add_command(demo.demo)
    cli.add_command(demo.serve_example)
    cli.add_command(init.init)
    cli.add_command(serve.serve)


_register()


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="muni-crawl")
