"""Knowledge-base feeds -> documents: selvbetjening.nu exports, ProKom, a spreadsheet of local
variables.

A feed is a list of records, each a fact for one municipality (or for every tenant of the
source): a title, a text, optionally the page that states it and when it was updated. Formats:
JSON (an array, an object with a `records` array, or JSON Lines) and CSV (comma or semicolon
separated, UTF-8 with or without a byte-order mark, as Danish spreadsheets export them). A
source's `[fields]` table maps other column names onto these. A malformed record is counted with
its row number and skipped; it never stops the feed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from muni_crawl.types import Document

RECORD_FIELDS = ("municipality_code", "title", "text", "url", "updated", "id")
REQUIRED_FIELDS = ("title", "text")
FORMATS = ("json", "jsonl", "csv")
_URL = re.compile(r"^https?://[^\s]+$")


class FeedError(Exception):
    """The feed as a whole cannot be read (not JSON or CSV, or no records where expected)."""


@dataclass(frozen=True)
class Record:
    """One fact of the feed, with its row number (1 = the first record) for messages."""

    row: int
    title: str
    text: str
    municipality_code: int  # 0: every tenant of the source
    url: str | None = None
    updated: str | None = None
    key: str | None = None


@dataclass
class FeedRead:
    """The records of a feed, and the rows that were not records."""

    records: list[Record] = field(default_factory=list)
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (row, why)


def detect_format(body: bytes, declared: str | None = None, name: str = "") -> str:
    """`declared` if given; else from the name's extension; else from the first character."""
    if declared:
        return declared
    lowered = name.lower().split("?")[0]
    for ext, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".csv", "csv")):
        if lowered.endswith(ext):
            return fmt
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "json" if start in (b"[", b"{") else "csv"


def read_feed(body: bytes, fmt: str, fields: Mapping[str, str] | None = None) -> FeedRead:
    """Parse a feed; FeedError when the whole feed is unreadable."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedError(f"not UTF-8 text: {exc}") from None
    rows = _csv_rows(text) if fmt == "csv" else _json_rows(text, fmt)
    mapping = {name: (fields or {}).get(name, name) for name in RECORD_FIELDS}
    read = FeedRead()
    for row, raw in rows:
        if not isinstance(raw, dict):
            read.malformed.append((row, f"not a record but {type(raw).__name__}"))
            continue
        record, problem = _record(row, raw, mapping)
        if record is None:
            read.malformed.append((row, problem))
        else:
            read.records.append(record)
    return read


def _json_rows(text: str, fmt: str) -> Iterator[tuple[int, Any]]:
    if fmt == "jsonl" or (fmt == "json" and _looks_like_lines(text)):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, f"invalid JSON: {exc.msg}"
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeedError(f"invalid JSON: {exc}") from None
    if isinstance(data, dict):
        if not isinstance(data.get("records"), list):
            raise FeedError("a JSON object feed needs a 'records' array")
        data = data["records"]
    if not isinstance(data, list):
        raise FeedError(f"a JSON feed is an array of records, not {type(data).__name__}")
    yield from enumerate(data, start=1)


def _looks_like_lines(text: str) -> bool:
    """Several lines each holding one JSON object: JSON Lines, whatever the extension says."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return len(lines) > 1 and all(line.startswith("{") and line.endswith("}") for line in lines)


def _csv_rows(text: str) -> Iterator[tuple[int, Any]]:
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    if not reader.fieldnames:
        raise FeedError("an empty CSV file (no header row)")
    reader.fieldnames = [name.strip() for name in reader.fieldnames]
    for number, row in enumerate(reader, start=1):
        if None in row:  # more cells than the header has columns
            yield (
                number,
                f"{len(row[None]) + len(reader.fieldnames)} cells, the header has"
                + (f" {len(reader.fieldnames)}"),
            )
            continue
        yield number, {k: (v or "").strip() for k, v in row.items()}


def _record(row: int, raw: dict[str, Any], mapping: Mapping[str, str]) -> tuple[Record | None, str]:
    values = {name: raw.get(column) for name, column in mapping.items()}
    missing = [mapping[n] for n in REQUIRED_FIELDS if not str(values[n] or "").strip()]
    if missing:
        return None, f"no {' or '.join(missing)}"
    code = values["municipality_code"]
    if code in (None, ""):
        number = 0
    elif isinstance(code, bool) or not str(code).strip().isdigit():
        return None, f"{mapping['municipality_code']} is {code!r}, not a municipality code"
    else:
        number = int(str(code).strip())
        if number != 0 and not 100 <= number <= 999:
            return None, f"{mapping['municipality_code']} {number} is not a municipality code"
    url = str(values["url"] or "").strip() or None
    if url is not None and not _URL.match(url):
        return None, f"{mapping['url']} {url!r} is not an http(s) address"
    return (
        Record(
            row=row,
            title=" ".join(str(values["title"]).split()),
            text=str(values["text"]).strip(),
            municipality_code=number,
            url=url,
            updated=str(values["updated"] or "").strip() or None,
            key=str(values["id"] or "").strip() or None,
        ),
        "",
    )


def citation_url(feed_url: str, record: Record) -> str:
    """The record's own page, or a stable address made from the feed and the record: its `id`
    if it has one, else its municipality and title (so an edited text keeps its address)."""
    if record.url:
        return record.url
    key = record.key or f"{record.municipality_code}-{record.title}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{feed_url.split('#')[0]}#record-{digest}"


def record_document(feed_url: str, record: Record) -> Document:
    """A record as a citable document: local to its municipality, or for every tenant."""
    text = f"# {record.title}\n\n{record.text}"
    if record.url:  # in the text too: an answer may send the citizen there (reply_check)
        text += f"\n\nLink: {record.url}"
    if record.updated:
        text += f"\n\nOpdateret: {record.updated}"
    return Document(
        url=citation_url(feed_url, record),
        title=record.title,
        text=text,
        content_type="text/plain",
        scope="local" if record.municipality_code else "site",
        municipality_code=record.municipality_code or None,
    )
