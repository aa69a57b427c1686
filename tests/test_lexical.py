"""Lexical retrieval on municipal text: Danish compounds, weighted titles, collapsed copies."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from muni_crawl import IndexNotBuiltError, Library, build_indexes, run_crawl
from muni_crawl.compounds import CompoundSplitter
from muni_crawl.index import IndexView, TenantIndex
from muni_crawl.index.dedupe import collapse_duplicates
from muni_crawl.index.layout import COMPOUNDS_FILE, FORMAT_VERSION
from muni_crawl.lexical import HEADING_WEIGHT, TITLE_WEIGHT, Analyser, stem, words
from muni_crawl.types import Passage

CURATED = CompoundSplitter()  # the curated lists only, no corpus


@pytest.mark.parametrize(
    ("word", "parts"),
    [
        ("haveaffald", {"have", "affald"}),
        ("storskraldsordning", {"stor", "skrald", "ordning"}),
        ("parkeringstilladelse", {"parkering", "tilladelse"}),
        ("boligstøtte", {"bolig", "støtte"}),
        ("storskraldet", {"stor", "skrald"}),  # an inflected last part, in its plain form
        ("skraldebilen", {"skrald", "bil"}),  # linking "e", then "bil" + "en"
        ("affaldsvejledning", {"affald", "vejledning"}),  # "vejledning" stays whole inside
    ],
)
def test_compounds_split_into_their_parts(word: str, parts: set[str]) -> None:
    assert set(CURATED.parts(word)) == parts


@pytest.mark.parametrize(
    "word",
    # not compounds, or only at a wrong seam: function words, suffixes, short words
    [
        *("vejledning", "forældre", "passet", "daglige", "sygdom", "priserne", "sorteret"),
        *("kommunen", "betaling", "undervisning", "sommer", "tilmelding", "affald", "hus"),
    ],
)
def test_words_that_are_not_compounds_stay_whole(word: str) -> None:
    assert CURATED.parts(word) == ()


def test_the_corpus_decides_which_words_are_parts() -> None:
    """A part no curated list knows ("luftning") becomes one when the index's own text uses it
    often enough, and the lexicon survives a save and a load."""
    assert CURATED.parts("hundeluftning") == ()
    corpus = CompoundSplitter.from_words(["luftning", "luftning", "hunde"])
    assert set(corpus.parts("hundeluftning")) == {"hunde", "luftning"}
    once = CompoundSplitter.from_words(["luftning"])
    assert once.parts("hundeluftning") == ()  # a word seen once is no evidence


def test_saved_lexicon_round_trip(tmp_path: Path) -> None:
    corpus = CompoundSplitter.from_words(["luftning", "luftning", "og", "og"])
    corpus.save(tmp_path / "c.json")
    loaded = CompoundSplitter.load(tmp_path / "c.json")
    assert loaded.corpus == {"luftning": 2}  # function words are never parts: not kept
    assert loaded.parts("hundeluftning") == ("hunde", "luftning")
    (tmp_path / "bad.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="not a compound lexicon"):
        CompoundSplitter.load(tmp_path / "bad.json")


def test_a_question_about_the_garden_meets_the_garden_waste_page() -> None:
    analyser = Analyser(CURATED)
    page = set(analyser.analyse("Tilmeld dig haveaffaldsordningen"))
    question = analyser.analyse("kan kommunen hente grene fra haven")
    assert stem("haven") in page and stem("affald") in page and stem("ordningen") in page
    assert set(question) & page == {stem("haven")}
    # without a splitter the two share nothing
    plain = Analyser()
    assert not set(plain.analyse("kan kommunen hente grene fra haven")) & set(
        plain.analyse("Tilmeld dig haveaffaldsordningen")
    )


def test_titles_and_headings_weigh_in_the_bm25_document() -> None:
    analyser = Analyser(CompoundSplitter.from_words(["beboer", "beboer", "licens", "licens"]))
    body = words("Her står lidt om licens og meget andet.")
    document = analyser.document_tokens("Beboerlicens", "Beboerlicens > Pris", body)
    # the title counts TITLE_WEIGHT times, parts included; the heading's copy of it does not
    assert document.count(stem("beboerlicens")) == TITLE_WEIGHT
    assert document.count(stem("licens")) == 1 + TITLE_WEIGHT
    assert document.count(stem("pris")) == HEADING_WEIGHT


# passage-sized texts (real passages hold 150-350 tokens)
ACCORDION = (
    "## Afbud\n\n"
    "Kan dit barn ikke komme til tandlægen, skal du melde afbud senest 24 timer før. Udebliver"
    " barnet to gange uden afbud, kontakter vi jer for at finde en løsning.\n\n"
    "## Privat tandlæge i stedet\n\n"
    "Du kan vælge, at dit barn skal gå hos en privat tandlæge. For børn under 16 år betaler du"
    " selv 35 procent af regningen. For unge mellem 16 og 21 år er det gratis, hvis tandlægen"
    " har aftale med kommunen. Skriv til Tandplejen, hvis du vil skifte.\n\n"
    "## Tandregulering\n\n"
    "Tandregulering er gratis, når tandplejen vurderer, at den er nødvendig for tændernes"
    " funktion. Det er specialtandlægen i Tandplejen, der vurderer behovet. Regulering af"
    " kosmetiske grunde skal du selv betale hos en privat tandlæge."
)
SHARED = (
    "Beboerlicensen koster 600 kr. om året og gælder i zone A. Du søger på selvbetjeningen med"
    " MitID, og licensen er gyldig fra den dag, du har betalt. Har du en firmabil, skal du"
    " søge om en erhvervslicens i stedet. Licensen følger bilens nummerplade, ikke personen.\n\n"
    "Flytter du inden for zonen, retter du adressen på selvbetjeningen, og licensen gælder"
    " videre. Flytter du ud af zonen, bliver licensen ugyldig dagen efter flytningen, og du får"
    " pengene for de hele måneder tilbage. Gæster kan købe en dagslicens til 20 kr. i"
    " parkeringsappen; den gælder til midnat."
)


def _record(title: str, text: str, url: str, code: int | None = None, **extra: str) -> str:
    record = {"title": title, "text": text, "url": url, **extra}
    if code is not None:
        record["municipality_code"] = str(code)
    return json.dumps(record, ensure_ascii=False)


def _write_feed(home: Path) -> None:
    """A knowledge-base feed kept in the home, fed to the tenants testrup (990) and example."""
    records = [
        _record(
            "Tilmeld haveaffaldsordning",
            "Tilmeld dig afhentning af haveaffald i papirsække hver fjerde fredag.",
            "https://testrup.invalid/haveaffald",
        ),
        _record(
            "Genbrugspladsen",
            "Genbrugspladsen tager imod grene, græs og blade fra din have hele året.",
            "https://testrup.invalid/genbrug",
        ),
        # one accordion on two pages: the topic page's copy is the one kept
        _record(
            "Tandpleje for børn", ACCORDION, "https://testrup.invalid/tandpleje", updated="2026-01"
        ),
        _record(
            "Ofte stillede spørgsmål", ACCORDION, "https://testrup.invalid/faq", updated="2025-12"
        ),
        # a short text under two pages means two different things: both kept
        _record("Pas", "Det er gratis.", "https://testrup.invalid/pas"),
        _record("Sundhedskort", "Det er gratis.", "https://testrup.invalid/sundhedskort"),
        # text for every tenant of the source, and testrup's own local copy of it
        _record("Beboerlicens", SHARED, "https://testrup.invalid/licens"),
        _record("Beboerlicens", SHARED, "https://testrup.invalid/licens-lokal", code=990),
    ]
    folder = home / "viden"
    folder.mkdir()
    (folder / "kb.jsonl").write_text("\n".join(records) + "\n", encoding="utf-8")
    (home / "spiders" / "kb.toml").write_text(
        'kind = "knowledge_base"\ntenants = ["testrup", "example"]\nfeed = "viden/kb.jsonl"\n',
        encoding="utf-8",
    )


def _urls(view: IndexView) -> set[str]:
    """The URLs of the passages the tenant sees (its own index's and the shared ones')."""
    return {p.url for p in view.shown()}


def test_an_index_built_from_real_records_splits_weighs_and_collapses(
    isolated_home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write_feed(isolated_home)
    [crawl] = run_crawl(["kb"])
    assert crawl.status == "ok" and crawl.new == 8, crawl
    with caplog.at_level(logging.INFO, logger="muni_crawl.index.dedupe"):
        results = {r.tenant: r for r in build_indexes(["testrup", "example"])}
    assert all(r.status == "built" for r in results.values()), results
    assert "collapsed 2 near-duplicate passages of 8" in caplog.text  # testrup's view
    assert "collapsed 1 near-duplicate passages of 7" in caplog.text  # example's view

    library = Library()
    own = library.index("testrup")
    other = library.index("example")
    # copies collapsed to the canonical one; short texts under different pages kept
    assert "https://testrup.invalid/faq" not in _urls(own)
    assert {"https://testrup.invalid/tandpleje", "https://testrup.invalid/pas"} <= _urls(own)
    assert "https://testrup.invalid/sundhedskort" in _urls(own)
    # testrup keeps its own local copy; example never sees it and keeps the shared text
    assert "https://testrup.invalid/licens-lokal" in _urls(own)
    assert "https://testrup.invalid/licens" not in _urls(own)
    assert "https://testrup.invalid/licens" in _urls(other)
    assert "https://testrup.invalid/licens-lokal" not in _urls(other)
    assert results["testrup"].passages == 6 and results["example"].passages == 6

    # the compound lexicon was saved with the index and splits the question's words too
    folder = own.own.folder  # the tenant's own index version
    assert (folder / "lexical" / COMPOUNDS_FILE).exists()
    hits = own.lexical_search("kan kommunen hente haveaffald", 5)
    first = own.passages[hits[0][0]]
    assert first.url == "https://testrup.invalid/haveaffald"
    garden = {own.passages[i].url for i, _ in own.lexical_search("grene fra haven", 5)}
    assert garden == {"https://testrup.invalid/haveaffald", "https://testrup.invalid/genbrug"}
    answer = library.retrieve("testrup", "hvad koster en beboerlicens", k=1)
    assert answer.passages[0].url == "https://testrup.invalid/licens-lokal"

    # the format: a version written before compound splitting is served without it, with a
    # warning (the next `muni-crawl index` rebuilds it); a newer one is refused
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == FORMAT_VERSION
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    (old / "lexical" / COMPOUNDS_FILE).unlink()
    (old / "manifest.json").write_text(json.dumps({**manifest, "format": 1}))
    with caplog.at_level(logging.WARNING, logger="muni_crawl.index.layout"):
        served = TenantIndex(old)
    assert served.analyser.splitter is None and "run `muni-crawl index testrup`" in caplog.text
    assert served.lexical_search("haveaffald", 3)
    (old / "manifest.json").write_text(json.dumps({**manifest, "format": FORMAT_VERSION + 1}))
    with pytest.raises(IndexNotBuiltError, match="newer than this release reads"):
        TenantIndex(old)


def _passage(n: int, text: str, *, url: str, title: str = "Side", scope: str = "site") -> Passage:
    return Passage(
        id=f"p{n}",
        page_id=n,
        page_version=1,
        source="s",
        url=url,
        title=title,
        heading=title,
        text=text,
        scope=scope,
        municipality_code=999 if scope == "local" else None,
    )


def test_a_passage_mostly_inside_a_longer_one_is_dropped_and_twice_on_a_page_kept_once() -> None:
    extra = "\n\n## Når du fylder 22 år\n\nDen gratis tandpleje stopper, når du fylder 22 år."
    longer = _passage(1, ACCORDION + extra, url="https://x.dk/boern/tandpleje")
    inside = _passage(2, ACCORDION, url="https://x.dk/sundhed/tandpleje")
    twice = _passage(3, "## Afbud\n\n" + ACCORDION, url="https://x.dk/a")
    again = _passage(4, "## Afbud\n\n" + ACCORDION.replace(". ", ".  "), url="https://x.dk/a")
    unrelated = _passage(5, SHARED, url="https://x.dk/licens")
    kept = collapse_duplicates([inside, longer, unrelated])
    assert [p.id for p in kept] == ["p1", "p5"]  # order kept, nothing from the shorter lost
    assert [p.id for p in collapse_duplicates([twice, again, unrelated])] == ["p3", "p5"]
    national = _passage(6, SHARED, url="https://borger.dk/licens", scope="national")
    local = _passage(7, SHARED, url="https://borger.dk/licens#kommune-999", scope="local")
    assert [p.id for p in collapse_duplicates([national, local])] == ["p7"]
    assert [p.id for p in collapse_duplicates([national])] == ["p6"]
