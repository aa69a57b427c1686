"""Offline language identification of citizens' questions (py3langid, a 5 MB packaged model).

Tuned for a Danish municipal chatbot: short or ambiguous questions default to Danish, and
Norwegian or Swedish with a fair Danish score count as Danish (the answer is read either way).
"""

from __future__ import annotations

import threading
from typing import Any

from muni_crawl.prompts import LANGUAGE_NAMES

DEFAULT_LANGUAGE = "da"
# languages citizens in Denmark commonly write in (those the prompt can name); restricting
# the model to them avoids exotic guesses on short questions
LANGUAGES = tuple(LANGUAGE_NAMES)
MIN_CONFIDENCE = 0.5
SCANDINAVIAN_DANISH_SHARE = 0.2

_lock = threading.Lock()
_identifier: Any = None


def _load() -> Any:
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages([lang for lang in LANGUAGES if lang in identifier.nb_classes])
            _identifier = identifier
        return _identifier


def detect_language(text: str) -> str:
    """ISO 639-1 code of the question's language; Danish when unsure."""
    identifier = _load()
    with _lock:  # the identifier keeps state between calls
        ranked = identifier.rank(text)
    if not ranked:
        return DEFAULT_LANGUAGE
    top, confidence = ranked[0]
    if confidence < MIN_CONFIDENCE:
        return DEFAULT_LANGUAGE
    if top in ("no", "sv"):
        danish = dict(ranked).get("da", 0.0)
        if danish >= SCANDINAVIAN_DANISH_SHARE:
            return DEFAULT_LANGUAGE
    return str(top)
