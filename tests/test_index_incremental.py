"""Incremental re-index: only changed pages are re-chunked, and the result is a full build's."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest

from muni_crawl import Settings, build_indexes
from muni_crawl.chunk import chunk_page
from muni_crawl.extract import fingerprint
from muni_crawl.home import Home
from muni_crawl.index import BuildResult, current_version, tenant_dir, tenant_pages
from muni_crawl.index.chunk_cache import ChunkCache, ChunkSettings
from muni_crawl.index.dedupe import collapse_duplicates
from muni_crawl.index.layout import passages_digest, read_manifest
from muni_crawl.store import PageStore
from muni_crawl.store.records import VersionCounts
from muni_crawl.types import Document, Passage

NEW_TEXT = (
    "# Vinterbadning\n\nKommunen åbner vinterbadeanstalten ved havnen den 1. november. Du "
    "køber et sæsonkort i borgerservice eller på kommunens hjemmeside, og kortet gælder til "
    "udgangen af marts."
)


def _store_text(store: PageStore, source: str, url: str, title: str, text: str) -> None:
    """A crawl of `source` found `text` at `url` (a new page or a new version of one)."""
    run = store.start_run(source)
    doc = Document(url=url, title=title, text=text, language="da")
    store.store_versions(source, url, [(doc, text, fingerprint(text))], run, VersionCounts())
    store.finish_run(run, "ok", new=1, changed=0, unchanged=0, deleted=0, capped=False)


def _remove(store: PageStore, source: str, url: str) -> None:
    """A crawl of `source` found the page at `url` gone."""
    run = store.start_run(source)
    store.store_versions(source, url, [], run, VersionCounts())
    store.finish_run(run, "ok", new=0, changed=0, unchanged=0, deleted=1, capped=False)


def _served(home: Path, tenant: str) -> tuple[list[dict[str, object]], str]:
    """The passages (as stored) and the digest of the tenant's current index version."""
    indexes = home / "indexes"
    folder = tenant_dir(indexes, tenant) / str(current_version(indexes, tenant))
    with (folder / "passages.jsonl").open(encoding="utf-8") as handle:
        passages = [json.loads(line) for line in handle]
    manifest = read_manifest(folder)
    assert manifest is not None
    return passages, manifest.digest


def _full(settings: Settings, tenant: str) -> list[Passage]:
    """Every page of the tenant chunked afresh and collapsed, as a build without the cache;
    the national text left to the shared index."""
    limits = settings.index
    with PageStore(settings.database) as store:
        pages = tenant_pages(store, Home.of(settings).registry, tenant)
    chunked = [
        p
        for page in pages
        for p in chunk_page(
            page, min_tokens=limits.chunk_min_tokens, max_tokens=limits.chunk_max_tokens
        )
    ]
    return [p for p in collapse_duplicates(chunked) if p.scope != "national"]


def _hidden(home: Path, tenant: str) -> dict[str, list[str]]:
    """What the tenant's current version hides of the shared indexes it names."""
    indexes = home / "indexes"
    folder = tenant_dir(indexes, tenant) / str(current_version(indexes, tenant))
    hidden: dict[str, list[str]] = json.loads((folder / "shared.json").read_text())["hidden"]
    return hidden


def _as_stored(passages: list[Passage]) -> list[dict[str, object]]:
    records = [p.to_dict() for p in passages]
    for record in records:
        record.pop("score")
        record.pop("dense_score")
    return records


def _by_tenant(results: list[BuildResult]) -> dict[str, BuildResult]:
    return {r.tenant: r for r in results}


