"""Answer records: written with a short bounded wait, or spooled to disk and written later.

A chatbot's answer must not wait for a crawl's or a review's write transaction, and the
record of that answer (the billing source and the review queue) must not be lost either.
SQLite in WAL mode lets readers run while another process writes, so only the answer's own
write can be held up. It waits ANSWER_WRITE_WAIT_SECONDS for the write lock; if the lock is
still held, the record is written atomically to a spool folder next to the database
(`<database>-spool/<answer id>.json`) and the answer is returned at once.

Spooled records are written by the next answer of any thread, by a background thread that
retries every second, at interpreter exit (bounded wait), and by any process that opens the
answers store, so a record spooled by a process that was then killed is still written. Inserts are
idempotent (the answer id is the key), and a spool file is deleted only after its records
were committed, so a record is never written twice and never lost.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muni_crawl.store.database import is_busy

if TYPE_CHECKING:
    from muni_crawl.billing import Bill
    from muni_crawl.store.answers import AnswerStore
    from muni_crawl.types import Answer, Passage

log = logging.getLogger(__name__)

ANSWER_COLUMNS = (
    "id",
    "tenant",
    "question",
    "question_hash",
    "language",
    "question_language",
    "status",
    "reason",
    "text",
    "citations",
    "passages",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "provider_prompt_tokens",
    "provider_completion_tokens",
    "usage_mismatch",
    "usage_note",
    "documents_searched",
    "cost_micro_dkk",
    "review_status",
    "source_answer_id",
    "created_at",
    "evidence_key",
    "unanswerable",
    "question_vector",
    "vector_model",
)
# A vector travels as hex text in a record (spooled records are JSON) and is stored as bytes.
HEX_COLUMNS = ("question_vector",)
# Columns every record must carry (NOT NULL in the table); the others may be absent or null.
REQUIRED_COLUMNS = (
    "id",
    "tenant",
    "question",
    "question_hash",
    "language",
    "status",
    "text",
    "citations",
    "passages",
    "created_at",
)
# Integer columns: billing sums them, so a spooled record must carry whole numbers there.
INTEGER_COLUMNS = (
    "prompt_tokens",
    "completion_tokens",
    "provider_prompt_tokens",
    "provider_completion_tokens",
    "usage_mismatch",
    "documents_searched",
    "cost_micro_dkk",
)
NOT_NULL_INTEGERS = tuple(c for c in INTEGER_COLUMNS if not c.startswith("provider_"))
SPOOLED_PER_ANSWER = 100  # spooled records an answer writes along with its own (the rest: thread)
# How long an answer waits for another process's write lock before its record is spooled:
# long enough for a crawl's per-page transaction, short enough that a citizen never notices.
ANSWER_WRITE_WAIT_SECONDS = 0.5
RETRY_SECONDS = 1.0  # how often the background thread retries a spooled write
FLUSH_WAIT_SECONDS = 0.2  # write-lock wait when a Store is opened and finds spooled records
EXIT_WAIT_SECONDS = 2.0  # write-lock wait for the last attempt at interpreter exit

_flushers: dict[Path, threading.Thread] = {}
_flushers_lock = threading.Lock()
_exit_hooks: set[Path] = set()


@dataclass(frozen=True)
class AnswerRecord:
    """One answer's row of the answers table and its (n, page id, page version) citations."""

    values: Mapping[str, Any]
    citations: tuple[tuple[int, int, int], ...] = ()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.values) - set(ANSWER_COLUMNS))
        missing = [c for c in REQUIRED_COLUMNS if self.values.get(c) is None]
        missing += [c for c in NOT_NULL_INTEGERS if c in self.values and self.values[c] is None]
        odd = [c for c, v in self.values.items() if not _storable(v)]
        odd += [
            c
            for c in INTEGER_COLUMNS
            if self.values.get(c) is not None
            and (isinstance(self.values[c], bool) or not isinstance(self.values[c], int))
        ]
        odd += [c for c in HEX_COLUMNS if not _hex_or_none(self.values.get(c))]
        if unknown or missing or odd:
            raise ValueError(
                f"not an answer record: unknown columns {unknown}, missing {missing},"
                f" values that are not text or numbers {odd}"
            )

    @property
    def answer_id(self) -> str:
        return str(self.values["id"])

    def to_json(self) -> str:
        return json.dumps(
            {"values": dict(self.values), "citations": [list(c) for c in self.citations]},
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> AnswerRecord:
        """Parse a spool file; ValueError (or KeyError/TypeError) when it is not a record."""
        data = json.loads(text)
        citations = tuple(
            (int(n), int(page), int(version)) for n, page, version in data["citations"]
        )
        return cls(dict(data["values"]), citations)


def answer_record(
    answer: Answer,
    *,
    question_hash: str,
    passages: Sequence[Passage],
    charge: Bill,
    review_status: str | None,
    source_answer_id: str | None,
    evidence_key: str | None = None,
    unanswerable: str | None = None,
    question_vector: bytes | None = None,
    vector_model: str | None = None,
) -> AnswerRecord:
    """The answers row of an answer (the question in it is redacted already) and its bill;
    `evidence_key` names the passages retrieved, and an answer the LLM found `unanswerable`
    carries the question's vector (of `vector_model`) to be recognised again."""
    billing = charge.billing
    return AnswerRecord(
        {
            "id": answer.id,
            "tenant": answer.tenant,
            "question": answer.question,
            "question_hash": question_hash,
            "language": answer.language,
            "question_language": answer.question_language,
            "status": answer.status,
            "reason": answer.reason,
            "text": answer.text,
            "citations": json.dumps([c.to_dict() for c in answer.citations], ensure_ascii=False),
            "passages": json.dumps([p.to_dict() for p in passages], ensure_ascii=False),
            "model": answer.usage.model,
            "prompt_tokens": answer.usage.prompt_tokens,
            "completion_tokens": answer.usage.completion_tokens,
            "provider_prompt_tokens": billing.provider_prompt_tokens,
            "provider_completion_tokens": billing.provider_completion_tokens,
            "usage_mismatch": int(billing.mismatch),
            "usage_note": billing.note,
            "documents_searched": answer.usage.documents_searched,
            "cost_micro_dkk": charge.cost_micro_dkk,
            "review_status": review_status,
            "source_answer_id": source_answer_id,
            "created_at": answer.created_at,
            "evidence_key": evidence_key,
            "unanswerable": unanswerable,
            "question_vector": None if question_vector is None else question_vector.hex(),
            "vector_model": vector_model,
        },
        tuple((c.n, c.page_id, c.page_version) for c in answer.citations if c.page_id),
    )


def _hex_or_none(value: object) -> bool:
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True


def _storable(value: object) -> bool:
    """A value SQLite stores as given: NULL, text, a 64-bit integer or a finite float."""
    if value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, float) and math.isfinite(value)


