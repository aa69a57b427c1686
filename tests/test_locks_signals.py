"""Locks and signals: index builds have their own lock, and a stopped crawl stops its worker.

The processes here are real: a second process holds the index lock, and `muni-crawl crawl`
runs as a subprocess that receives SIGTERM or SIGINT while its worker crawls a slow site.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from muni_crawl import Library, Settings, Store
from muni_crawl.cli import cli
from muni_crawl.errors import CrawlError, IndexBuildRunningError
from muni_crawl.example.server import RunningSite
from muni_crawl.locks import IndexLock, SourceLock
from tests.conftest import SiteFactory, calm, site_handler, write_source


@contextmanager
def lock_held_elsewhere(locks: Path, kind: str, name: str) -> Iterator[int]:
    """Hold a lock from another process (as a running build or crawl would); yield its pid."""
    script = (
        "import sys\nfrom pathlib import Path\nfrom muni_crawl.locks import IndexLock, SourceLock\n"
        f"lock = {kind}(Path(sys.argv[1]), sys.argv[2])\nlock.acquire()\n"
        "print('held', flush=True)\nsys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(locks), name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)


def test_an_index_build_elsewhere_is_reported_and_a_crawl_leaves_its_index_to_it(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    runner = CliRunner()
    first = runner.invoke(cli, ["crawl", "testrup"])
    assert first.exit_code == 0 and "index testrup: built" in first.stderr, first.output
    pas = site_handler(site).root / "pas.html"
    pas.write_text(pas.read_text().replace("672 kr.", "695 kr."), encoding="utf-8")
    with lock_held_elsewhere(isolated_home / ".locks", "IndexLock", "testrup") as pid:
        building = runner.invoke(cli, ["index", "testrup"])
        assert building.exit_code == 1
        assert f"index of testrup is being built by pid {pid}" in building.stderr
        with pytest.raises(IndexBuildRunningError) as refused:
            IndexLock(isolated_home / ".locks", "testrup").acquire()
        assert refused.value.tenant == "testrup" and refused.value.holder == str(pid)
        # the crawl succeeds; its re-index is left to the running build: exit 0, not 1
        crawl = runner.invoke(cli, ["crawl", "testrup", "--format", "json"])
        assert crawl.exit_code == 0, crawl.output
        assert json.loads(crawl.stdout)[0]["changed"] == 1
        assert f"index of testrup is being built by pid {pid}" in crawl.stderr
        assert "already being crawled" not in crawl.output
        # the crawl lock is another lock: a crawl holding it does not block an index build
    with lock_held_elsewhere(isolated_home / ".locks", "SourceLock", "testrup"):
        unchanged_build = runner.invoke(cli, ["index", "testrup", "--format", "json"])
        assert unchanged_build.exit_code == 0, unchanged_build.output
        assert json.loads(unchanged_build.stdout)[0]["status"] == "built"
    # that build took in the skipped crawl's change; the next crawl finds nothing to do
    found = Library().retrieve("testrup", "Hvad koster et pas til voksne?")
    assert "695 kr." in found.passages[0].text
    again = runner.invoke(cli, ["crawl", "testrup"])
    assert again.exit_code == 0 and "index testrup" not in again.stderr


def test_the_next_crawl_rebuilds_an_index_whose_re_index_was_skipped(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    runner = CliRunner()
    assert runner.invoke(cli, ["crawl", "testrup"]).exit_code == 0
    pas = site_handler(site).root / "pas.html"
    pas.write_text(pas.read_text().replace("672 kr.", "695 kr."), encoding="utf-8")
    with lock_held_elsewhere(isolated_home / ".locks", "IndexLock", "testrup"):
        skipped = runner.invoke(cli, ["crawl", "testrup"])
        assert skipped.exit_code == 0 and "being built by pid" in skipped.stderr
    # the build that was running never saw the change (it only held the lock): the next crawl
    # changes nothing on the site, but notices that the index predates the changing crawl
    nothing_new = runner.invoke(cli, ["crawl", "testrup", "--format", "json"])
    assert nothing_new.exit_code == 0
    assert json.loads(nothing_new.stdout)[0]["changed"] == 0
    assert "index testrup: built" in nothing_new.stderr
    found = Library().retrieve("testrup", "Hvad koster et pas til voksne?")
    assert "695 kr." in found.passages[0].text
    settled = runner.invoke(cli, ["crawl", "testrup"])
    assert settled.exit_code == 0 and "index testrup" not in settled.stderr


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _slow_site(site_server: SiteFactory) -> RunningSite:
    """The basic site, answering each request after half a second, with 40 more pages."""
    site = calm(site_server("basic", delay=0.5))
    root = site_handler(site).root
    for n in range(40):
        (root / f"side{n}.html").write_text(
            f"<html lang='da'><body><main><h1>Side {n}</h1><p>Om affald og genbrug,"
            f" side nummer {n}, med åbningstider.</p></main></body></html>",
            encoding="utf-8",
        )
    links = "".join(f"<a href='/side{n}.html'>s{n}</a>" for n in range(40))
    index = root / "index.html"
    index.write_text(index.read_text().replace("</article>", links + "</article>"))
    return site


def _start_crawl(home: Path, site: RunningSite) -> tuple[subprocess.Popen[str], int]:
    """`muni-crawl crawl testrup zweite` as a real process; returns it and its worker's pid
    once the worker holds the lock and has fetched a few pages."""
    requests = site_handler(site).requests
    write_source(home, "testrup", site.url)
    write_source(home, "zweite", site.url)
    parent = subprocess.Popen(
        [sys.executable, "-m", "muni_crawl", "crawl", "testrup", "zweite", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock_file = home / ".locks" / "testrup.lock"
    worker = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not worker or len(requests) < 3):
        holder = lock_file.read_text().strip() if lock_file.exists() else ""
        worker = int(holder) if holder.isdigit() and int(holder) != parent.pid else 0
        assert parent.poll() is None, parent.communicate()
        time.sleep(0.1)
    assert worker and _alive(worker) and len(requests) >= 3, "the crawl did not get going"
    with pytest.raises(CrawlError, match="already being crawled"):
        SourceLock(home / ".locks", "testrup").acquire()
    return parent, worker


def _acquire_soon(lock: SourceLock, seconds: float = 10) -> SourceLock:
    """The lock, once the kernel has finished tearing down a killed holder (a few seconds at
    most on a loaded machine); a holder still alive after that fails the test."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            lock.acquire()
            return lock
        except CrawlError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _wait_gone(pid: int, seconds: float = 5) -> None:
    gone_by = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < gone_by:
        time.sleep(0.1)
    assert not _alive(pid), "the worker outlived its parent"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["TERM", "INT"]
)
def test_a_signal_to_the_crawl_command_stops_its_worker_and_frees_the_lock(
    isolated_home: Path, site_server: SiteFactory, signum: int, exit_code: int
) -> None:
    site = _slow_site(site_server)
    requests = site_handler(site).requests
    parent, worker = _start_crawl(isolated_home, site)
    parent.send_signal(signum)
    stdout, stderr = parent.communicate(timeout=30)
    assert parent.returncode == exit_code, stderr
    _wait_gone(worker)
    lock = SourceLock(isolated_home / ".locks", "testrup")
    lock.acquire()  # free again
    lock.release()
    name = signal.Signals(signum).name
    stopped, skipped = json.loads(stdout)
    assert stopped["source"] == "testrup" and stopped["status"] == "partial"
    assert f"stopped by {name}" in stopped["message"]
    assert skipped["source"] == "zweite" and f"not crawled: stopped by {name}" in skipped["message"]
    assert f"Stopped by {name}; nothing re-indexed." in stderr
    with Store(Settings.load().database) as store:
        runs = store.db.execute("SELECT source, status FROM crawl_runs").fetchall()
    assert [tuple(r) for r in runs] == [("testrup", "partial")]
    served = len(requests)
    time.sleep(1.5)
    assert len(requests) == served, "requests went on after the crawl was stopped"


@pytest.mark.slow
def test_a_crawl_parent_killed_outright_takes_its_worker_with_it(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = _slow_site(site_server)
    parent, worker = _start_crawl(isolated_home, site)
    parent.kill()  # SIGKILL: no handler runs, the worker is in a session of its own
    parent.communicate(timeout=30)
    _wait_gone(worker)
    _acquire_soon(SourceLock(isolated_home / ".locks", "testrup")).release()
    with Store(Settings.load().database) as store:  # left as a killed run: the next one resumes
        [(status,)] = store.db.execute("SELECT status FROM crawl_runs").fetchall()
    assert status == "running"
