"""What a question asks for, told by meaning: the citizen's own records, small talk, or
information a page may hold.

The phrase tables of muni_crawl.cues recognise the wordings written into them and no others:
"kan I se efter", "Können Sie nachsehen" or "Привіт! А що ти взагалі вмієш?" pass them, land
near some page and reach the LLM. The embedder carries meaning across wordings and languages,
so the gate also compares the question with example questions per intent (intents.toml): one
that is closer to an example of the citizen's own case or of small talk than to any example of
a question the pages answer, by the model's calibrated `intent_margin`, is refused. The
examples are embedded once per model and process; a question then costs one small matrix
product.
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import numpy as np

from muni_crawl.embed import Embedder
from muni_crawl.errors import ConfigError
from muni_crawl.types import Vectors

INTENTS_FILE = "intents.toml"
INFORMATION = "information"  # the intent a page can answer: the others are held against it


@dataclass(frozen=True)
class Intent:
    """The question's nearest intent other than information: its kind, how much closer the
    question is to its nearest example than to the nearest information example (negative:
    information is nearer), that example, and the reason a refusal gives."""

    kind: str
    margin: float
    example: str
    reason: str


@dataclass(frozen=True)
class IntentTable:
    """Example questions per intent, and the reason each refusing intent gives."""

    examples: Mapping[str, tuple[str, ...]]
    reasons: Mapping[str, str]


@cache
def intent_table() -> IntentTable:
    """The packaged table (intents.toml)."""
    text = files("muni_crawl").joinpath(INTENTS_FILE).read_text(encoding="utf-8")
    return parse_intents(text)


def parse_intents(text: str) -> IntentTable:
    """The table from the TOML text of intents.toml: per intent a list of `examples`, and a
    `reason` for every intent but information; a malformed table is a ConfigError naming it."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{INTENTS_FILE}: invalid TOML: {exc}") from exc
    if INFORMATION not in raw:
        raise ConfigError(f"{INTENTS_FILE}: needs an [{INFORMATION}] table to compare against")
    if len(raw) < 2:
        raise ConfigError(f"{INTENTS_FILE}: needs an intent beside [{INFORMATION}]")
    examples: dict[str, tuple[str, ...]] = {}
    reasons: dict[str, str] = {}
    for kind, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{INTENTS_FILE}: [{kind}] must be a table")
        unknown = sorted(set(table) - {"examples", "reason"})
        if unknown:
            raise ConfigError(f"{INTENTS_FILE}: [{kind}]: unknown keys {unknown}")
        listed = table.get("examples")
        if (
            not isinstance(listed, list)
            or not listed
            or not all(isinstance(e, str) and e.strip() for e in listed)
        ):
            raise ConfigError(f"{INTENTS_FILE}: [{kind}] examples must be a list of questions")
        examples[kind] = tuple(e.strip() for e in listed)
        if kind == INFORMATION:
            continue
        reason = table.get("reason")
        if not isinstance(reason, str) or not reason:
            raise ConfigError(f"{INTENTS_FILE}: [{kind}] needs a reason")
        reasons[kind] = reason
    return IntentTable(examples, reasons)


def nearest_intent(query: Vectors, embedder: Embedder, table: IntentTable | None = None) -> Intent:
    """The intent other than information that the question (its query vector from
    `embedder`) is nearest to, with its margin over the nearest information example."""
    table = intent_table() if table is None else table
    vectors = _examples.vectors(embedder, table)
    query = np.asarray(query, dtype=np.float32).reshape(-1)
    information = float(np.max(vectors[INFORMATION] @ query))
    best: Intent | None = None
    for kind, reason in table.reasons.items():
        cosines = vectors[kind] @ query
        top = int(np.argmax(cosines))
        margin = float(cosines[top]) - information
        if best is None or margin > best.margin:
            best = Intent(kind, margin, table.examples[kind][top], reason)
    if best is None:  # parse_intents never makes such a table; a hand-made one may
        raise ConfigError(f"{INTENTS_FILE}: needs an intent beside [{INFORMATION}]")
    return best


class _ExampleVectors:
    """The examples' query vectors per (model, table), embedded once (in one batch: about a
    second with the packaged model) and kept for the process."""

    def __init__(self) -> None:
        self._vectors: dict[tuple[str, object], Mapping[str, Vectors]] = {}
        self._lock = threading.Lock()

    def vectors(self, embedder: Embedder, table: IntentTable) -> Mapping[str, Vectors]:
        key = (embedder.model_id, tuple(table.examples.items()))
        with self._lock:  # held while embedding: the first questions wait for one batch
            known = self._vectors.get(key)
            if known is None:
                kinds = list(table.examples)
                texts: Sequence[str] = [e for kind in kinds for e in table.examples[kind]]
                embedded = np.asarray(embedder.embed_queries(list(texts)), dtype=np.float32)
                known, start = {}, 0
                for kind in kinds:
                    end = start + len(table.examples[kind])
                    known[kind] = embedded[start:end]
                    start = end
                self._vectors[key] = known
            return known


_examples = _ExampleVectors()