def test_a_reindex_chunks_only_changed_pages_and_equals_a_full_build(
    example_home: Path,
    tmp_path: Path,
    shared_embedding_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "copy"
    shutil.copytree(example_home, home)
    settings = Settings.load(home, embedding_cache=shared_embedding_cache)
    texts_read: list[int] = []
    page_texts = PageStore.page_texts

    def counted(store: PageStore, version_ids: Iterable[int]) -> dict[int, str]:
        wanted = list(version_ids)
        texts_read.extend(wanted)
        return page_texts(store, wanted)

    monkeypatch.setattr(PageStore, "page_texts", counted)

    # without its chunk cache (lost, or an index built before it) a build chunks every page
    # once and finds the index current
    ChunkCache.path_for(settings.database).unlink()
    first = _by_tenant(build_indexes(["example", "naboby"], home=settings))
    assert {r.status for r in first.values()} == {"unchanged"}
    assert first["example"].chunked_pages == first["example"].documents > 0
    before, _ = _served(home, "example")

    # unchanged: told from page versions alone, not one page text read
    texts_read.clear()
    again = _by_tenant(build_indexes(["example", "naboby"], home=settings))
    assert {r.status for r in again.values()} == {"unchanged"}
    assert [r.chunked_pages for r in again.values()] == [0, 0, 0]  # shared, example, naboby
    assert again["example"].passages == first["example"].passages
    assert texts_read == []

    # one page added, one changed, one deleted
    with PageStore(settings.database) as store:
        pages = [p for p in store.pages("example") if "/aeldre/" in p.url]  # one page a URL
        changed, deleted = pages[0], pages[1]
        _store_text(store, "example", "http://127.0.0.1:8761/vinterbad.html", "Vinterbad", NEW_TEXT)
        _store_text(store, "example", changed.url, changed.title, changed.text + "\n\n" + NEW_TEXT)
        _remove(store, "example", deleted.url)
    texts_read.clear()
    built = _by_tenant(build_indexes(["example", "naboby"], home=settings))
    result = built["example"]
    assert result.status == "built"
    assert result.chunked_pages == 2 and len(texts_read) == 2
    assert built["naboby"].status == "unchanged" and built["naboby"].chunked_pages == 0

    full = _full(settings, "example")
    served, digest = _served(home, "example")
    assert served == _as_stored(full)  # same passages, same order
    assert digest == passages_digest(read_manifest_model(home), full, _hidden(home, "example"))
    assert not any(p["page_id"] == deleted.id for p in served)
    # only the passages that are new text were embedded: those of the new and changed pages
    known = {json.dumps([p["title"], p["heading"], p["text"]]) for p in before}
    fresh = {
        json.dumps([p.title, p.heading, p.text])
        for p in full
        if p.page_id not in {q["page_id"] for q in before} or p.page_id == changed.id
    }
    assert result.new_embeddings == len(fresh - known) > 0

    # a forced build re-chunks every page and writes the same passages and digest
    forced = _by_tenant(build_indexes(["example"], home=settings, force=True))["example"]
    with PageStore(settings.database) as store:
        in_view = len(tenant_pages(store, Home.of(settings).registry, "example"))
    # every page of the view; the changed page's added text duplicates the new page's, so one
    # page may have no passage left after copies are collapsed (documents counts the rest)
    assert forced.chunked_pages == in_view >= forced.documents
    assert _served(home, "example") == (served, digest)


def read_manifest_model(home: Path) -> str:
    indexes = home / "indexes"
    folder = tenant_dir(indexes, "example") / str(current_version(indexes, "example"))
    manifest = read_manifest(folder)
    assert manifest is not None
    return manifest.model_id


def test_the_chunk_cache_never_serves_passages_of_other_settings_or_versions(
    example_home: Path, tmp_path: Path
) -> None:
    home = tmp_path / "copy"
    shutil.copytree(example_home, home)
    settings = Settings.load(home)
    cache = ChunkCache(tmp_path / "chunks.db")
    small, large = ChunkSettings(40, 90), ChunkSettings(150, 350)
    with PageStore(settings.database) as store:
        heads = store.page_heads()
        for chunk_settings in (small, large):
            expected = [
                p
                for page in store.pages()
                for p in chunk_page(
                    page,
                    min_tokens=chunk_settings.min_tokens,
                    max_tokens=chunk_settings.max_tokens,
                )
            ]
            fresh = cache.passages(heads, chunk_settings, store.page_texts)
            assert fresh.chunked_pages == len(heads)  # the other settings' entries are not used
            assert fresh.passages == expected
            cached = cache.passages(heads, chunk_settings, store.page_texts)
            assert (cached.chunked_pages, cached.passages) == (0, expected)
        # a new version of a page (same id) is chunked again; pruning drops deleted pages
        page = next(p for p in store.pages("example") if "/aeldre/" in p.url)
        _store_text(store, "example", page.url, page.title, NEW_TEXT)
        newer = cache.passages(store.page_heads(), large, store.page_texts)
        assert newer.chunked_pages == 1
        assert [p.text for p in newer.passages if p.page_id == page.id] == [NEW_TEXT]
        _remove(store, "example", page.url)
        assert cache.prune(store.live_page_ids()) == 1
    cache.close()
