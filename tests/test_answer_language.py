"""The one sentence that tells a citizen, in their language, that the answer's text is Danish."""

from __future__ import annotations

import pytest

from muni_crawl.answer_language import DANISH_SOURCE_INTRO, danish_source_intro, introduce
from muni_crawl.language import detect_language

# each language's own word for "Danish" (the language), written independently of the templates
DANISH_IN = {
    "en": "Danish",
    "de": "Dänisch",
    "pl": "duńskim",
    "uk": "данською",
    "ru": "датском",
    "ar": "الدنماركية",
    "tr": "Danca",
    "so": "Deenish",
    "ro": "daneză",
    "lt": "danų",
    "sv": "danska",
    "no": "dansk",
    "fr": "danois",
    "es": "danés",
}
REQUIRED = ("en", "de", "pl", "uk", "ar", "tr", "so", "ro", "lt", "sv", "no")


@pytest.mark.parametrize("language", sorted(DANISH_SOURCE_INTRO))
def test_every_intro_is_one_sentence_in_its_own_language(language: str) -> None:
    intro = danish_source_intro(language)
    assert intro is not None and DANISH_IN[language] in intro
    assert detect_language(intro) == language  # what the citizen wrote in, they read back
    assert intro.rstrip().endswith(":") and not any(mark in intro[:-1] for mark in ".!?")


def test_the_languages_the_chatbot_meets_most_have_a_template() -> None:
    assert set(REQUIRED) <= set(DANISH_SOURCE_INTRO)


def test_the_intro_goes_only_before_danish_text_for_another_language() -> None:
    extract = "Et pas til et barn koster 156 kr. [1]"
    arabic = introduce(extract, question_language="ar", text_language="da")
    assert arabic == f"{DANISH_SOURCE_INTRO['ar']} {extract}"
    assert arabic.startswith("معلومات البلدية")  # right-to-left text first, the extract after
    assert introduce(extract, question_language="da", text_language="da") == extract
    english_page = "A passport for a child costs DKK 156. [1]"
    assert introduce(english_page, question_language="en", text_language="en") == english_page
    # a language without a template of its own is told in English
    assert introduce(extract, question_language="vi", text_language="da").startswith(
        DANISH_SOURCE_INTRO["en"]
    )
