"""`muni-crawl sources`: validate and list the sources and tenants in spiders/."""

from __future__ import annotations

import sys

import click

from muni_crawl.cli.common import EXIT_FAILURE, CliContext, emit, format_option, pass_home
from muni_crawl.sources import check_registry


@click.group()
def sources() -> None:
    """Validate and list sources (spiders/*.toml) and tenants (spiders/tenants.toml)."""


@sources.command()
@pass_home
def check(ctx: CliContext) -> None:
    """Validate every file in spiders/; name each problem's file and field.

    Example: muni-crawl sources check
    """
    registry, errors = check_registry(ctx.home.settings.spiders_dir)
    for error in errors:
        click.echo(f"error: {error}", err=True)
    if errors:
        click.echo(f"{len(errors)} problem(s) in {ctx.home.settings.spiders_dir}", err=True)
        sys.exit(EXIT_FAILURE)
    click.echo(f"ok: {len(registry.tenants)} tenants, {len(registry.sources)} sources")


@sources.command("list")
@format_option("table", "json", "csv")
@click.option("--tenants", "show_tenants", is_flag=True, help="List tenants instead of sources.")
@pass_home
def list_(ctx: CliContext, fmt: str, show_tenants: bool) -> None:
    """List sources (or, with --tenants, the municipalities).

    Example: muni-crawl sources list --format json
    """
    registry = ctx.home.registry
    if show_tenants:
        rows = [
            {"tenant": t.slug, "name": t.name, "code": t.code, "contact_url": t.contact_url}
            for t in registry.tenants.values()
        ]
        emit(rows, ["tenant", "name", "code", "contact_url"], fmt)
        return
    rows = [
        {
            "source": s.name,
            "kind": s.kind,
            "tenants": ",".join(s.tenants),
            "start_urls": " ".join(s.start_urls),
            "schedule": s.schedule,
            "enabled": s.enabled,
        }
        for s in registry.sources.values()
    ]
    emit(rows, ["source", "kind", "tenants", "start_urls", "schedule", "enabled"], fmt)
