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

from muni_crawl.extract import fingerprint, tidy
from muni_crawl.store import PageStore, VersionCounts

log = logging.getLogger(__name__)

MIN_PAGES_FOR_BOILERPLATE = 4


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
    store: PageStore, source: str, run_id: int, *, complete: bool, ratio: float
) -> VersionCounts:
    """Turn this source's fetched resources into page versions; see the module docstring."""
    counts = VersionCounts()
    if complete:
        # a complete crawl that did not reach a URL means the site no longer links to it
        store.mark_unreached_gone(source, run_id)
    resources = store.extracted_resources(source)
    html_texts = [
        [d.text for d in resource.documents]
        for resource in resources
        if resource.documents and resource.documents[0].content_type == "text/html"
    ]
    boilerplate = learn_boilerplate(html_texts, ratio)
    bp_hash = hashlib.sha256(json.dumps(sorted(boilerplate)).encode()).hexdigest()
    applied = store.boilerplate_hash(source)
    reclean_all = applied != bp_hash
    if reclean_all and applied is not None:
        log.info(
            "%s: boilerplate changed (%d blocks); re-cleaning all pages", source, len(boilerplate)
        )
    for resource in resources:
        if not reclean_all and resource.processed:
            continue
        cleaned = []
        for doc in resource.documents:
            text = strip_boilerplate(doc.text, boilerplate)
            if text:
                cleaned.append((doc, text, fingerprint(doc.title + "\n" + text)))
        store.store_versions(source, resource.url, cleaned, run_id, counts)
    # pages of resources that are gone (404/410 or no longer linked) stop being served
    deleted, seen = store.finish_cleaning(source, sorted(boilerplate), bp_hash, run_id)
    counts.deleted += deleted
    counts.unchanged = max(0, seen - counts.new - counts.changed)
    return counts
