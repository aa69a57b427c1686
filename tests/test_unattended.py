"""Running unattended: a site that is down is `unreachable` (not an anomaly) with its own exit
code and no traceback; `status` exits non-zero for a monitor; log files with timestamps,
rotation and JSON lines; the crontab lines; unknown MUNI_CRAWL_* variables named.

Real `muni-crawl` processes (and click's runner) against sites on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from muni_crawl import Settings, Store, build_indexes, load_registry, run_crawl
from muni_crawl.cli import cli
from muni_crawl.cli.common import (
    EXIT_OK,
    EXIT_OVERDUE,
    EXIT_PARTIAL,
    EXIT_UNREACHABLE,
)
from muni_crawl.config import unknown_variables
from muni_crawl.index import current_version
from muni_crawl.schedule import check_minutes, minute_field
from tests.conftest import SiteFactory, calm, site_handler, write_source

TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"
TEXT_LINE = re.compile(rf"^{TIMESTAMP} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")


def muni_crawl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The command line, as cron or systemd runs it: a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "muni_crawl.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung site: a timeout)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def _grow(site_root: Path, pages: int = 8) -> None:
    """Enough pages for the anomaly checks to apply (at least 10 live)."""
    links = []
    for n in range(pages):
        (site_root / f"ekstra{n}.html").write_text(
            f"<html><body><main><h1>Ekstra {n}</h1><p>Side nummer {n} om affald og genbrug i"
            f" Testrup, med åbningstider og priser for {n} ting.</p></main></body></html>",
            encoding="utf-8",
        )
        links.append(f"<a href='/ekstra{n}.html'>e{n}</a>")
    index = site_root / "index.html"
    html = index.read_text(encoding="utf-8")
    index.write_text(html.replace("</article>", "".join(links) + "</article>"), encoding="utf-8")


# -- unreachable is not an anomaly ------------------------------------------------------------


def test_a_site_that_is_down_is_unreachable_with_its_own_exit_code(isolated_home: Path) -> None:
    port = closed_port()
    write_source(isolated_home, "nede", f"http://127.0.0.1:{port}")
    quiet = muni_crawl("--quiet", "crawl", "nede", "--no-index", "--format", "json")
    assert quiet.returncode == EXIT_UNREACHABLE, quiet.stderr
    [summary] = json.loads(quiet.stdout)
    assert summary["status"] == "unreachable"
    assert summary["message"] == f"connection refused by 127.0.0.1:{port}"
    assert summary["new"] == summary["changed"] == summary["deleted"] == 0
    # --quiet: no traceback, no Scrapy chatter; one error line that says what happened
    assert "Traceback" not in quiet.stderr
    lines = [line for line in quiet.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "crawl nede: unreachable" in lines[0], quiet.stderr
    assert f"connection refused by 127.0.0.1:{port}" in lines[0]

    verbose = muni_crawl("-v", "crawl", "nede", "--no-index")
    assert verbose.returncode == EXIT_UNREACHABLE
    assert "Traceback (most recent call last)" in verbose.stderr  # -v shows them


def test_a_site_that_goes_down_keeps_its_pages_and_index(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic"))
    _grow(site_handler(site).root)
    write_source(isolated_home, "testrup", site.url)
    assert run_crawl(["testrup"])[0].status == "ok"
    [built] = build_indexes(["testrup"])
    database = Settings.load().database
    with Store(database) as store:
        versions = store.count_versions()
        live = len(store.pages("testrup"))
    assert live >= 10  # enough that a shrunken site would be an anomaly
    site.stop()

    result = CliRunner().invoke(cli, ["--quiet", "crawl", "testrup", "--format", "json"])
    assert result.exit_code == EXIT_UNREACHABLE, result.output
    [summary] = json.loads(result.stdout)
    assert summary["status"] == "unreachable", summary  # not "anomaly ... site shrank"
    assert summary["message"].startswith("connection refused by 127.0.0.1:")
    with Store(database) as store:
        assert store.count_versions() == versions
        assert len(store.pages("testrup")) == live
    assert current_version(Settings.load().indexes_dir, "testrup") == built.version


def test_dns_tls_and_timeouts_name_their_cause(
    isolated_home: Path,
    site_server: SiteFactory,
    silent_server: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MUNI_CRAWL_DOWNLOAD_TIMEOUT", "1")
    monkeypatch.setenv("MUNI_CRAWL_RETRIES", "0")
    site = calm(site_server("basic"))
    port = site.url.rsplit(":", 1)[1]
    write_source(isolated_home, "dns", "http://ingen-kommune.invalid")
    write_source(isolated_home, "tls", f"https://127.0.0.1:{port}")  # HTTP spoken there
    write_source(isolated_home, "haenger", f"http://127.0.0.1:{silent_server}")
    done = muni_crawl("--quiet", "crawl", "dns", "tls", "haenger", "--no-index", "--format", "json")
    assert done.returncode == EXIT_UNREACHABLE, done.stderr
    summaries = {s["source"]: s for s in json.loads(done.stdout)}
    assert {s["status"] for s in summaries.values()} == {"unreachable"}
    assert summaries["dns"]["message"] == "DNS lookup failed for ingen-kommune.invalid"
    assert summaries["tls"]["message"].startswith(f"TLS handshake failed with 127.0.0.1:{port}")
    assert summaries["haenger"]["message"] == (
        f"timed out after 1 s waiting for 127.0.0.1:{silent_server}"
    )
    assert "Traceback" not in done.stderr


def test_a_site_that_answers_with_errors_failed_with_a_message(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    """It answered, so it is no network problem: `failed`, and the message says why."""
    site = calm(site_server("basic"))
    failing_source(isolated_home, site.url, site_handler(site).root)
    [summary] = run_crawl(["fejl"])
    assert summary.status == "failed"
    assert summary.message == f"{site.url}/error500.html: HTTP 500"


# -- status for a monitor ---------------------------------------------------------------------


def failing_source(home: Path, site_url: str, site_root: Path) -> None:
    """A source whose only page answers HTTP 500 (no sitemap leads anywhere else)."""
    (site_root / "robots.txt").write_text("User-agent: *\nAllow: /\n", encoding="utf-8")
    write_source(home, "fejl", site_url, start_urls=[site_url + "/error500.html"])


def _backdate_runs(database: Path, source: str) -> None:
    """As if the source's last crawl were long ago (its schedule has fired since)."""
    with sqlite3.connect(database) as conn:
        conn.execute(
            "UPDATE crawl_runs SET started_at = '2020-01-01T00:00:00.000+00:00',"
            " finished_at = '2020-01-01T00:01:00.000+00:00' WHERE source = ?",
            (source,),
        )


