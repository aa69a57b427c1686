"""URL normalisation and crawl-trap heuristics."""

from __future__ import annotations

import pytest

from muni_crawl.urls import looks_like_trap, normalise_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://WWW.Aarhus.DK:443/a/../b/?b=2&a=1#top", "https://www.aarhus.dk/b/?a=1&b=2"),
        ("http://x.dk/side?utm_source=nl&utm_medium=mail&id=4", "http://x.dk/side?id=4"),
        ("http://x.dk/side;jsessionid=ABC123?sid=9&q=pas", "http://x.dk/side?q=pas"),
        ("http://x.dk", "http://x.dk/"),
        ("http://x.dk:80/a%20b", "http://x.dk/a%20b"),
        ("http://127.0.0.5:8080/x?fbclid=1", "http://127.0.0.5:8080/x"),
        ("https://x.dk/æble", "https://x.dk/%C3%A6ble"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalise_url(raw) == expected
    assert normalise_url(expected) == expected  # idempotent


def test_traps() -> None:
    assert looks_like_trap("http://x.dk/a/b/a/b/a/b/side.html")
    assert looks_like_trap("http://x.dk/" + "x" * 2100)
    assert not looks_like_trap("http://x.dk/borger/affald/storskrald.html")
