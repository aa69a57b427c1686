"""Per-model calibrations (evidence threshold, approved-answer similarity) from a shipped data
file, so a new measurement is a data change reviewed as such, not an edit of the code."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from muni_crawl.errors import ConfigError

CALIBRATION_FILE = "calibration.toml"
_KEYS = ("evidence_threshold", "approved_similarity")


@dataclass(frozen=True)
class Calibration:
    """What was measured for one embedding model; None where nothing was measured."""

    evidence_threshold: float | None = None
    approved_similarity: float | None = None


@cache
def _table() -> dict[str, Calibration]:
    text = files("muni_crawl").joinpath(CALIBRATION_FILE).read_text(encoding="utf-8")
    return parse_calibrations(text)


def parse_calibrations(text: str) -> dict[str, Calibration]:
    """model id -> Calibration; a cosine outside [-1, 1] or an unknown key is a ConfigError."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{CALIBRATION_FILE}: invalid TOML: {exc}") from exc
    table = {}
    for model, values in raw.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{CALIBRATION_FILE}: [{model}] must be a table")
        unknown = sorted(set(values) - set(_KEYS))
        if unknown:
            raise ConfigError(f"{CALIBRATION_FILE}: [{model}]: unknown keys {unknown}")
        for key, value in values.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or not -1.0 <= value <= 1.0
            ):
                raise ConfigError(
                    f"{CALIBRATION_FILE}: [{model}] {key} must be a cosine in [-1, 1],"
                    f" not {value!r}"
                )
        table[model] = Calibration(**{k: float(v) for k, v in values.items()})
    return table


def calibration_for(model_id: str) -> Calibration:
    """The shipped calibration of an embedding model (all None for an unmeasured one)."""
    return _table().get(model_id, Calibration())
