"""End to end: a real Scrapy crawl of a real HTTP server on 127.0.0.1 into a real SQLite store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from muni_crawl import Settings, Store, run_crawl
from muni_crawl.cli import cli
from muni_crawl.cli.common import EXIT_PARTIAL
from tests.conftest import SiteFactory, calm, site_handler, write_source


def test_first_crawl_stores_main_text_of_every_reachable_page(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = site_server("basic")
    write_source(isolated_home, "testrup", site.url, sitemaps=[site.url + "/sitemap.xml"])
    [summary] = run_crawl(["testrup"])
    handler = site_handler(site)
    paths = [path for _, path, _ in handler.requests]

    with Store(Settings.load().database) as store:
        pages = {p.url.removeprefix(site.url): p for p in store.pages("testrup")}
    assert {"/index.html", "/affald.html", "/pas.html", "/dokumenter/regler.pdf"} <= set(pages)
    # robots.txt is obeyed and the User-Agent names the project
    assert not any(p.startswith("/intern/") for p in paths)
    assert all("muni_crawl" in headers.get("User-Agent", "") for _, _, headers in handler.requests)
    # boilerplate (menu, cookie banner, footer) is not part of any stored text
    for page in pages.values():
        assert "cookie" not in page.text.lower()
        assert "Rådhustorvet 9" not in page.text
        assert "webredaktion" not in page.text  # repeated inside <article>: learnt, stripped
    assert "Storskrald hentes ved din bolig" in pages["/affald.html"].text
    assert "## Hvad er storskrald?" in pages["/affald.html"].text
    assert pages["/affald.html"].title == "Affald og storskrald"
    assert pages["/affald.html"].language == "da"
    # the PDF is extracted too
    pdf = pages["/dokumenter/regler.pdf"]
    assert pdf.content_type == "application/pdf" and "PDF-MARKØR-STORSKRALD" in pdf.text
    # tracking parameters and session ids collapse into the clean URL
    assert not any("utm_" in url or "sessionid" in url for url in pages)
    # the calendar trap stops at the query-variant cap (3 in tests)
    assert sum(1 for p in paths if p.startswith("/kalender.html?")) <= 3
    # nothing outside allowed_domains was requested
    assert not any("example.invalid" in url for url in pages)
    # 500, timeout, redirect loop, 20 MB page and binary junk are counted, not fatal
    assert summary.failed == 5
    assert summary.status == "partial"
    assert summary.new == len(pages)


def test_recrawl_of_unchanged_site_stores_no_new_versions(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    first = run_crawl(["testrup"])[0]
    with Store(Settings.load().database) as store:
        versions = store.count_versions()
    handler = site_handler(site)
    handler.requests.clear()
    second = run_crawl(["testrup"])[0]
    with Store(Settings.load().database) as store:
        assert store.count_versions() == versions
    assert (second.new, second.changed, second.deleted) == (0, 0, 0)
    assert second.unchanged == first.new
    assert second.not_modified >= first.fetched - 1  # conditional requests answered with 304
    conditional = [h for _, p, h in handler.requests if p == "/pas.html"]
    assert conditional and "If-None-Match" in conditional[0]


def test_cms_that_changes_headers_every_time_still_stores_no_new_version(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic", no_conditional=True))
    write_source(isolated_home, "testrup", site.url)
    run_crawl(["testrup"])
    second = run_crawl(["testrup"])[0]
    assert second.not_modified == 0 and second.fetched > 5
    assert (second.new, second.changed) == (0, 0)


def test_changed_page_gets_a_new_version_and_keeps_its_history(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    run_crawl(["testrup"])
    pas = site_handler(site).root / "pas.html"
    pas.write_text(pas.read_text().replace("672 kr.", "695 kr."), encoding="utf-8")
    summary = run_crawl(["testrup"])[0]
    assert (summary.changed, summary.new) == (1, 0)
    with Store(Settings.load().database) as store:
        versions = store.page_versions("testrup", site.url + "/pas.html")
    assert [v.version for v in versions] == [1, 2]
    assert "672 kr." in versions[0].text and "695 kr." in versions[1].text


def test_pages_that_404_or_vanish_are_marked_deleted(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    run_crawl(["testrup"])
    root = site_handler(site).root
    (root / "laege.html").unlink()  # now answers 404
    # parkering.html still exists, but neither a link nor the sitemap leads to it any more
    index = root / "index.html"
    index.write_text(index.read_text().replace("<a href='/parkering.html'>parkering</a>", ""))
    # laege.html leaves the sitemap too, as a generated sitemap would: while a sitemap still
    # lists a page with an old lastmod, the crawl trusts it (sitemap_trust_days) and does not
    # request it, and whether the link from index.html or the sitemap entry came first would
    # decide whether the 404 is seen at all (a flake, 2 in 12 runs under load)
    sitemap = root / "sitemap.xml"
    listed = sitemap.read_text().replace("__BASE__/parkering.html", "__BASE__/pas.html")
    entry = "<url><loc>__BASE__/laege.html</loc><lastmod>2026-01-01</lastmod></url>"
    assert entry in listed
    sitemap.write_text(listed.replace(entry, ""))
    summary = run_crawl(["testrup"])[0]
    with Store(Settings.load().database) as store:
        live = {p.url for p in store.pages("testrup")}
        everything = {p.url: p.status for p in store.pages("testrup", include_deleted=True)}
    assert site.url + "/laege.html" not in live
    assert site.url + "/parkering.html" not in live
    assert everything[site.url + "/laege.html"] == "deleted"
    assert everything[site.url + "/parkering.html"] == "deleted"
    assert summary.deleted == 2


def test_sitemap_lastmod_lets_a_recrawl_skip_unchanged_pages(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url, sitemaps=[site.url + "/sitemap.xml"])
    run_crawl(["testrup"])
    handler = site_handler(site)
    handler.requests.clear()
    second = run_crawl(["testrup"])[0]
    assert second.skipped >= 7
    assert not any(p == "/pas.html" for _, p, _ in handler.requests)
    assert (second.new, second.changed, second.deleted) == (0, 0, 0)


def test_a_304_renews_the_sitemap_trust_window(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    """Once the trust window lapsed, pages are asked for again; their 304s renew the trust,
    so the next crawl skips them by the sitemap again instead of asking every day."""
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url, sitemaps=[site.url + "/sitemap.xml"])
    run_crawl(["testrup"])
    database = Settings.load().database
    with sqlite3.connect(database) as conn:  # as if the last fetch was ten days ago
        conn.execute("UPDATE resources SET last_fetched_at = '2026-01-02T00:00:00.000+00:00'")
    handler = site_handler(site)
    handler.requests.clear()
    lapsed = run_crawl(["testrup"])[0]
    assert lapsed.not_modified >= 7 and lapsed.skipped == 0, lapsed
    assert any(p == "/pas.html" for _, p, _ in handler.requests)
    handler.requests.clear()
    renewed = run_crawl(["testrup"])[0]
    assert renewed.skipped >= 7, renewed
    assert not any(p == "/pas.html" for _, p, _ in handler.requests)


def test_cli_crawl_prints_a_summary_and_exits_3_when_pages_failed(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = site_server("basic")
    write_source(isolated_home, "testrup", site.url)
    result = CliRunner().invoke(cli, ["crawl", "testrup", "--format", "json"])
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert '"failed": 5' in result.stdout
    listing = CliRunner().invoke(cli, ["pages", "--source", "testrup", "--format", "csv"])
    assert listing.exit_code == 0 and "/affald.html" in listing.stdout
