"""Many sources at once: run_crawl runs several workers side by side, never two on one host.

Each source's site is a real server on 127.0.0.1 (its own port), crawled by real Scrapy
workers; the stop test runs `muni-crawl crawl` as a real process and sends it SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from muni_crawl import ConfigError, Settings, Store, run_crawl
from muni_crawl.cli import cli
from muni_crawl.cli.common import EXIT_UNREACHABLE
from muni_crawl.crawl import worker_limit
from muni_crawl.crawl.hosts import share_a_host
from muni_crawl.errors import CrawlError
from muni_crawl.example.server import RunningSite
from muni_crawl.locks import SourceLock
from muni_crawl.sources import load_registry
from tests.conftest import SiteFactory, calm, site_handler, write_source


def _site(site_server: SiteFactory, pages: int, **mode: float) -> RunningSite:
    """The calm basic site with `pages` more article pages linked from its index."""
    site = calm(site_server("basic", **mode))
    root = site_handler(site).root
    for n in range(pages):
        (root / f"side{n}.html").write_text(
            f"<html lang='da'><body><main><h1>Side {n}</h1><p>Om affald og genbrug,"
            f" side nummer {n}, med åbningstider for genbrugspladsen.</p></main></body></html>",
            encoding="utf-8",
        )
    links = "".join(f"<a href='/side{n}.html'>s{n}</a>" for n in range(pages))
    index = root / "index.html"
    index.write_text(index.read_text().replace("</article>", links + "</article>"))
    return site


def _most_at_once(home: Path, sources: list[str]) -> int:
    """The most of these sources' crawl runs that were under way at the same moment."""
    with Store(Settings.load(home).database) as store:
        runs = [run for source in sources for run in store.runs(source)]
    events = []
    for run in runs:
        assert run.finished_at is not None, run
        events.append((datetime.fromisoformat(run.started_at), 1))
        events.append((datetime.fromisoformat(run.finished_at), -1))
    most = current = 0
    for _, step in sorted(events):  # at a tie, an end (-1) sorts before a start
        current += step
        most = max(most, current)
    return most


