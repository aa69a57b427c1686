"""A crawl killed half-way (kill -9) leaves the store consistent, and the next run completes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from muni_crawl import Settings, Store, run_crawl
from tests.conftest import SiteFactory, calm, site_handler, write_source


def _count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_kill_minus_nine_mid_crawl_then_next_run_completes(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic", delay=0.4))
    write_source(isolated_home, "testrup", site.url)
    db = Settings.load().database
    proc = subprocess.Popen(
        [sys.executable, "-m", "muni_crawl.cli", "crawl", "testrup"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while _count(db, "SELECT COUNT(*) FROM resources") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        [(status,)] = conn.execute("SELECT status FROM crawl_runs").fetchall()
    assert status == "running"  # the dead run is visible as such until the next run

    site_handler(site).mode["delay"] = 0
    summary = run_crawl(["testrup"])[0]
    assert summary.status == "ok"
    with Store(db) as store:
        runs = {r.id: r.status for r in store.runs("testrup")}
        urls = {p.url.removeprefix(site.url) for p in store.pages("testrup")}
        # each page has exactly one version: nothing was half-written or duplicated
        assert store.count_versions("testrup") == len(store.pages("testrup"))
    assert runs == {1: "aborted", 2: "ok"}
    assert {"/index.html", "/affald.html", "/pas.html", "/laege.html", "/flytning.html"} <= urls


def test_cli_module_is_runnable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "muni_crawl.cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "crawl" in result.stdout