def test_status_exits_non_zero_for_what_needs_someone(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url, schedule="*/5 * * * *")
    write_source(isolated_home, "slukket", site.url, enabled=False)  # disabled: never a problem
    runner = CliRunner()
    assert runner.invoke(cli, ["crawl", "testrup", "--no-index"]).exit_code == 0
    healthy = runner.invoke(cli, ["status"])
    assert healthy.exit_code == EXIT_OK, healthy.output
    assert healthy.stderr == ""

    _backdate_runs(Settings.load().database, "testrup")
    overdue = runner.invoke(cli, ["status", "--json"])
    assert overdue.exit_code == EXIT_OVERDUE
    report = json.loads(overdue.stdout)  # dashboards still get the whole report
    health = {s["source"]: s["health"] for s in report["sources"]}
    assert health == {"testrup": "overdue", "slukket": "disabled"}
    assert overdue.stderr.startswith("overdue: testrup: due since 2020-01-01T00:05:00")

    write_source(isolated_home, "nede", f"http://127.0.0.1:{closed_port()}")
    runner.invoke(cli, ["crawl", "nede", "--no-index"])
    unreachable = muni_crawl("status")  # a real process, as a monitor runs it
    assert unreachable.returncode == EXIT_UNREACHABLE
    assert "unreachable: nede: last crawl unreachable at " in unreachable.stderr
    assert "connection refused by 127.0.0.1:" in unreachable.stderr
    assert "overdue: testrup" in unreachable.stderr  # every problem is named, worst first
    assert unreachable.stderr.index("unreachable: nede") < unreachable.stderr.index("overdue")

    failing_source(isolated_home, site.url, site_handler(site).root)
    runner.invoke(cli, ["crawl", "fejl", "--no-index"])
    failing = runner.invoke(cli, ["status"])
    assert failing.exit_code == EXIT_PARTIAL
    assert failing.stderr.startswith("failing: fejl: last crawl failed at ")
    assert "error500.html: HTTP 500" in failing.stderr


