"""The crawl benchmark's Scrapy anchors stay honest: they crawl the whole site they are given,
the trafilatura one extracts every page, and the ETag re-crawl is answered with 304s.

A ratio against an anchor that skips pages or never revalidates would flatter us; this
crawls a tiny generated site (benchmarks/crawl.py's generator, on a free port) with each.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.crawl import SOURCE, CrawlResult, CrawlRow, median_run, write_home, write_site
from benchmarks.crawl_anchors import AnchorRow, anchor_config, anchor_problems, run_anchor
from muni_crawl import Settings
from muni_crawl.example.server import serve
from muni_crawl.types import CrawlSummary

PAGES = 20


def test_anchors_crawl_the_whole_site_and_revalidate(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    pages = write_site(site, PAGES)
    assert pages == PAGES
    running = serve(site, name=SOURCE)
    try:
        write_home(tmp_path / "home", running.url, pages)
        settings = Settings.load(tmp_path / "home", autothrottle=False, concurrency_per_host=8)
        config = anchor_config(settings, SOURCE)
        # our politeness, not our components
        assert config.scrapy_settings["ROBOTSTXT_OBEY"] is True
        assert config.scrapy_settings["CONCURRENT_REQUESTS_PER_DOMAIN"] == 8
        assert config.scrapy_settings["AUTOTHROTTLE_ENABLED"] is False
        assert "DOWNLOADER_MIDDLEWARES" not in config.scrapy_settings
        assert not [k for k in config.scrapy_settings if k.startswith("MUNI_CRAWL")]
        assert not [v for v in config.scrapy_settings.values() if "muni_crawl." in str(v)]
        state = tmp_path / "state.json"
        bare = run_anchor("bare", config, state_out=state)
        extracting = run_anchor("trafilatura", config)
        again = run_anchor("etag", config, state_in=state)
    finally:
        running.stop()

    assert (bare.fetched, bare.not_modified, bare.failed) == (PAGES, 0, 0)
    assert (extracting.fetched, extracting.extracted, extracting.failed) == (PAGES, PAGES, 0)
    assert (again.fetched, again.not_modified, again.failed) == (0, PAGES, 0)
    for row in (bare, extracting, again):
        assert anchor_problems(row, PAGES) == []
        assert row.wall_s > 0 and row.cpu_s > 0
        rate = row.pages_per_minute
        assert rate is not None and rate > 0
        if sys.platform == "linux":  # the child's own peak, not this process's size
            assert row.peak_rss_mib is not None and 20 < row.peak_rss_mib < 1024


def test_anchor_problems_name_what_an_anchor_missed() -> None:
    def row(mode: str, fetched: int, not_modified: int = 0, extracted: int = 0) -> AnchorRow:
        return AnchorRow(mode, mode, fetched, not_modified, extracted, 0, 1.0, 1.0, None)

    assert anchor_problems(row("bare", 19), 20) == ["bare: fetched 19 of 20 pages"]
    assert anchor_problems(row("trafilatura", 20, extracted=18), 20) == [
        "trafilatura: text extracted from 18 of 20 pages"
    ]
    assert anchor_problems(row("etag", 20), 20) == [
        "etag: 0 of 20 pages answered 304",
        "etag: 20 pages downloaded again, expected none",
    ]


def _ours(name: str, seen: int, wall: float) -> CrawlRow:
    summary = CrawlSummary(source=SOURCE, run_id=1, status="ok", fetched=seen)
    return CrawlRow(name, summary, wall, 1.0, None)


def _theirs(mode: str, seen: int, wall: float, cpu: float = 1.0) -> AnchorRow:
    return AnchorRow(mode, mode, seen, 0, 0, 0, wall, cpu, None)


def test_comparisons_pair_each_run_with_its_own_anchor_and_take_medians() -> None:
    firsts = [_ours("first", 600, 60.0), _ours("first", 600, 30.0), _ours("first", 600, 120.0)]
    agains = [_ours("re-crawl", 600, 10.0)] * 3
    anchors = {
        "bare": [_theirs("bare", 600, wall, cpu=0.5) for wall in (30.0, 30.0, 60.0)],
        "trafilatura": [_theirs("trafilatura", 600, 60.0)] * 3,
        "etag": [_theirs("etag", 600, 20.0)] * 3,
    }
    result = CrawlResult(600, 3, firsts, agains, anchors, [])
    assert median_run(firsts) is firsts[0]  # 600, 1200 and 300 pages/min: 600 in the middle
    bare, extracting, etag = result.comparisons
    assert bare.ratio == pytest.approx(600 / 1200)
    assert bare.each == pytest.approx([0.5, 1.0, 0.5])
    assert bare.cpu_ratio == pytest.approx(0.5)  # the anchor needs half our CPU
    assert extracting.ratio == pytest.approx(1.0)
    assert etag.ratio == pytest.approx(3600 / 1800)
