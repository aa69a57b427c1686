"""Per-model calibrations (evidence floor and gate weights, approved-answer similarity) from a
shipped data file, so a new measurement is a data change reviewed as such, not an edit of the
code. A home may hold its own calibration.toml (written by `muni-crawl calibrate`, fitted on
the deployment's own index and verdicts): its values replace the shipped ones for the same
model, key by key and gate profile by profile."""

from __future__ import annotations

import logging
import math
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any

from muni_crawl.errors import ConfigError

log = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.toml"
COSINE_KEYS = ("evidence_threshold", "approved_similarity", "intent_margin")
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


# a home's own calibration, read again only when the file changes (a serving process sees
# a new `muni-crawl calibrate --write` at its next answer): path -> (stamp, table), the last
# good one; and the stamp of a broken file already reported, so it is logged once
_HOME_TABLES: dict[Path, tuple[tuple[int, int], dict[str, Calibration]]] = {}
_BROKEN: dict[Path, tuple[int, int]] = {}
_HOME_LOCK = threading.Lock()


def home_calibration_file(home: Path) -> Path:
    """Where a home keeps its own calibration (`muni-crawl calibrate --write`)."""
    return home / CALIBRATION_FILE


def home_calibrations(home: Path) -> dict[str, Calibration]:
    """The home's own calibration file as it is now (empty where there is none); ConfigError,
    naming the file and the entry, where it cannot be read or is malformed."""
    return _home_table(home_calibration_file(home), strict=True)


def check_home_calibration(home: Path) -> None:
    """Raise ConfigError where the home's own calibration is broken (a process checks it once
    at start: `Answerer`, `muni-crawl calibrate`; `muni-crawl status` reports it)."""
    home_calibrations(home)


def _home_table(path: Path, *, strict: bool) -> dict[str, Calibration]:
    """The home's table; a file broken after the process started is logged once and the last
    good table (else none: the shipped values) is used, so no answer fails on it."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        return _broken(path, (0, 0), ConfigError(f"{path}: cannot read it: {exc}"), strict)
    stamp = (status.st_mtime_ns, status.st_size)
    with _HOME_LOCK:
        known = _HOME_TABLES.get(path)
        if known is not None and known[0] == stamp:
            return known[1]
        if not strict and _BROKEN.get(path) == stamp:  # reported already
            return known[1] if known is not None else {}
    try:
        text = path.read_text(encoding="utf-8")
        table = parse_calibrations(text, source=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        return _broken(path, stamp, ConfigError(f"{path}: cannot read it: {exc}"), strict)
    except ConfigError as exc:
        return _broken(path, stamp, exc, strict)
    with _HOME_LOCK:
        _HOME_TABLES[path] = (stamp, table)
        _BROKEN.pop(path, None)
    return table


def _broken(
    path: Path, stamp: tuple[int, int], error: ConfigError, strict: bool
) -> dict[str, Calibration]:
    if strict:
        raise error
    with _HOME_LOCK:
        reported = _BROKEN.get(path) == stamp
        _BROKEN[path] = stamp
        known = _HOME_TABLES.get(path)
    if not reported:
        kept = "the last good one" if known is not None else "the shipped calibration"
        log.error("%s; the evidence gate uses %s until the file is mended", error, kept)
    return known[1] if known is not None else {}


def parse_calibrations(text: str, *, source: str = CALIBRATION_FILE) -> dict[str, Calibration]:
    """model id -> Calibration; a cosine outside [-1, 1], a weight that is not a finite number
    or an unknown key is a ConfigError naming the file (`source`), the model and key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    table = {}
    for model, values in raw.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{model}] must be a table")
        unknown = sorted(set(values) - {*COSINE_KEYS, "gate"})
        if unknown:
            raise ConfigError(f"{source}: [{model}]: unknown keys {unknown}")
        cosines = {}
        for key in COSINE_KEYS:
            if key in values:
                cosines[key] = _number(values[key], f"{source}: [{model}] {key}", cosine=True)
        gate = _gate(source, model, values.get("gate", {}))
        table[model] = Calibration(**cosines, gate=gate)
    return table


def _gate(source: str, model: str, raw: Any) -> Mapping[str, Mapping[str, float]]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{model}] gate must be a table")
    unknown = sorted(set(raw) - set(GATE_PROFILES))
    if unknown:
        raise ConfigError(
            f"{source}: [{model}.gate]: unknown profiles {unknown}"
            f" (known: {', '.join(GATE_PROFILES)})"
        )
    profiles = {}
    for profile, weights in raw.items():
        where = f"{source}: [{model}.gate.{profile}]"
        if not isinstance(weights, dict):
            raise ConfigError(f"{where} must be a table")
        unknown = sorted(set(weights) - set(_GATE_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown} (known: {', '.join(_GATE_KEYS)})")
        if "bias" not in weights:
            raise ConfigError(f"{where}: bias is missing")
        profiles[profile] = MappingProxyType(
            {key: _number(value, f"{where} {key}", cosine=False) for key, value in weights.items()}
        )
    return MappingProxyType(profiles)


def _number(value: object, where: str, *, cosine: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where} must be a number, not {value!r}")
    if cosine and not -1.0 <= value <= 1.0:
        raise ConfigError(f"{where} must be a cosine in [-1, 1], not {value!r}")
    if not cosine and abs(value) > _LARGEST_WEIGHT:
        raise ConfigError(f"{where} = {value!r} is beyond ±{_LARGEST_WEIGHT:g}: refit it")
    return float(value)


def merged(shipped: Calibration, own: Calibration) -> Calibration:
    """`shipped` with every value `own` has: cosine by cosine, gate profile by profile."""
    cosines = {key: getattr(own, key) for key in COSINE_KEYS if getattr(own, key) is not None}
    gate = MappingProxyType({**shipped.gate, **own.gate})
    return replace(shipped, **cosines, gate=gate)


def calibration_for(model_id: str, home: Path | None = None) -> Calibration:
    """The calibration of an embedding model: the shipped one (nothing for an unmeasured
    model), with the values of `home`'s own calibration.toml where it has any for it (a
    file broken since it was checked: see _home_table)."""
    shipped = _table().get(model_id, Calibration())
    if home is None:
        return shipped
    own = _home_table(home_calibration_file(home), strict=False).get(model_id)
    return shipped if own is None else merged(shipped, own)
