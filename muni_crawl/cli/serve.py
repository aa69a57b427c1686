"""`muni-crawl serve`: the HTTP JSON API for hosted chatbots (muni_crawl.serve)."""

from __future__ import annotations

from pathlib import Path

import click

from muni_crawl.cli.common import CliContext, pass_home
from muni_crawl.serve.options import DEFAULT_THREADS, MAX_THREADS, ServeOptions

MAX_WORKERS = 64


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; any but a loopback address needs API keys.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, MAX_WORKERS),
    default=1,
    show_default=True,
    help="Worker processes; each loads the indexes once (memory grows with each).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, MAX_THREADS),
    default=DEFAULT_THREADS,
    show_default=True,
    help="Answers computed at once per worker.",
)
@click.option(
    "--keys-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="API keys, one per line: KEY, or KEY=tenant1|tenant2 (# starts a comment);"
    " added to those in MUNI_CRAWL_API_KEYS.",
)
@pass_home
def serve(
    ctx: CliContext, host: str, port: int, workers: int, threads: int, keys_file: Path | None
) -> None:
    """Serve answers and search over HTTP as JSON, for hosted chatbots.

    POST /v1/tenants/TENANT/answers {"question": "..."} returns the Answer as JSON;
    GET /v1/tenants/TENANT/search?q=... the passages; also /healthz, /readyz, /metrics
    and /openapi.json. Clients send `Authorization: Bearer KEY` with a key from
    MUNI_CRAWL_API_KEYS or --keys-file. Without any key the server only listens on a
    loopback address. A new index version is served without a restart. SIGTERM lets the
    answers in flight finish. See docs/serving.md.

    Example: muni-crawl serve --host 0.0.0.0 --port 8000 --keys-file keys.txt
    """
    from muni_crawl.serve.runner import check, serve

    options = ServeOptions(home=ctx.home.path.resolve(), keys_file=keys_file, threads=threads)
    keys = check(options, host)  # before the banner: a refusal is the only output
    if not ctx.silent:
        access = f"{len(keys.entries)} API key(s)" if keys.enabled else "no keys: loopback only"
        click.echo(
            f"serving {ctx.home.path} on http://{host}:{port} ({workers} worker(s) x"
            f" {threads} thread(s); {access}); Ctrl+C stops",
            err=True,
        )
    serve(options, host=host, port=port, workers=workers)
