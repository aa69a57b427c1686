"""`muni-crawl index` and `muni-crawl search`: build tenants' indexes and query them."""

from __future__ import annotations

import click

from muni_crawl.cli.common import CliContext, emit, format_option, pass_home
from muni_crawl.index import build_indexes
from muni_crawl.priority import yield_to_questions
from muni_crawl.retrieve import Library

BUILD_COLUMNS = [
    "tenant",
    "status",
    "version",
    "passages",
    "documents",
    "new_embeddings",
    "seconds",
]


@click.command()
@click.argument("tenants", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Index every tenant.")
@click.option("--force", is_flag=True, help="Build a new version even if nothing changed.")
@format_option("table", "json", "csv")
@pass_home
def index(ctx: CliContext, tenants: tuple[str, ...], all_: bool, force: bool, fmt: str) -> None:
    """Build the search index of TENANTS (or --all) from the crawled pages.

    A tenant's index holds its own sources' pages and only its own local sections; the national
    borger.dk bodies are in one shared index per source (built first, shown as
    _shared/<source>), searched beside every tenant's. Unchanged passages reuse their cached
    embeddings. The command runs at a lower CPU priority (the bulk_nice setting).

    Example: muni-crawl index example naboby
    """
    if bool(tenants) == all_:
        raise click.UsageError("name one or more TENANTS, or use --all")
    yield_to_questions(ctx.home.settings.index.bulk_nice)  # before the embedding threads start
    results = build_indexes(None if all_ else list(tenants), home=ctx.home, force=force)
    rows = [dict(r.__dict__, seconds=round(r.seconds, 1)) for r in results]
    emit(rows, BUILD_COLUMNS, fmt)


@click.command()
@click.argument("tenant")
@click.argument("question")
@click.option(
    "-k", type=click.IntRange(1, 100), default=5, show_default=True, help="How many passages."
)
@format_option("table", "json")
@pass_home
def search(ctx: CliContext, tenant: str, question: str, k: int, fmt: str) -> None:
    """Show the passages retrieval finds for QUESTION in TENANT's index.

    Personal data (CPR and phone numbers, e-mails, cued names and addresses) is redacted
    first: only the redacted question is searched and shown.

    Example: muni-crawl search example "Hvornår henter I storskrald?"
    """
    result = Library(ctx.home).retrieve(tenant, question, k)
    if fmt == "json":
        import json

        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    rows = [
        {
            "#": n,
            "score": f"{p.score:.4f}",
            "cosine": f"{p.dense_score:.3f}",
            "url": p.url,
            "heading": p.heading,
            "text": " ".join(p.text.split())[:100],
        }
        for n, p in enumerate(result.passages, start=1)
    ]
    emit(rows, ["#", "score", "cosine", "url", "heading", "text"], "table")
    click.echo(
        f"{result.documents_searched} documents ({result.passages_searched} passages) searched"
        f" in {tenant} index {result.index_version} for: {result.question}",
        err=True,
    )
