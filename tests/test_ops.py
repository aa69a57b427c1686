"""Operations: cron (--due, crontab lines), locks with a distinct exit code, anomalies, status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from muni_crawl import Settings, Store, build_indexes, load_registry, run_crawl
from muni_crawl.cli import cli
from muni_crawl.cli.common import EXIT_LOCKED, EXIT_OVERDUE, EXIT_PARTIAL
from muni_crawl.index import current_version
from muni_crawl.locks import SourceLock
from muni_crawl.schedule import due_sources
from tests.conftest import SiteFactory, calm, site_handler, write_source


def test_crawl_due_runs_only_what_its_schedule_says(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url, schedule="0 3 * * *")
    write_source(isolated_home, "off", site.url, enabled=False)
    runner = CliRunner()
    first = runner.invoke(cli, ["crawl", "--due", "--no-index", "--format", "json"])
    assert first.exit_code == 0, first.output
    assert [r["source"] for r in json.loads(first.stdout)] == ["testrup"]  # not the disabled one
    second = runner.invoke(cli, ["crawl", "--due"])
    assert second.exit_code == 0 and "No source is due" in second.stderr
    settings = Settings.load()
    registry = load_registry(settings.spiders_dir)
    with Store(settings.database) as store:
        tomorrow = datetime.now(UTC) + timedelta(days=1, hours=1)
        assert [s.name for s in due_sources(registry, store, now=tomorrow)] == ["testrup"]
    both = runner.invoke(cli, ["crawl", "--due", "--all"])
    assert both.exit_code == 2


def test_a_second_crawl_of_a_locked_source_exits_at_once_with_code_4(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    lock = SourceLock(isolated_home / ".locks", "testrup")
    lock.acquire()
    try:
        result = CliRunner().invoke(cli, ["crawl", "testrup", "--no-index"])
    finally:
        lock.release()
    assert result.exit_code == EXIT_LOCKED, result.output
    assert "already being crawled" in result.stdout
    # a lock file left behind by a dead process does not block: flock died with it
    (isolated_home / ".locks" / "testrup.lock").write_text("999999")
    assert run_crawl(["testrup"])[0].status == "ok"


def test_a_site_in_maintenance_does_not_wipe_the_index(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic"))
    for n in range(8):  # enough pages for anomaly checks to apply
        (site_handler(site).root / f"ekstra{n}.html").write_text(
            f"<html><body><main><h1>Ekstra {n}</h1><p>Side nummer {n} om affald og"
            f" genbrug i Testrup, med åbningstider og priser for {n} ting.</p></main></body></html>"
        )
    index = site_handler(site).root / "index.html"
    links = "".join(f"<a href='/ekstra{n}.html'>e{n}</a>" for n in range(8))
    index.write_text(index.read_text().replace("</article>", links + "</article>"))
    write_source(isolated_home, "testrup", site.url)
    run_crawl(["testrup"])
    [built] = build_indexes(["testrup"])
    with Store(Settings.load().database) as store:
        versions = store.count_versions()
        live = len(store.pages("testrup"))
    site_handler(site).mode["maintenance"] = True
    result = CliRunner().invoke(cli, ["crawl", "testrup", "--format", "json"])
    assert result.exit_code == EXIT_PARTIAL, result.output
    [summary] = json.loads(result.stdout)
    assert summary["status"] == "anomaly" and "shrank" in summary["message"]
    with Store(Settings.load().database) as store:
        assert store.count_versions() == versions and len(store.pages("testrup")) == live
    assert current_version(Settings.load().indexes_dir, "testrup") == built.version


def test_status_and_schedule(isolated_home: Path, site_server: SiteFactory) -> None:
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url, schedule="*/5 * * * *")
    write_source(isolated_home, "never", site.url)
    runner = CliRunner()
    runner.invoke(cli, ["crawl", "testrup"])
    report = json.loads(runner.invoke(cli, ["status", "--json"]).stdout)
    sources = {s["source"]: s for s in report["sources"]}
    assert sources["testrup"]["last_status"] == "ok" and sources["testrup"]["pages_live"] > 5
    assert sources["testrup"]["overdue"] is False
    assert sources["never"]["last_status"] == "never crawled" and sources["never"]["overdue"]
    tenants = {t["tenant"]: t for t in report["tenants"]}
    assert tenants["testrup"]["passages"] > 0 and tenants["testrup"]["index_version"]
    table = runner.invoke(cli, ["status"])
    assert table.exit_code == EXIT_OVERDUE and "OVERDUE" in table.stdout  # "never" is overdue
    assert table.stderr == "overdue: never: never crawled\n"
    lines = runner.invoke(cli, ["schedule"]).stdout.splitlines()
    # testrup's */5 schedule is kept: the --due line runs every 5 minutes, not every 15
    assert any("crawl --due" in line and line.startswith("*/5 * * * *") for line in lines)
    assert f"MUNI_CRAWL_HOME={isolated_home.resolve()}" in lines