def test_a_source_never_crawled_is_overdue(isolated_home: Path) -> None:
    write_source(isolated_home, "ny", f"http://127.0.0.1:{closed_port()}")
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == EXIT_OVERDUE
    assert result.stderr == "overdue: ny: never crawled\n"
    assert "OVERDUE" in result.stdout


# -- logs -------------------------------------------------------------------------------------


def test_the_log_file_has_timestamps_and_no_tracebacks_without_v(isolated_home: Path) -> None:
    port = closed_port()
    write_source(isolated_home, "nede", f"http://127.0.0.1:{port}")
    log = isolated_home / "logs" / "muni-crawl.log"  # the folder is made
    result = muni_crawl("--quiet", "--log-file", str(log), "crawl", "nede", "--no-index")
    assert result.returncode == EXIT_UNREACHABLE
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines and all(TEXT_LINE.match(line) for line in lines), lines
    # the worker process writes to the same file: its Scrapy errors and its verdict
    assert any(" ERROR scrapy.downloadermiddlewares.retry: " in line for line in lines)
    assert any(" muni_crawl.crawl.worker: nede: unreachable" in line for line in lines)
    assert (
        lines[-1]
        .split(" ", 1)[1]
        .startswith(
            f"ERROR muni_crawl.cli.crawl: crawl nede: unreachable, 0 fetched, 0 new, 0 changed,"
            f" 0 deleted, 1 failed: connection refused by 127.0.0.1:{port}"
        )
    )
    assert "Traceback" not in log.read_text(encoding="utf-8")


