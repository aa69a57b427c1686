"""The `muni-crawl` command line: a thin click layer over the library.

Data goes to stdout, progress and diagnostics to stderr. Exit codes: 0 success, 1 failure,
2 usage error, 3 partly failed (some sources or pages failed; see EXIT_PARTIAL).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

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
@click.option("-q", "--quiet", is_flag=True, help="No progress output on stderr.")
@click.version_option(package_name="muni_crawl")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, verbose: int, quiet: bool) -> None:
    """Crawl municipal sites, borger.dk and selvbetjening.nu into a local store.

    Example: muni-crawl crawl --all
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    # bm25s logs every index load at DEBUG; only the CLI, which owns the handlers, quiets it
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    ctx.obj = CliContext(
        home_path=home, verbose=verbose, quiet=quiet or not sys.stderr.isatty(), silent=quiet
    )
    ctx.call_on_close(ctx.obj.close)


def _register() -> None:
    from muni_crawl.cli import answer, crawl, demo, index, ops, pages, review, sources

    cli.add_command(sources.sources)
    cli.add_command(crawl.crawl)
    cli.add_command(answer.ask)
    cli.add_command(answer.usage)
    cli.add_command(review.review)
    cli.add_command(ops.status)
    cli.add_command(ops.schedule)
    cli.add_command(index.index)
    cli.add_command(index.search)
    cli.add_command(pages.pages)
    cli.add_command(pages.runs)
    cli.add_command(demo.demo)
    cli.add_command(demo.serve_example)


_register()


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="muni-crawl")
