"""Question types: which kind of answer a question asks for, in the languages citizens write."""

from __future__ import annotations

import pytest

from muni_crawl.question_types import QUESTION_CUES, question_types, type_match


@pytest.mark.parametrize(
    ("language", "question", "kind"),
    [
        ("da", "hvad koster et pas til et barn", "price"),
        ("da", "hvor meget skal jeg betale for sfo", "price"),
        ("da", "hvornår har genbrugspladsen åbent", "when"),
        ("da", "hvad er fristen for at melde flytning", "deadline"),
        ("da", "hvor ligger borgerservice", "where"),
        ("en", "How much does a passport cost?", "price"),
        ("en", "When is the recycling centre open?", "when"),
        ("en", "What is the deadline for registering?", "deadline"),
        ("en", "Where do I apply for housing benefit?", "where"),
        ("de", "Wie viel kostet ein Reisepass?", "price"),
        ("de", "Wann ist das Bürgerservice geöffnet?", "when"),
        ("de", "Bis wann muss ich die Adresse melden?", "deadline"),
        ("pl", "Ile kosztuje paszport dla dziecka?", "price"),
        ("pl", "Kiedy jest otwarty punkt recyklingu?", "when"),
        ("uk", "Скільки коштує паспорт?", "price"),
        ("uk", "Де знаходиться бюро?", "where"),
        ("ar", "كم سعر جواز السفر؟", "price"),
        ("ar", "متى يفتح المكتب؟", "when"),
        ("tr", "Pasaport ücreti ne kadar?", "price"),
        ("tr", "Belediye ne zaman açık?", "when"),
        ("so", "Goorma ayaa la qaadaa qashinka?", "when"),
        ("so", "Xaggee ku yaal xafiiska?", "where"),
        ("ro", "Cât costă pașaportul?", "price"),
        ("ro", "Care este termenul limită?", "deadline"),
        ("lt", "Kiek kainuoja pasas?", "price"),
        ("lt", "Kada dirba savivaldybė?", "when"),
        ("sv", "Vad kostar ett pass?", "price"),
        ("sv", "Var ligger medborgarservice?", "where"),
        ("no", "Hva koster et pass?", "price"),
        ("no", "Når er gjenbruksstasjonen åpen?", "when"),
    ],
)
def test_the_cues_find_the_type_in_each_language(language: str, question: str, kind: str) -> None:
    assert kind in question_types(question, language)


def test_how_much_and_how_long_are_not_where() -> None:
    assert question_types("hvor meget koster det", "da") == ("price",)
    assert "where" not in question_types("hvor lang tid tager det at få et pas", "da")
    assert question_types("kan man låne en rollator", "da") == ()
    assert set(QUESTION_CUES) >= {"da", "en", "de", "pl", "uk", "ar", "tr", "so", "ro", "lt"}


@pytest.mark.parametrize(
    ("sentence", "kind", "expected"),
    [
        ("Børn fra 0 til 17 år: 156 kr.", "price", 1.0),
        ("The first permit costs DKK 600 per year.", "price", 1.0),
        ("Prisen afhænger af din indkomst.", "price", 0.4),
        ("Torsdag: kl. 10–17.30", "when", 1.0),
        ("Friday: 10 am–1 pm", "when", 1.0),
        ("Du skal melde flytning senest 5 dage efter.", "deadline", 1.0),
        ("Borgerservice ligger på Rådhuspladsen 1.", "where", 1.0),
        ("Du søger på https://selvbetjening.eksempel.dk/pas.", "where", 1.0),
        ("Hjælpemidlerne er et udlån.", "price", 0.0),
    ],
)
def test_answer_signs(sentence: str, kind: str, expected: float) -> None:
    assert type_match(sentence, [kind]) == expected
