"""Shared fixtures: an isolated home per test, no network but 127.0.0.1, real HTTP test sites."""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from muni_crawl.example.server import RunningSite, StaticSiteHandler, serve
from tests.fake_openai import FakeOpenAI, start_fake_openai

TESTS = Path(__file__).parent
# the example's passage vectors, written by scripts/make_example_embeddings.py
EXAMPLE_EMBEDDINGS = TESTS / "data" / "example-embeddings.db.gz"
SITES = TESTS / "sites"

TENANTS_TOML = """
[testrup]
name = "Testkommune"
code = 990
contact_url = "https://testkommune.invalid/kontakt"

[example]
name = "Eksempel Kommune"
code = 999
contact_url = "http://127.0.0.1:8761/kontakt.html"

[naboby]
name = "Naboby Kommune"
code = 998
contact_url = "http://127.0.0.1:8764/kontakt.html"
"""


@pytest.fixture(scope="session")
def shared_embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for the whole session: the packaged model embeds each text once.

    It starts with the example's passage vectors (scripts/make_example_embeddings.py), so the
    session does not spend its first minutes embedding the example; a passage whose text
    changed since the seed was written is embedded as usual."""
    path = tmp_path_factory.mktemp("cache") / "embeddings.db"
    if EXAMPLE_EMBEDDINGS.exists():
        with gzip.open(EXAMPLE_EMBEDDINGS, "rb") as packed, path.open("wb") as raw:
            shutil.copyfileobj(packed, raw)
    return path


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_embedding_cache: Path
) -> Path:
    """Every test gets its own MUNI_CRAWL_HOME and fast, test-sized crawl settings."""
    home = tmp_path / "home"
    (home / "spiders").mkdir(parents=True)
    (home / "spiders" / "tenants.toml").write_text(TENANTS_TOML, encoding="utf-8")
    for name in list(os.environ):
        if name.startswith("MUNI_CRAWL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MUNI_CRAWL_HOME", str(home))
    monkeypatch.setenv("MUNI_CRAWL_EMBEDDING_CACHE", str(shared_embedding_cache))
    monkeypatch.setenv("MUNI_CRAWL_DOWNLOAD_TIMEOUT", "2")
    monkeypatch.setenv("MUNI_CRAWL_RETRIES", "1")
    monkeypatch.setenv("MUNI_CRAWL_DOWNLOAD_DELAY", "0")
    monkeypatch.setenv("MUNI_CRAWL_MAX_QUERY_VARIANTS", "3")
    return home


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection from the test process to an address other than 127.0.0.1."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if host not in ("127.0.0.1", "localhost", "::1"):
                raise ConnectionRefusedError(f"tests may only connect to 127.0.0.1, not {host}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


class TestSiteHandler(StaticSiteHandler):
    """The basic test site plus special routes for failure modes; logs every request."""

    requests: list[tuple[str, str, dict[str, str]]]
    mode: dict[str, Any]

    def route(self, path: str) -> bool:
        self.requests.append(("GET", self.path, dict(self.headers.items())))
        delay = self.mode.get("delay", 0.0)
        if delay:
            time.sleep(delay)
        if self.mode.get("maintenance"):
            self.send_text(
                200,
                "<html><body><h1>Vi holder lukket</h1><p>Siden er lukket for"
                " vedligeholdelse. Prøv igen senere.</p></body></html>",
            )
            return True
        if path == "/error500.html":
            self.send_text(500, "Intern fejl")
            return True
        if path == "/slow.html":
            time.sleep(4)
            self.send_text(200, "<html><body><p>for sent</p></body></html>")
            return True
        if path in ("/loop.html", "/loop2.html"):
            self.send_response(302)
            self.send_header("Location", "/loop2.html" if path == "/loop.html" else "/loop.html")
            self.end_headers()
            return True
        if path == "/huge.html":
            chunk = b"<p>" + b"storskrald " * 1000 + b"</p>"
            size = 20 * 1024 * 1024
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(size // len(chunk) * len(chunk)))
            self.end_headers()
            try:
                for _ in range(size // len(chunk)):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return True
        if path == "/junk.html":
            data = bytes(range(256)) * 64
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return True
        if self.mode.get("no_conditional"):
            # a CMS that sends a new ETag on every request and never answers 304
            found = self.body_for(path)
            if found is None:
                self.send_text(404, "Siden findes ikke")
                return True
            data, ctype = found
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", f'"{time.time_ns()}"')
            self.end_headers()
            self.wfile.write(data)
            return True
        return False


SiteFactory = Callable[..., RunningSite]


def site_handler(site: RunningSite) -> type[TestSiteHandler]:
    """The handler class of a site started by `site_server`: its root, requests log and mode."""
    handler = site.server.RequestHandlerClass
    assert isinstance(handler, type) and issubclass(handler, TestSiteHandler), handler
    return handler


REPO = TESTS.parent
EXAMPLE_SOURCES = ["example", "naboby", "example-borger", "example-selvbetjening"]


def crawl_example(home: Path) -> None:
    """Crawl the bundled example sites (served on their fixed ports) into `home`."""
    from muni_crawl import Settings, run_crawl
    from muni_crawl.example.server import serve_examples

    if (home / "spiders").exists():
        shutil.rmtree(home / "spiders")
    shutil.copytree(REPO / "spiders", home / "spiders")
    with example_ports_lock():
        sites = serve_examples()
        try:
            summaries = run_crawl(EXAMPLE_SOURCES, home=Settings.load(home))
        finally:
            for site in sites:
                site.stop()
    assert all(s.status == "ok" for s in summaries), summaries


@contextlib.contextmanager
def example_ports_lock() -> Iterator[None]:
    """The example sites have fixed ports: test sessions running side by side take turns."""
    path = Path(tempfile.gettempdir()) / "muni_crawl-example-ports.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def example_home(tmp_path_factory: pytest.TempPathFactory, shared_embedding_cache: Path) -> Path:
    """A home with the example crawled and both example tenants indexed, built once per session.

    Read-only for tests: copy it (shutil.copytree) before changing anything.
    """
    from muni_crawl import Settings
    from muni_crawl.index import build_indexes

    home = tmp_path_factory.mktemp("example-home")
    crawl_example(home)
    settings = Settings.load(home, embedding_cache=shared_embedding_cache)
    build_indexes(["example", "naboby"], home=settings)
    return home


@pytest.fixture
def site_server(tmp_path: Path) -> Iterator[SiteFactory]:
    """Start a copy of a site from tests/sites on 127.0.0.1; returns the running site.

    The copy lives in tmp_path/<name>, so a test can edit pages between crawls. The handler
    class is reachable as site_handler(site) (requests log, mode dict).
    """
    running: list[RunningSite] = []

    def start(name: str = "basic", **mode: Any) -> RunningSite:
        root = tmp_path / f"site-{name}-{len(running)}"
        shutil.copytree(SITES / name, root)
        handler = type("Handler", (TestSiteHandler,), {"requests": [], "mode": dict(mode)})
        site = serve(root, handler=handler, name=name)
        running.append(site)
        return site

    yield start
    for site in running:
        site.stop()


def write_source(home: Path, name: str, url: str, **extra: Any) -> Path:
    """Write spiders/<name>.toml pointing at a test site."""
    host = url.split("/")[2]
    fields = {
        "kind": "municipal",
        "tenants": ["testrup"],
        "start_urls": [url + "/"],
        "allowed_domains": [host],
        **extra,
    }
    lines = []
    for key, value in fields.items():
        if isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        elif isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, list):
            items = ", ".join(f'"{v}"' for v in value)
            lines.append(f"{key} = [{items}]")
        else:
            lines.append(f"{key} = {value}")
    path = home / "spiders" / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def calm(site: RunningSite) -> RunningSite:
    """Drop the links to the failure routes from the site's index (fast, failure-free crawls)."""
    index = site_handler(site).root / "index.html"
    html = index.read_text(encoding="utf-8")
    start = html.index("<p><a href='/intern/")
    end = html.index("</p>", start) + len("</p>")
    index.write_text(html[:start] + html[end:], encoding="utf-8")
    return site


@pytest.fixture
def home(example_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the indexed example home, set as MUNI_CRAWL_HOME, with no LLM."""
    copy = tmp_path / "answer-home"
    shutil.copytree(example_home, copy)
    monkeypatch.setenv("MUNI_CRAWL_HOME", str(copy))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return copy


@pytest.fixture
def llm(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """A real OpenAI-compatible server on 127.0.0.1, configured as the LLM (with prices)."""
    fake = start_fake_openai()
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("MUNI_CRAWL_LLM_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("MUNI_CRAWL_LLM_TIMEOUT", "1")
    monkeypatch.setenv("MUNI_CRAWL_LLM_RETRIES", "0")
    monkeypatch.setenv("MUNI_CRAWL_PRICE_INPUT_DKK", "1.10")
    monkeypatch.setenv("MUNI_CRAWL_PRICE_OUTPUT_DKK", "4.40")
    monkeypatch.setenv("MUNI_CRAWL_PRICE_PER_DOCUMENT_DKK", "0.0001")
    yield fake
    fake.stop()
