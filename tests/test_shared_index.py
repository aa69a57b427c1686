"""National text is indexed once, in a shared index searched beside each tenant's own."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from muni_crawl import Library, Settings, build_indexes
from muni_crawl.errors import IndexNotBuiltError
from muni_crawl.extract import fingerprint
from muni_crawl.home import Home
from muni_crawl.index import load_current, shared_dir
from muni_crawl.index.layout import load_current_in
from muni_crawl.status import status_report
from muni_crawl.store import PageStore
from muni_crawl.store.records import VersionCounts
from muni_crawl.types import Document

SOURCE = "example-borger"  # the example's borger.dk-like service
CODES = {"example": 999, "naboby": 998}
NEW_RULE = (
    "Fra 2027 kan boligstøtte søges sammen med flyttemeddelelsen, og en ansøgning om"
    " boligstøtte til en kolonihave behandles inden for fjorten dage."
)


def _copy(example_home: Path, tmp_path: Path, cache: Path) -> Settings:
    home = tmp_path / "copy"
    shutil.copytree(example_home, home)
    return Settings.load(home, embedding_cache=cache)


def test_national_text_is_held_once_and_each_tenant_sees_it_beside_its_own(
    example_home: Path, tmp_path: Path, shared_embedding_cache: Path
) -> None:
    settings = _copy(example_home, tmp_path, shared_embedding_cache)
    indexes = settings.indexes_dir
    shared = load_current_in(shared_dir(indexes, SOURCE), SOURCE)
    assert shared.passages and {p.scope for p in shared.passages} == {"national"}
    library = Library(settings)
    question = "Hvem kan få boligstøtte?"
    for tenant, code in CODES.items():
        own = load_current(indexes, tenant)
        # the tenant's own index: its sites and only its own local text, no national copy
        assert own.manifest.shared == [SOURCE]
        assert own.passages and not any(p.scope == "national" for p in own.passages)
        assert {p.municipality_code for p in own.passages if p.scope == "local"} == {code}
        found = library.retrieve(tenant, question)
        assert found.shared_versions == {SOURCE: shared.version}
        assert found.index_version == own.version
        assert any(p.scope == "national" for p in found.passages), found.passages
        assert all(p.municipality_code in (None, code) for p in found.passages)
        # billed for what was searched: its own passages and the shared ones it sees
        view = library.index(tenant)
        hidden = own.shared_hidden[SOURCE]
        assert found.passages_searched == len(own.passages) + len(shared.passages) - len(hidden)
        assert found.passages_searched == view.passage_count < len(view.passages) + 1
        # a shared passage the tenant's view collapsed into its own copy never comes back
        query = library.embedder.embed_queries([question])[0]
        everything = view.dense_search(query, len(view.passages))
        assert len(everything) == view.passage_count
        assert not any(view.passages[i].id in hidden for i, _ in everything)
    # one loaded copy of the shared index serves both tenants
    assert library.index("example").shared[SOURCE] is library.index("naboby").shared[SOURCE]
    # and `muni-crawl status` shows it beside the tenants
    [row] = status_report(Home.of(settings))["shared_indexes"]
    assert (row["source"], row["index_version"]) == (SOURCE, shared.version)
    assert row["passages"] == len(shared.passages) and row["documents"] > 0


def test_a_national_change_rebuilds_the_shared_index_only_and_is_served_at_once(
    example_home: Path, tmp_path: Path, shared_embedding_cache: Path
) -> None:
    settings = _copy(example_home, tmp_path, shared_embedding_cache)
    library = Library(settings)
    before = {t: library.retrieve(t, "boligstøtte kolonihave").index_version for t in CODES}
    with PageStore(settings.database) as store:
        # one article: its national text changes, its local sections (url#kommune-NNN) do not
        article = [p for p in store.pages(SOURCE) if "boligstoette" in p.url]
        assert [p.scope for p in article].count("national") == 1 and len(article) > 1
        documents = []
        for page in article:
            doc = Document(
                page.url,
                page.title,
                page.text,
                "text/html",
                "da",
                page.scope,
                page.municipality_code,
            )
            if page.scope == "national":
                text = page.text + "\n\n" + NEW_RULE
                doc = replace(doc, text=text)
                documents.append((doc, text, fingerprint(text)))
            else:
                documents.append((doc, page.text, page.fingerprint))
        run = store.start_run(SOURCE)
        store.store_versions(SOURCE, article[0].url.split("#")[0], documents, run, VersionCounts())
        store.finish_run(run, "ok", new=0, changed=1, unchanged=0, deleted=0, capped=False)
    results = {r.tenant: r for r in build_indexes(list(CODES), home=settings)}
    assert results[f"_shared/{SOURCE}"].status == "built"
    assert results[f"_shared/{SOURCE}"].chunked_pages == 1
    assert {results[t].status for t in CODES} == {"unchanged"}
    shared_version = results[f"_shared/{SOURCE}"].version
    for tenant in CODES:
        # the same Library serves the new shared version without a restart
        found = library.retrieve(tenant, "Hvor hurtigt behandles boligstøtte til en kolonihave?")
        assert found.index_version == before[tenant]
        assert found.shared_versions == {SOURCE: shared_version}
        assert any("fjorten dage" in p.text for p in found.passages), found.passages


def test_a_shared_index_of_another_model_is_a_clear_error_not_mixed_vectors(
    example_home: Path, tmp_path: Path, shared_embedding_cache: Path
) -> None:
    """Vectors of two models must never be compared: a shared index built with another model
    than the tenant's refuses to load, naming both and what to run."""
    settings = _copy(example_home, tmp_path, shared_embedding_cache)
    root = shared_dir(settings.indexes_dir, SOURCE)
    manifest = root / (root / "CURRENT").read_text().strip() / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "model_id": "other/m"}))
    with pytest.raises(IndexNotBuiltError, match=r"other/m.*muni-crawl index"):
        Library(settings).retrieve("example", "Hvem kan få boligstøtte?")
