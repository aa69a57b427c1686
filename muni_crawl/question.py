"""Question validation: turn whatever a caller sends into clean text, or refuse it clearly.

A question reaches the redactor, the embedder, the LLM and the database, and each of them
trips over something different: a lone surrogate cannot be encoded as UTF-8, invisible
format characters hide personal data from the redactor, and a "question" of punctuation or
emoji matches an arbitrary passage. So a question is normalised (NFC), stripped of control
and invisible characters, and must keep at least one letter or digit. Error messages name
code points, never the question's text, because that text may hold personal data.
"""

from __future__ import annotations

import re
import unicodedata

from muni_crawl.errors import InvalidQuestionError

# Characters that render as nothing but are letters or marks, not format characters, so the
# category test below would keep them (Unicode's Default_Ignorable_Code_Point minus Cf).
_INVISIBLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
# Terminal escape sequences (colours, cursor moves, titles) go whole, not just their ESC.
_ESCAPE_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[0-~])")
# Raw input beyond this many times the limit is refused before any cleaning work is done.
_RAW_FACTOR = 20


def validate_question(question: object, max_chars: int) -> str:
    """The question as clean NFC text with single spaces; InvalidQuestionError otherwise."""
    if not isinstance(question, str):
        raise InvalidQuestionError(f"the question must be text, not {type(question).__name__}")
    if len(question) > _RAW_FACTOR * max_chars:
        raise InvalidQuestionError(
            f"the question is {len(question)} characters long; the limit is {max_chars}"
        )
    surrogate = _SURROGATE.search(question)
    if surrogate is not None:
        raise InvalidQuestionError(
            f"the question contains an unpaired surrogate (U+{ord(surrogate.group()):04X}),"
            " which is not valid Unicode text; send the question as UTF-8"
        )
    text = " ".join(_visible(unicodedata.normalize("NFC", question)).split())
    if not text:
        raise InvalidQuestionError("the question is empty")
    if len(text) > max_chars:
        raise InvalidQuestionError(
            f"the question is {len(text)} characters long; the limit is {max_chars}"
        )
    if not any(unicodedata.category(ch)[0] in "LN" for ch in text):
        raise InvalidQuestionError(
            "the question has no letters or digits; ask in words (punctuation, symbols and"
            " emoji alone cannot be answered)"
        )
    return text


def _visible(text: str) -> str:
    """Control characters become spaces; format and other invisible characters go."""
    kept = []
    for ch in _INVISIBLE.sub("", _ESCAPE_SEQUENCE.sub(" ", text)):
        category = unicodedata.category(ch)
        if category == "Cc":
            kept.append(" ")
        elif category != "Cf":
            kept.append(ch)
    return "".join(kept)
