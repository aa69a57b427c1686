"""Start uvicorn for `muni-crawl serve`: check the keys and the address first, then serve.

With one worker the app runs in this process. With several, uvicorn starts fresh worker
processes that build the app from the options this process leaves in the environment; their
metrics are added up through a temporary PROMETHEUS_MULTIPROC_DIR, removed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from muni_crawl import logconfig
from muni_crawl.home import Home
from muni_crawl.serve.keys import KeyRing, check_binding, load_keys
from muni_crawl.serve.metrics import MULTIPROCESS_VARIABLE
from muni_crawl.serve.options import OPTIONS_VARIABLE, ServeOptions

GRACEFUL_SHUTDOWN_S = 30  # answers in flight get this long to finish on SIGTERM


def check(options: ServeOptions, host: str) -> KeyRing:
    """The keys the server will accept; ConfigError for a bad key entry, or for no keys on an
    address other than loopback."""
    with Home.open(options.home) as home:
        keys = load_keys(home.settings.serve.api_keys, options.keys_file, home.registry.tenants)
    check_binding(keys, host)
    return keys


def serve(options: ServeOptions, *, host: str, port: int, workers: int) -> None:
    """Serve until SIGINT or SIGTERM (then finish the answers in flight)."""
    import uvicorn

    from muni_crawl.serve.app import create_app

    check(options, host)
    common = {
        "host": host,
        "port": port,
        "log_config": None,  # logging is the CLI's (muni_crawl.logconfig)
        "access_log": False,  # uvicorn's would log query strings: AccessLog does it instead
        "server_header": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }
    if workers == 1:
        uvicorn.run(create_app(options), **common)  # type: ignore[arg-type]
        return
    handed_on = replace(options, log=logconfig.current() or logconfig.LogOptions())
    with _worker_environment(handed_on):
        uvicorn.run(
            "muni_crawl.serve.app:create_app",
            factory=True,
            workers=workers,
            **common,  # type: ignore[arg-type]
        )


@contextmanager
def _worker_environment(options: ServeOptions) -> Iterator[None]:
    """The options and a fresh metrics folder in the environment the workers inherit."""
    saved = {name: os.environ.get(name) for name in (OPTIONS_VARIABLE, MULTIPROCESS_VARIABLE)}
    metrics_dir = tempfile.mkdtemp(prefix="muni-crawl-metrics-")
    os.environ[OPTIONS_VARIABLE] = options.to_json()
    os.environ[MULTIPROCESS_VARIABLE] = metrics_dir
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(metrics_dir, ignore_errors=True)
