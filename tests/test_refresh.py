"""refresh(): crawl -> finalise -> mark stale -> re-index, as one library call (cron's job)."""

from __future__ import annotations

from pathlib import Path

import pytest

from muni_crawl import Answerer, Home, refresh
from muni_crawl.embed import embedder_for
from muni_crawl.review import approve

from .conftest import SiteFactory, calm, site_handler, write_source

QUESTION = "Hvad koster et pas til voksne?"


def test_refresh_crawls_marks_stale_and_reindexes(
    isolated_home: Path, site_server: SiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUNI_CRAWL_REVIEW_EXTRACTIVE", "true")  # extractive answers get reviewed
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    with Home.open() as home:
        first = refresh(["testrup"], home=home)
        assert [c.status for c in first.crawls] == ["ok"] and first.stale_answers == []
        assert [(r.tenant, r.status) for r in first.indexes] == [("testrup", "built")]

        with Answerer(home) as answerer:
            answer = answerer.answer("testrup", QUESTION)
        assert "672 kr." in answer.text
        with home.store() as store:
            approve(
                store, answer.id, reviewer="anna", embedder=embedder_for(home.settings.embedding)
            )

        unchanged = refresh(["testrup"], home=home)  # nothing changed: nothing stale or rebuilt
        assert unchanged.stale_answers == [] and unchanged.indexes == []

        pas = site_handler(site).root / "pas.html"
        pas.write_text(pas.read_text().replace("672 kr.", "695 kr."), encoding="utf-8")
        changed = refresh(["testrup"], home=home)
        assert changed.stale_answers == [answer.id]
        assert [(r.tenant, r.status) for r in changed.indexes] == [("testrup", "built")]
        with home.store() as store:
            assert store.answer(answer.id).review_status == "stale"  # type: ignore[union-attr]

        nothing_due = refresh(home=home, due=True)  # crawled just now: the schedule has not fired
        assert nothing_due.crawls == [] and nothing_due.indexes == []


def test_refresh_without_reindex_leaves_the_index_alone(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    result = refresh(["testrup"], home=isolated_home, reindex=False)
    assert [c.status for c in result.crawls] == ["ok"] and result.indexes == []
    assert not (isolated_home / "indexes" / "testrup").exists()
