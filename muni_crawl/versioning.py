"""Raw extractions -> cleaned page versions: boilerplate removal, fingerprints, deletions.

Runs at the end of every crawl (and resumes the work of a crawl that was killed): the blocks of
text that repeat on most pages of a source (menus, cookie banners, footers) are learnt from all
of the source's live pages, stripped, and a new page version is stored only when the cleaned
text's fingerprint differs from the current one. Each resource is processed in its own
transaction, so a kill at any moment loses nothing that the next run cannot redo.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass

from muni_crawl.extract import fingerprint, tidy
from muni_crawl.store import Store, utcnow
from muni_crawl.types import Document

log = logging.getLogger(__name__)

MIN_PAGES_FOR_BOILERPLATE = 4


@dataclass
class VersionCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0


def split_blocks(text: str) -> list[str]:
    """Paragraph-level blocks of markdown text (blank-line separated, list items one by one)."""
    blocks: list[str] = []
    for para in text.split("\n\n"):
        lines = [line for line in para.splitlines() if line.strip()]
        if lines and all(line.lstrip().startswith(("- ", "* ", "| ")) for line in lines):
            blocks.extend(lines)
        elif lines:
            blocks.append("\n".join(lines))
    return blocks


def _block_key(block: str) -> str:
    return " ".join(block.split()).lower()


def learn_boilerplate(texts_per_page: list[list[str]], ratio: float) -> set[str]:
    """Blocks (not headings) present on more than `ratio` of the pages, given enough pages."""
    if len(texts_per_page) < MIN_PAGES_FOR_BOILERPLATE:
        return set()
    counts: Counter[str] = Counter()
    for texts in texts_per_page:
        keys = {_block_key(b) for text in texts for b in split_blocks(text)}
        counts.update(k for k in keys if not k.startswith("#"))
    limit = ratio * len(texts_per_page)
    return {key for key, n in counts.items() if n > limit}


def strip_boilerplate(text: str, boilerplate: set[str]) -> str:
    if not boilerplate:
        return text
    kept = []
    for para in text.split("\n\n"):
        lines = para.splitlines()
        if _block_key(para) in boilerplate:
            continue
        lines = [line for line in lines if _block_key(line) not in boilerplate]
        if lines:
            kept.append("\n".join(lines))
    return tidy("\n\n".join(kept))


def finalise(
    store: Store, source: str, run_id: int, *, complete: bool, ratio: float
) -> VersionCounts:
    """Turn this source's fetched resources into page versions; see the module docstring."""
    db = store.db
    counts = VersionCounts()
    if complete:
        # a complete crawl that did not reach a URL means the site no longer links to it
        with store.transaction():
            db.execute(
                "UPDATE resources SET status = 'gone' WHERE source = ? AND status = 'live'"
                " AND (last_seen_run IS NULL OR last_seen_run <> ?)",
                (source, run_id),
            )
    rows = db.execute(
        "SELECT url, content_type, extracted, raw_fingerprint, processed_fingerprint"
        " FROM resources WHERE source = ? AND status = 'live' AND extracted IS NOT NULL",
        (source,),
    ).fetchall()
    extracted = {
        r["url"]: [Document.from_dict(d) for d in json.loads(r["extracted"])] for r in rows
    }
    html_texts = [
        [d.text for d in docs]
        for url, docs in extracted.items()
        if docs and docs[0].content_type == "text/html"
    ]
    boilerplate = learn_boilerplate(html_texts, ratio)
    bp_hash = hashlib.sha256(json.dumps(sorted(boilerplate)).encode()).hexdigest()
    state = db.execute(
        "SELECT boilerplate_hash FROM source_state WHERE source = ?", (source,)
    ).fetchone()
    reclean_all = state is None or state["boilerplate_hash"] != bp_hash
    if reclean_all and state is not None:
        log.info(
            "%s: boilerplate changed (%d blocks); re-cleaning all pages", source, len(boilerplate)
        )
    for row in rows:
        if not reclean_all and row["processed_fingerprint"] == row["raw_fingerprint"]:
            continue
        with store.transaction():
            _apply_resource(
                store, source, row["url"], extracted[row["url"]], boilerplate, run_id, counts
            )
            db.execute(
                "UPDATE resources SET processed_fingerprint = raw_fingerprint"
                " WHERE source = ? AND url = ?",
                (source, row["url"]),
            )
    with store.transaction():
        db.execute(
            "INSERT INTO source_state(source, boilerplate, boilerplate_hash) VALUES (?, ?, ?)"
            " ON CONFLICT(source) DO UPDATE SET boilerplate = excluded.boilerplate,"
            " boilerplate_hash = excluded.boilerplate_hash",
            (source, json.dumps(sorted(boilerplate), ensure_ascii=False), bp_hash),
        )
        # pages of resources that are gone (404/410 or no longer linked) stop being served
        now = utcnow()
        cur = db.execute(
            "UPDATE pages SET status = 'deleted', deleted_at = ?, updated_at = ?"
            " WHERE source = ? AND status = 'live' AND resource_url IN"
            " (SELECT url FROM resources WHERE source = ? AND status = 'gone')",
            (now, now, source, source),
        )
        counts.deleted += cur.rowcount
    seen = db.execute(
        "SELECT COUNT(*) FROM pages p JOIN resources r"
        " ON r.source = p.source AND r.url = p.resource_url"
        " WHERE p.source = ? AND p.status = 'live' AND r.last_seen_run = ?",
        (source, run_id),
    ).fetchone()[0]
    counts.unchanged = max(0, int(seen) - counts.new - counts.changed)
    return counts


