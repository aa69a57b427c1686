"""A small static HTTP server for the bundled example sites (and the tests' sites).

It behaves like a well-run municipal web server: ETag and Last-Modified with 304 answers to
conditional requests, 404 for missing files, and ``__BASE__`` in .html/.xml/.txt files replaced
by the site's own base URL (sitemaps and robots.txt need absolute URLs, ports vary). The same
file answers any query string, which is how calendar pages behave.
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

SITES_DIR = Path(__file__).parent / "sites"
EXAMPLE_SITES = {"kommune": 8761, "borger": 8762, "selvbetjening": 8763, "naboby": 8764}
PLACEHOLDER = b"__BASE__"
_TEXT_SUFFIXES = {".html", ".xml", ".txt"}


class StaticSiteHandler(BaseHTTPRequestHandler):
    """Serves files from `root`; subclasses add special routes by overriding `route`."""

    root: ClassVar[Path] = SITES_DIR
    base_url: ClassVar[str] = ""
    last_modified: ClassVar[float] = 1767225600.0  # 2026-01-01, stable across restarts
    server_version = "muni-crawl-example/1.0"

    def log_message(self, format: str, *args: object) -> None:  # silence per-request logs
        return

    def do_GET(self) -> None:
        if not self.route(urlsplit(self.path).path):
            self.serve_file(urlsplit(self.path).path)

    def route(self, path: str) -> bool:
        """Hook for special behaviour; return True when the request was answered."""
        return False

    def body_for(self, path: str) -> tuple[bytes, str] | None:
        relative = unquote(path).lstrip("/") or "index.html"
        if relative.endswith("/"):
            relative += "index.html"
        file = (self.root / relative).resolve()
        if not file.is_relative_to(self.root.resolve()) or not file.is_file():
            return None
        data = file.read_bytes()
        if file.suffix in _TEXT_SUFFIXES:
            data = data.replace(PLACEHOLDER, self.base_url.encode())
        ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("xml"):
            ctype += "; charset=utf-8"
        return data, ctype

    def serve_file(self, path: str) -> None:
        found = self.body_for(path)
        if found is None:
            self.send_text(404, "Siden findes ikke")
            return
        data, ctype = found
        self.send_cached(data, ctype)

    def send_cached(self, data: bytes, ctype: str) -> None:
        etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'
        if self.not_modified(etag):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", formatdate(self.last_modified, usegmt=True))
        self.end_headers()
        self.wfile.write(data)

    def not_modified(self, etag: str) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            return etag in [t.strip() for t in if_none_match.split(",")]
        since = self.headers.get("If-Modified-Since")
        if since:
            try:
                return parsedate_to_datetime(since).timestamp() >= self.last_modified
            except (TypeError, ValueError):
                return False
        return False

    def send_text(self, status: int, text: str, ctype: str = "text/html; charset=utf-8") -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    """A threading server whose listen queue holds a crawler's burst of parallel requests (the
    default of 5 refuses connections when Scrapy opens 16 at once)."""

    request_queue_size = 128
    daemon_threads = True


@dataclass
class RunningSite:
    """A site being served in a background thread; stop() shuts it down."""

    name: str
    url: str
    server: ThreadingHTTPServer
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(
    root: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    handler: type[StaticSiteHandler] = StaticSiteHandler,
    name: str = "",
) -> RunningSite:
    """Serve `root` on host:port (0 = any free port) in a daemon thread."""
    attrs = {"root": root, "base_url": ""}
    cls: type[StaticSiteHandler] = type(f"{handler.__name__}_{name or 'site'}", (handler,), attrs)
    server = _Server((host, port), cls)
    url = f"http://{host}:{server.server_address[1]}"
    cls.base_url = url
    thread = threading.Thread(target=server.serve_forever, name=f"site-{name}", daemon=True)
    thread.start()
    return RunningSite(name=name or root.name, url=url, server=server, thread=thread)


def serve_examples(host: str = "127.0.0.1") -> list[RunningSite]:
    """Serve the bundled example sites on their fixed ports (see spiders/example*.toml): the
    municipal sites, the borger.dk-like pages with a fake ArticleExport service, and the
    knowledge-base feed (a CSV of local variables)."""
    from muni_crawl.example.article_service import ArticleExportHandler, catalogue_from_pages

    running = []
    try:
        for name, port in EXAMPLE_SITES.items():
            handler: type[StaticSiteHandler] = StaticSiteHandler
            if name == "borger":  # its pages, and the fake ArticleExport service made from them
                attrs = {"catalogue": catalogue_from_pages(SITES_DIR / name), "calls": []}
                handler = type("ExampleArticleExport", (ArticleExportHandler,), attrs)
            running.append(serve(SITES_DIR / name, host, port, handler=handler, name=name))
    except OSError:
        for site in running:
            site.stop()
        raise
    return running