def spool_dir(database: Path) -> Path:
    """Where records wait for the write lock: beside the database, named after it."""
    return database.with_name(database.name + "-spool")


def write_answer(store: AnswerStore, record: AnswerRecord) -> bool:
    """Store the record (with any spooled ones); True when it is in the database now.

    Waits at most the store's busy timeout for the write lock, then spools the record and
    schedules a retry. Never raises for a database problem: the record is on disk instead.
    """
    loaded = _load(_pending(store.path)[:SPOOLED_PER_ANSWER])
    try:
        with store.transaction() as db:
            for _path, spooled in loaded:
                _insert(db, spooled)
            _insert(db, record)
    except sqlite3.Error as exc:
        if loaded and not is_busy(exc) and _write_each(store, [(None, record)]):
            _retry_in_background(store.path)  # a spooled record failed, not this one
            return True
        level = logging.INFO if is_busy(exc) else logging.ERROR
        log.log(
            level, "answer %s spooled: the database is not writable now (%s)", record.answer_id, exc
        )
        _spool(store.path, record)
        _retry_in_background(store.path)
        return False
    _remove([path for path, _record in loaded])
    if _pending(store.path):
        _retry_in_background(store.path)
    return True


def flush_spool(store: AnswerStore, wait: float = FLUSH_WAIT_SECONDS) -> int:
    """Write every spooled record, waiting at most `wait` s for the lock; how many were written.

    Returns 0 (and keeps the files) while the lock is held; a record the database refuses
    is set aside as .bad so that it cannot block the others.
    """
    loaded = _load(_pending(store.path))
    if not loaded:
        return 0
    with store.busy_timeout(wait):
        try:
            with store.transaction() as db:
                for _path, record in loaded:
                    _insert(db, record)
            written = len(loaded)
            _remove([path for path, _record in loaded])
        except sqlite3.Error as exc:
            if is_busy(exc):
                log.debug("spooled answers not written yet: %s", exc)
                return 0
            written = _write_each(store, loaded)  # find the record the database refuses
    log.info("wrote %d spooled answer record(s) to %s", written, store.path)
    return written