def _apply_resource(
    store: Store,
    source: str,
    resource_url: str,
    documents: list[Document],
    boilerplate: set[str],
    run_id: int,
    counts: VersionCounts,
) -> None:
    db = store.db
    now = utcnow()
    produced: set[str] = set()
    for doc in documents:
        text = strip_boilerplate(doc.text, boilerplate)
        if not text:
            continue
        produced.add(doc.url)
        digest = fingerprint(doc.title + "\n" + text)
        page = db.execute(
            "SELECT p.id, p.status, p.current_version, v.fingerprint FROM pages p"
            " LEFT JOIN page_versions v ON v.page_id = p.id AND v.version = p.current_version"
            " WHERE p.source = ? AND p.url = ?",
            (source, doc.url),
        ).fetchone()
        if page is None:
            cur = db.execute(
                "INSERT INTO pages(source, url, resource_url, scope, municipality_code, status,"
                " current_version, first_seen_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'live', 0, ?, ?)",
                (source, doc.url, resource_url, doc.scope, doc.municipality_code, now, now),
            )
            page_id, version = int(cur.lastrowid or 0), 0
            counts.new += 1
        elif page["fingerprint"] == digest and page["status"] == "live":
            continue
        else:
            page_id, version = page["id"], page["current_version"]
            if page["status"] == "live":
                counts.changed += 1
            else:
                counts.new += 1
        db.execute(
            "INSERT INTO page_versions(page_id, version, fingerprint, title, language,"
            " content_type, text, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                page_id,
                version + 1,
                digest,
                doc.title,
                doc.language,
                doc.content_type,
                text,
                run_id,
                now,
            ),
        )
        db.execute(
            "UPDATE pages SET current_version = ?, status = 'live', deleted_at = NULL,"
            " updated_at = ?, resource_url = ?, scope = ?, municipality_code = ? WHERE id = ?",
            (version + 1, now, resource_url, doc.scope, doc.municipality_code, page_id),
        )
    # sections that vanished from a page that is still there (e.g. a local section removed)
    for row in db.execute(
        "SELECT id, url FROM pages WHERE source = ? AND resource_url = ? AND status = 'live'",
        (source, resource_url),
    ).fetchall():
        if row["url"] not in produced:
            db.execute(
                "UPDATE pages SET status = 'deleted', deleted_at = ?, updated_at = ? WHERE id = ?",
                (now, now, row["id"]),
            )
            counts.deleted += 1