def test_json_log_lines_parse_and_the_log_rotates(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    """-vv logs every request, from the CLI and its worker process into one file: small
    limits make both rotate it, and every line of every file is still one JSON object."""
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    log = isolated_home / "muni-crawl.log"
    result = muni_crawl(
        "-vv",
        "--log-file",
        str(log),
        "--log-format",
        "json",
        "--log-max-mb",
        "0.01",
        "--log-backups",
        "2",
        "crawl",
        "testrup",
        "--no-index",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    files = sorted(isolated_home.glob("muni-crawl.log*"))
    assert [f.name for f in files if not f.name.endswith(".lock")] == [
        "muni-crawl.log",
        "muni-crawl.log.1",
        "muni-crawl.log.2",
    ]
    records = []
    for path in (log.with_name("muni-crawl.log.2"), log.with_name("muni-crawl.log.1"), log):
        # the limit plus one record: no process kept writing into a file rotated away
        assert path.stat().st_size <= 0.01 * 1024 * 1024 + 10_000
        for line in path.read_text(encoding="utf-8").splitlines():
            records.append(json.loads(line))
    assert {"time", "level", "logger", "message", "process"} <= set(records[0])
    assert all(datetime.fromisoformat(r["time"]).tzinfo is not None for r in records)
    # the CLI, its crawl worker and, where a core is free, the worker's page analysis helper
    # (muni_crawl.crawl.analysis), which logs into the same file
    assert len({r["process"] for r in records}) in (2, 3)
    assert {r.get("source") for r in records if r["logger"].startswith("scrapy")} == {"testrup"}
    assert records[-1]["logger"] == "muni_crawl.cli.crawl"
    assert records[-1]["message"].startswith("crawl testrup: ok")
    # stderr is JSON too (for journald or docker logs), the worker's lines included
    stderr_records = [json.loads(line) for line in result.stderr.splitlines() if line]
    assert any(r.get("source") == "testrup" for r in stderr_records)


def test_an_unwritable_log_file_is_a_clear_error(isolated_home: Path) -> None:
    log = isolated_home / "spiders" / "tenants.toml" / "muni-crawl.log"  # under a file
    result = CliRunner().invoke(cli, ["--log-file", str(log), "status"])
    assert result.exit_code == 1
    assert f"Error: log file {log}: cannot write to it: " in result.stderr


# -- crontab lines ----------------------------------------------------------------------------


def test_schedule_prints_the_entry_point_and_a_due_line_as_fine_as_the_schedules(
    isolated_home: Path,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    write_source(isolated_home, "hurtig", url, schedule="*/5 * * * *")
    write_source(isolated_home, "natlig", url, schedule="0 3 * * *")
    write_source(isolated_home, "slukket", url, schedule="* * * * *", enabled=False)
    result = CliRunner().invoke(cli, ["schedule"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    entry = Path(sys.executable).parent / "muni-crawl"
    [crawl] = [line for line in lines if "crawl --due" in line and not line.startswith("#")]
    # every 5 minutes: the */5 source is never held back by a coarser line
    assert crawl.startswith(f"*/5 * * * * cd {isolated_home.resolve()} && {entry} --quiet")
    log = isolated_home.resolve() / "logs" / "muni-crawl.log"
    assert f"--log-file {log} crawl --due > /dev/null" in crawl
    assert ">>" not in result.stdout and "python -m" not in result.stdout
    assert "#   */5 * * * *: hurtig" in lines and "#   0 3 * * *: natlig" in lines
    assert not any("slukket" in line for line in lines)
    [status] = [line for line in lines if " status --json" in line]
    assert status.startswith("5 6 * * * ") and status.endswith("status.json")


def test_the_due_line_runs_at_every_minute_a_schedule_can_fire(isolated_home: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    write_source(isolated_home, "a", url, schedule="7 3 * * *")
    write_source(isolated_home, "b", url, schedule="37 */2 * * 1-5")
    write_source(isolated_home, "c", url, schedule="@daily")
    specs = list(load_registry(Settings.load().spiders_dir).sources.values())
    assert check_minutes(specs) == [0, 7, 37]
    assert minute_field(check_minutes(specs)) == "0,7,37"
    assert minute_field(check_minutes([])) == "0"  # nothing enabled: still hourly
    assert minute_field(list(range(0, 60, 15))) == "*/15"
    assert minute_field(list(range(60))) == "*"


# -- settings ---------------------------------------------------------------------------------


def test_an_unknown_variable_is_named_with_the_nearest_setting(
    isolated_home: Path, site_server: SiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUNI_CRAWL_LLM_MODLE", "gpt-4o-mini")
    monkeypatch.setenv("MUNI_CRAWL_ZZZ", "1")
    monkeypatch.setenv("MUNI_CRAWL_API_KEYS", "k1")  # read by `serve`, no setting: no warning
    assert unknown_variables(os.environ) == [
        ("MUNI_CRAWL_LLM_MODLE", "MUNI_CRAWL_LLM_MODEL"),
        ("MUNI_CRAWL_ZZZ", None),
    ]
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    result = muni_crawl("crawl", "testrup", "--no-index")
    assert result.returncode == 0, result.stderr  # a warning, not a failure
    hint = (
        "WARNING muni_crawl.config: unknown environment variable MUNI_CRAWL_LLM_MODLE is"
        " ignored; did you mean MUNI_CRAWL_LLM_MODEL?"
    )
    assert result.stderr.count(hint) == 1  # once: the crawl worker does not repeat it
    assert "unknown environment variable MUNI_CRAWL_ZZZ is ignored\n" in result.stderr
    assert "MUNI_CRAWL_API_KEYS" not in result.stderr