@pytest.mark.slow
def test_two_workers_crawl_three_sources_side_by_side_and_report_them_in_order(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    # the first site is the largest, so it finishes after the second: the order of the
    # summaries is that of the names, not of the finishing. Concurrency is shown by the
    # overlap of the runs in the store, not by timing (benchmarks/crawl.py --many measures it)
    sites = [_site(site_server, pages) for pages in (12, 4, 4)]
    together = [f"together{i}" for i in range(3)]
    alone = ["alone0", "alone1"]
    for i, site in enumerate(sites):
        # a polite delay per host: the crawl waits on it, as on a real municipal site
        write_source(isolated_home, together[i], site.url, download_delay=0.2)
    for name, site in zip(alone, sites[1:], strict=True):
        write_source(isolated_home, name, site.url)

    side_by_side = run_crawl(together, workers=2)
    one_by_one = run_crawl(alone, workers=1)

    assert [s.source for s in side_by_side] == together
    assert all(s.status == "ok" for s in side_by_side + one_by_one), side_by_side + one_by_one
    assert side_by_side[0].fetched >= 13 and side_by_side[1].fetched >= 5
    assert [s.new for s in one_by_one] == [s.new for s in side_by_side[1:]]
    assert _most_at_once(isolated_home, together) == 2
    assert _most_at_once(isolated_home, alone) == 1
    with Store(Settings.load().database) as store:
        assert len(store.pages("together0")) >= 13


@pytest.mark.slow
def test_a_failing_source_leaves_the_others_crawled_and_indexed(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    first, last = _site(site_server, 3), _site(site_server, 3)
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    write_source(isolated_home, "first", first.url)
    write_source(isolated_home, "down", closed)
    write_source(isolated_home, "last", last.url)
    result = CliRunner().invoke(
        cli, ["crawl", "first", "down", "last", "--workers", "3", "--format", "json"]
    )
    # a site that is down is unreachable (exit 5), the others are crawled and indexed
    assert result.exit_code == EXIT_UNREACHABLE, result.output
    rows = json.loads(result.stdout)
    assert [r["source"] for r in rows] == ["first", "down", "last"]
    assert [r["status"] for r in rows] == ["ok", "unreachable", "ok"], rows
    assert rows[0]["new"] == rows[2]["new"] >= 4
    assert "index testrup: built" in result.stderr
    with Store(Settings.load().database) as store:
        assert len(store.pages("first")) == len(store.pages("last")) >= 4
        assert store.pages("down") == []


def test_sources_on_one_host_take_turns(isolated_home: Path, site_server: SiteFactory) -> None:
    shared, other = _site(site_server, 2, delay=0.1), _site(site_server, 10)
    write_source(isolated_home, "left", shared.url)
    write_source(isolated_home, "right", shared.url)
    # long enough to overlap with one of the two others however slowly a worker starts
    write_source(isolated_home, "other", other.url, download_delay=0.3)
    summaries = run_crawl(["left", "right", "other"], workers=3)
    assert [(s.source, s.status) for s in summaries] == [
        ("left", "ok"),
        ("right", "ok"),
        ("other", "ok"),
    ]
    assert _most_at_once(isolated_home, ["left", "right"]) == 1
    assert _most_at_once(isolated_home, ["left", "right", "other"]) == 2


def test_hosts_shared_by_sources(isolated_home: Path) -> None:
    spiders = isolated_home / "spiders"
    write_source(isolated_home, "aarhus", "https://www.aarhus.dk", allowed_domains=["aarhus.dk"])
    write_source(isolated_home, "www", "https://www.aarhus.dk")
    write_source(isolated_home, "sub", "https://dagtilbud.aarhus.dk")
    write_source(isolated_home, "vejle", "https://www.vejle.dk", allowed_domains=["vejle.dk"])
    write_source(isolated_home, "port1", "http://127.0.0.1:8001")
    write_source(isolated_home, "port2", "http://127.0.0.1:8002")
    sources = load_registry(spiders).sources
    assert share_a_host(sources["aarhus"], sources["www"])  # a domain covers its subdomains
    assert share_a_host(sources["aarhus"], sources["sub"])
    assert not share_a_host(sources["www"], sources["sub"])
    assert not share_a_host(sources["aarhus"], sources["vejle"])
    assert not share_a_host(sources["port1"], sources["port2"])  # another port, another server
    assert share_a_host(sources["port1"], sources["port1"])


def test_the_number_of_workers_is_checked_and_defaults_to_the_cpus(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_source(isolated_home, "testrup", "http://127.0.0.1:9")
    assert worker_limit(Settings.load().crawl) == max(2, min(8, os.cpu_count() or 1))
    assert worker_limit(Settings.load().crawl, 5) == 5
    monkeypatch.setenv("MUNI_CRAWL_CRAWL_WORKERS", "3")
    assert worker_limit(Settings.load().crawl) == 3
    assert worker_limit(Settings.load().crawl, 1) == 1  # the argument wins over the setting
    for bad in (0, 65):
        with pytest.raises(ConfigError, match=f"workers .*between 1 and 64, got {bad}"):
            run_crawl(["testrup"], workers=bad)
    monkeypatch.setenv("MUNI_CRAWL_CRAWL_WORKERS", "2.5")
    with pytest.raises(ConfigError, match="MUNI_CRAWL_CRAWL_WORKERS"):
        Settings.load()
    monkeypatch.delenv("MUNI_CRAWL_CRAWL_WORKERS")
    refused = CliRunner().invoke(cli, ["crawl", "testrup", "--workers", "0"])
    assert refused.exit_code == 2 and "--workers" in refused.output


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _holder(home: Path, source: str, parent: int) -> int:
    """The pid holding a source's crawl lock (0 when none but the parent)."""
    lock_file = home / ".locks" / f"{source}.lock"
    holder = lock_file.read_text().strip() if lock_file.exists() else ""
    return int(holder) if holder.isdigit() and int(holder) != parent else 0


@pytest.mark.slow
def test_sigterm_stops_every_running_worker_and_skips_the_rest(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    sites = {name: _site(site_server, 40, delay=0.5) for name in ("a", "b", "c")}
    for name, site in sites.items():
        write_source(isolated_home, name, site.url)
    command = ["-v", "crawl", "a", "b", "c", "--workers", "2", "--format", "json"]
    parent = subprocess.Popen(
        [sys.executable, "-m", "muni_crawl", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    workers: dict[str, int] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert parent.poll() is None, parent.communicate()
        workers = {n: _holder(isolated_home, n, parent.pid) for n in ("a", "b")}
        if all(workers.values()) and all(
            len(site_handler(sites[n]).requests) >= 3 for n in ("a", "b")
        ):
            break
        time.sleep(0.1)
    assert all(workers.values()), "the two workers did not get going"
    assert not site_handler(sites["c"]).requests  # a third worker would exceed --workers 2

    parent.send_signal(signal.SIGTERM)
    stdout, stderr = parent.communicate(timeout=60)
    assert parent.returncode == 143, stderr
    a, b, c = json.loads(stdout)
    for summary in (a, b):
        assert summary["status"] == "partial", summary
        assert "stopped by SIGTERM" in summary["message"]
    assert c["source"] == "c" and "not crawled: stopped by SIGTERM" in c["message"]
    assert "Stopped by SIGTERM; nothing re-indexed." in stderr
    assert not (isolated_home / "indexes" / "testrup").exists()
    for name, pid in workers.items():
        gone_by = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < gone_by:
            time.sleep(0.1)
        assert not _alive(pid), f"the worker of {name} outlived the crawl"
        lock = SourceLock(isolated_home / ".locks", name)
        lock.acquire()  # free again
        lock.release()
    with Store(Settings.load().database) as store:
        runs = sorted((r.source, r.status) for r in store.runs())
    assert runs == [("a", "partial"), ("b", "partial")]
    # with two workers sharing stderr, each worker's log lines start with its source's name
    scrapy_lines = [line for line in stderr.splitlines() if " scrapy." in line]
    assert scrapy_lines and all(re.match(r"[ab]: ", line) for line in scrapy_lines), stderr
    served = sum(len(site_handler(site).requests) for site in sites.values())
    time.sleep(1.5)
    assert served == sum(len(site_handler(site).requests) for site in sites.values())


def test_crawl_one_still_raises_for_a_source_it_cannot_crawl(isolated_home: Path) -> None:
    from muni_crawl.crawl import crawl_one
    from muni_crawl.home import Home

    with pytest.raises(CrawlError, match="nope"):
        crawl_one("nope", home=Home.of(None))
