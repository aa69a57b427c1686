"""Per-model calibrations (evidence floor and gate weights, approved-answer similarity) from a
shipped data file, so a new measurement is a data change reviewed as such, not an edit of the
code."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Any

from muni_crawl.errors import ConfigError

CALIBRATION_FILE = "calibration.toml"
_COSINES = ("evidence_threshold", "approved_similarity", "intent_margin")
# the evidence gate (muni_crawl/evidence.py): its profiles and the signals each one weighs
GATE_PROFILES = ("danish", "other")
GATE_SIGNALS = ("similarity", "margin", "coverage", "unknown", "agreement", "title")
_GATE_KEYS = ("bias", *GATE_SIGNALS)
_LARGEST_WEIGHT = 1e4  # a fitted weight beyond this is a broken fit, not a measurement


@dataclass(frozen=True)
class Calibration:
    """What was measured for one embedding model; None (or no gate profiles) where nothing
    was measured. `gate` maps a profile to its bias and signal weights."""

    evidence_threshold: float | None = None
    approved_similarity: float | None = None
    intent_margin: float | None = None  # the evidence gate's intent rule (muni_crawl.intents)
    gate: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: MappingProxyType({}))


@cache
def _table() -> dict[str, Calibration]:
    text = files("muni_crawl").joinpath(CALIBRATION_FILE).read_text(encoding="utf-8")
    return parse_calibrations(text)


def parse_calibrations(text: str) -> dict[str, Calibration]:
    """model id -> Calibration; a cosine outside [-1, 1], a weight that is not a finite number
    or an unknown key is a ConfigError naming the model and key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{CALIBRATION_FILE}: invalid TOML: {exc}") from exc
    table = {}
    for model, values in raw.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{CALIBRATION_FILE}: [{model}] must be a table")
        unknown = sorted(set(values) - {*_COSINES, "gate"})
        if unknown:
            raise ConfigError(f"{CALIBRATION_FILE}: [{model}]: unknown keys {unknown}")
        cosines = {}
        for key in _COSINES:
            if key in values:
                cosines[key] = _number(values[key], f"[{model}] {key}", cosine=True)
        gate = _gate(model, values.get("gate", {}))
        table[model] = Calibration(**cosines, gate=gate)
    return table


def _gate(model: str, raw: Any) -> Mapping[str, Mapping[str, float]]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{CALIBRATION_FILE}: [{model}] gate must be a table")
    unknown = sorted(set(raw) - set(GATE_PROFILES))
    if unknown:
        raise ConfigError(
            f"{CALIBRATION_FILE}: [{model}.gate]: unknown profiles {unknown}"
            f" (known: {', '.join(GATE_PROFILES)})"
        )
    profiles = {}
    for profile, weights in raw.items():
        where = f"[{model}.gate.{profile}]"
        if not isinstance(weights, dict):
            raise ConfigError(f"{CALIBRATION_FILE}: {where} must be a table")
        unknown = sorted(set(weights) - set(_GATE_KEYS))
        if unknown:
            raise ConfigError(
                f"{CALIBRATION_FILE}: {where}: unknown keys {unknown}"
                f" (known: {', '.join(_GATE_KEYS)})"
            )
        if "bias" not in weights:
            raise ConfigError(f"{CALIBRATION_FILE}: {where}: bias is missing")
        profiles[profile] = MappingProxyType(
            {key: _number(value, f"{where} {key}", cosine=False) for key, value in weights.items()}
        )
    return MappingProxyType(profiles)


def _number(value: object, where: str, *, cosine: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{CALIBRATION_FILE}: {where} must be a number, not {value!r}")
    if cosine and not -1.0 <= value <= 1.0:
        raise ConfigError(f"{CALIBRATION_FILE}: {where} must be a cosine in [-1, 1], not {value!r}")
    if not cosine and abs(value) > _LARGEST_WEIGHT:
        raise ConfigError(
            f"{CALIBRATION_FILE}: {where} = {value!r} is beyond ±{_LARGEST_WEIGHT:g}: refit it"
        )
    return float(value)


def calibration_for(model_id: str) -> Calibration:
    """The shipped calibration of an embedding model (nothing for an unmeasured one)."""
    return _table().get(model_id, Calibration())
