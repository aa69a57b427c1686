"""Extraction details that the end-to-end crawls do not pin down on their own."""

from __future__ import annotations

import pytest

from muni_crawl.extract import ExtractionError, extract, fingerprint
from muni_crawl.versioning import learn_boilerplate, strip_boilerplate


def test_fingerprint_ignores_whitespace_only_changes() -> None:
    assert fingerprint("Storskrald  hentes\n\nmandag") == fingerprint("Storskrald hentes mandag")
    assert fingerprint("hentes mandag") != fingerprint("hentes tirsdag")


def test_empty_and_binary_bodies_are_extraction_errors() -> None:
    with pytest.raises(ExtractionError, match="empty"):
        extract(b"   ", url="http://x.dk/", content_type="text/html")
    with pytest.raises(ExtractionError, match="binary"):
        extract(bytes(range(256)) * 8, url="http://x.dk/", content_type="text/html")
    with pytest.raises(ExtractionError, match="PDF"):
        extract(b"%PDF-1.4 broken", url="http://x.dk/a.pdf", content_type="application/pdf")


def test_boilerplate_is_learnt_from_most_pages_and_headings_survive() -> None:
    banner = "Vi bruger cookies på siden."
    pages = [[f"# Side {i}\n\n{banner}\n\nIndhold nummer {i}."] for i in range(6)]
    pages.append(["# Side 7\n\nKun indhold."])
    learnt = learn_boilerplate(pages, ratio=0.5)
    assert learnt == {banner.lower()}
    assert strip_boilerplate(pages[0][0], learnt) == "# Side 0\n\nIndhold nummer 0."
    assert learn_boilerplate(pages[:3], ratio=0.5) == set()  # too few pages to judge
