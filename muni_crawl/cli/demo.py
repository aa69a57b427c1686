"""`muni-crawl demo` and `muni-crawl serve-example`: the offline example, end to end."""

from __future__ import annotations

import sys
import time

import click

from muni_crawl.answer import Answerer
from muni_crawl.cli.common import EXIT_FAILURE, CliContext, emit, pass_home
from muni_crawl.cli.crawl import SUMMARY_COLUMNS, exit_code, summary_row
from muni_crawl.example.seed import EXAMPLE_SOURCES, EXAMPLE_TENANTS, is_empty, seed_spiders
from muni_crawl.example.server import EXAMPLE_SITES, serve_examples
from muni_crawl.index import build_indexes
from muni_crawl.refresh import refresh

DEMO_QUESTIONS = (
    ("example", "Hvornår henter I storskrald?"),
    ("naboby", "Hvornår henter I storskrald?"),
    ("example", "How much does a passport for a child cost?"),
    ("example", "Hvad koster en beboerparkeringstilladelse?"),  # from the local-variables feed
    ("naboby", "Hvad er hovedstaden i Frankrig?"),
)


def _start_sites() -> list:  # type: ignore[type-arg]
    try:
        return serve_examples()
    except OSError as exc:
        ports = ", ".join(str(p) for p in EXAMPLE_SITES.values())
        click.echo(
            f"Error: cannot serve the example sites on 127.0.0.1 ports {ports}: {exc}", err=True
        )
        sys.exit(EXIT_FAILURE)


def _check_example_sources(ctx: CliContext) -> None:
    """Seed a home whose spiders/ is missing or empty with the packaged example files; refuse
    one that has other sources but not the example's (the demo would crawl into their store)."""
    spiders_dir = ctx.home.paths.spiders_dir
    if is_empty(spiders_dir):
        try:
            written = seed_spiders(spiders_dir)
        except OSError as exc:
            raise click.ClickException(
                f"cannot copy the bundled example's spiders files into {spiders_dir}: {exc}"
            ) from exc
        if not ctx.silent:
            click.echo(
                f"{spiders_dir} had no source files: copied the bundled example's sources and"
                f" tenants into it ({', '.join(p.name for p in written)})",
                err=True,
            )
        ctx.home.reload_registry()
    missing = [name for name in EXAMPLE_SOURCES if name not in ctx.home.registry.sources]
    if missing:
        raise click.ClickException(
            f"{spiders_dir} has no {', '.join(missing)} source file(s), and it holds other"
            " files, so the demo leaves it alone. Run the demo in a home of its own:"
            " `muni-crawl --home <empty folder> demo` copies the example's files there"
        )


@click.command()
@pass_home
def demo(ctx: CliContext) -> None:
    """Serve the bundled example sites on 127.0.0.1, crawl and index them, answer questions.

    Runs fully offline: with no LLM configured the answers are extractive. Run it twice to
    see the incremental re-crawl store nothing new and the re-index compute no embeddings.
    A home whose spiders/ folder is missing or empty gets the example's files first (they
    ship with the package), so it works from a plain install in an empty folder.

    Example: muni-crawl demo
    """
    _check_example_sources(ctx)
    sites = _start_sites()
    try:
        click.echo("Serving the example sites: " + ", ".join(s.url for s in sites), err=True)
        # the daily cycle's crawl and stale marking; the index step is shown below
        summaries = refresh(
            EXAMPLE_SOURCES,
            home=ctx.home,
            reindex=False,
            progress=not ctx.quiet,
            verbose=ctx.verbose,
        ).crawls
    finally:
        for site in sites:
            site.stop()
    click.echo("Crawl summary:")
    emit([summary_row(s) for s in summaries], SUMMARY_COLUMNS, "table")
    with ctx.home.store() as store:
        stored = store.pages()
    click.echo(f"\n{len(stored)} pages stored; a few of them:")
    sample = [p for p in stored if p.scope == "local"][:3] + [
        p for p in stored if p.scope != "local"
    ][:5]
    emit(
        [
            {
                "source": p.source,
                "url": p.url,
                "scope": p.scope,
                "title": p.title,
                "start of text": " ".join(p.text.split())[:80],
            }
            for p in sample
        ],
        ["source", "url", "scope", "title", "start of text"],
        "table",
    )
    click.echo("\nIndexing the example tenants:")
    results = build_indexes(list(EXAMPLE_TENANTS), home=ctx.home)
    emit(
        [dict(r.__dict__, seconds=round(r.seconds, 1)) for r in results],
        ["tenant", "status", "passages", "documents", "new_embeddings", "seconds"],
        "table",
    )
    answerer = Answerer(ctx.home)
    for tenant, question in DEMO_QUESTIONS:
        answer = answerer.answer(tenant, question)
        click.echo(f"\n[{tenant}] {question}\n  {answer.text}")
        for citation in answer.citations:
            click.echo(f"  [{citation.n}] {citation.url}" if citation.n else f"  -> {citation.url}")
        usage = answer.usage
        click.echo(
            f"  ({answer.status}: {answer.reason or 'ok'}; {usage.prompt_tokens} prompt tokens,"
            f" {usage.documents_searched} documents searched)"
        )
    sys.exit(exit_code(summaries))


@click.command("serve-example")
def serve_example() -> None:
    """Serve the bundled example sites on 127.0.0.1 until interrupted (for trying things by hand).

    Example: muni-crawl serve-example
    """
    sites = _start_sites()
    for site in sites:
        click.echo(f"{site.name}: {site.url}/")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for site in sites:
            site.stop()
