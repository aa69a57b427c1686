"""Text as a reader sees it: NFKC-normalised, without format (Cf) characters.

Checks that look for links, tags or numbers in text someone else wrote (an LLM reply, a
reviewer's edit) run on this form, so full-width look-alikes and zero-width or direction
characters cannot hide what a reader would see from the check.
"""

from __future__ import annotations

import unicodedata


def as_shown(text: str) -> str:
    """NFKC, then every invisible format character (zero-width, soft hyphen, BOM, bidi) out."""
    normal = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in normal if unicodedata.category(ch) != "Cf")