def _write_each(store: AnswerStore, loaded: list[tuple[Path | None, AnswerRecord]]) -> int:
    """One transaction per record; a record the database refuses is set aside as .bad."""
    written = 0
    for path, record in loaded:
        try:
            with store.transaction() as db:
                _insert(db, record)
        except sqlite3.Error as exc:
            if is_busy(exc):
                break
            log.error("answer %s cannot be stored (%s)", record.answer_id, exc)
            if path is not None:
                _set_aside(path)
            continue
        written += 1
        _remove([path])
    return written


def spooled_count(database: Path) -> int:
    """How many answer records wait in the spool of this database."""
    return len(_pending(database))


def _insert(db: sqlite3.Connection, record: AnswerRecord) -> None:
    columns = [c for c in ANSWER_COLUMNS if c in record.values]
    db.execute(
        f"INSERT OR IGNORE INTO answers({', '.join(columns)})"
        f" VALUES ({', '.join('?' for _ in columns)})",
        [_stored(c, record.values[c]) for c in columns],
    )
    db.executemany(
        "INSERT OR IGNORE INTO answer_citations(answer_id, n, page_id, page_version)"
        " VALUES (?, ?, ?, ?)",
        [(record.answer_id, n, page, version) for n, page, version in record.citations],
    )


def _stored(column: str, value: Any) -> Any:
    """The value as the table holds it: a HEX_COLUMNS value as bytes."""
    if column in HEX_COLUMNS and isinstance(value, str):
        return bytes.fromhex(value)
    return value


def _pending(database: Path) -> list[Path]:
    folder = spool_dir(database)
    try:
        return sorted(folder.glob("*.json"))
    except OSError:
        return []


def _load(paths: list[Path]) -> list[tuple[Path | None, AnswerRecord]]:
    """Readable records; an unreadable file is set aside as .bad (and logged), not retried."""
    loaded: list[tuple[Path | None, AnswerRecord]] = []
    for path in paths:
        try:
            loaded.append((path, AnswerRecord.from_json(path.read_text(encoding="utf-8"))))
        except FileNotFoundError:
            continue  # another thread or process wrote it meanwhile
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("spooled answer %s is unreadable (%s); set aside as .bad", path.name, exc)
            _set_aside(path)
    return loaded


def _set_aside(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.replace(path.with_suffix(".bad"))


def _spool(database: Path, record: AnswerRecord) -> None:
    """Write the record atomically (readers see all of it or nothing); log if even that fails."""
    folder = spool_dir(database)
    tmp = folder / f".{record.answer_id}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(record.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, folder / f"{record.answer_id}.json")
    except OSError as exc:
        log.error("answer %s could not be recorded or spooled: %s", record.answer_id, exc)


def _remove(paths: list[Path | None]) -> None:
    for path in paths:
        if path is None:
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:  # written already; INSERT OR IGNORE makes a re-flush harmless
            log.warning("cannot remove spooled answer %s: %s", path.name, exc)


def _retry_in_background(database: Path) -> None:
    """One daemon thread per spool retries until it is empty; an exit hook makes a last try."""
    with _flushers_lock:
        if database not in _exit_hooks:
            _exit_hooks.add(database)
            atexit.register(_flush_at_exit, database)
        thread = _flushers.get(database)
        if thread is not None and thread.is_alive():
            return
        thread = threading.Thread(
            target=_retry_until_empty, args=(database,), name="answer-spool", daemon=True
        )
        _flushers[database] = thread
        thread.start()


def _retry_until_empty(database: Path) -> None:
    while _pending(database):
        time.sleep(RETRY_SECONDS)
        _flush_once(database, FLUSH_WAIT_SECONDS)


def _flush_at_exit(database: Path) -> None:
    if _pending(database) and not _flush_once(database, EXIT_WAIT_SECONDS):
        log.warning(
            "%d answer record(s) still spooled in %s; they are written when the database is"
            " next opened",
            spooled_count(database),
            spool_dir(database),
        )


def _flush_once(database: Path, wait: float) -> bool:
    """Open the database and write the spool; True when the spool is empty afterwards."""
    from muni_crawl.errors import StoreError
    from muni_crawl.store.answers import AnswerStore

    try:
        with AnswerStore(database, busy_timeout=wait) as store:
            flush_spool(store, wait)
    except (sqlite3.Error, StoreError) as exc:
        log.debug("spool flush failed: %s", exc)
    return not _pending(database)
