"""Offline language identification of citizens' questions (py3langid, a 5 MB packaged model).

Tuned for a Danish municipal chatbot: short or ambiguous questions in the Latin alphabet default
to Danish, and Norwegian or Swedish with a fair Danish score count as Danish (the answer is read
either way). The alphabet decides first where it can: Danish is never written in Cyrillic or
Arabic letters, so such a question is never taken for Danish however short it is; and Cyrillic
is read as Ukrainian or Russian (the two the chatbot meets) unless it has letters only Serbian
uses ("чи можна отримати допомогу на оплату оренди квартири" is Ukrainian, not the Serbian the
model guesses).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from typing import Any

from muni_crawl.prompts import LANGUAGE_NAMES

DEFAULT_LANGUAGE = "da"
# languages citizens in Denmark commonly write in (those the prompt can name); restricting
# the model to them avoids exotic guesses on short questions
LANGUAGES = tuple(LANGUAGE_NAMES)
MIN_CONFIDENCE = 0.5
SCANDINAVIAN_DANISH_SHARE = 0.2

# letters that settle a Cyrillic question: only Ukrainian, only Russian, only Serbian uses them
UKRAINIAN_LETTERS = frozenset("іїєґІЇЄҐ")
RUSSIAN_LETTERS = frozenset("ыэъёЫЭЪЁ")
SERBIAN_LETTERS = frozenset("ђјљњћџЂЈЉЊЋЏ")
# where the letters do not settle it, common words only one of the two uses ("хто"/"кто")
UKRAINIAN_WORDS = frozenset({
    "хто", "що", "чи", "як", "де", "коли", "чому", "скільки", "мені", "мене", "можна",
    "потрібно", "дякую", "привіт", "будь", "ласка", "та", "або", "також", "вже", "є",
})  # fmt: skip
RUSSIAN_WORDS = frozenset({
    "кто", "что", "как", "где", "когда", "почему", "сколько", "мне", "меня", "можно",
    "нужно", "спасибо", "привет", "пожалуйста", "или", "тоже", "уже", "это",
})  # fmt: skip
# the languages of the prompt's list written in each alphabet other than the Latin one
CYRILLIC_LANGUAGES = ("uk", "ru")
ARABIC_SCRIPT_LANGUAGES = ("ar", "fa", "ur", "ps", "ku")

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
    alphabet = _alphabet(text)
    if alphabet == "CYRILLIC":
        return _cyrillic(text, ranked)
    if alphabet == "ARABIC":
        return _best_of(ranked, ARABIC_SCRIPT_LANGUAGES)
    if alphabet not in ("LATIN", ""):
        return str(ranked[0][0])  # Greek, Thai, Chinese, ...: never Danish
    top, confidence = ranked[0]
    if confidence < MIN_CONFIDENCE:
        return DEFAULT_LANGUAGE
    if top in ("no", "sv"):
        danish = dict(ranked).get("da", 0.0)
        if danish >= SCANDINAVIAN_DANISH_SHARE:
            return DEFAULT_LANGUAGE
    return str(top)


def _alphabet(text: str) -> str:
    """The alphabet most of the text's letters are written in ("LATIN", "CYRILLIC", "ARABIC",
    ...), from their Unicode names; "" for a text without letters."""
    counts: dict[str, int] = {}
    for char in text:
        if char.isalpha():
            name = unicodedata.name(char, "")
            script = name.split(" ", 1)[0] if name else ""
            counts[script] = counts.get(script, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else ""


def _cyrillic(text: str, ranked: Sequence[tuple[str, float]]) -> str:
    """Ukrainian or Russian by their own letters, else by words only one of them uses, else
    by the model's ranking of the two; Serbian only with a letter no other language uses."""
    letters = set(text)
    if letters & SERBIAN_LETTERS:
        return "sr"
    ukrainian, russian = bool(letters & UKRAINIAN_LETTERS), bool(letters & RUSSIAN_LETTERS)
    if ukrainian != russian:
        return "uk" if ukrainian else "ru"
    words = re.findall(r"\w+", text.lower())
    ukrainian_words = sum(word in UKRAINIAN_WORDS for word in words)
    russian_words = sum(word in RUSSIAN_WORDS for word in words)
    if ukrainian_words != russian_words:
        return "uk" if ukrainian_words > russian_words else "ru"
    return _best_of(ranked, CYRILLIC_LANGUAGES)


def _best_of(ranked: Sequence[tuple[str, float]], candidates: Sequence[str]) -> str:
    """The candidate the model ranks highest (the first candidate if it ranks none)."""
    for language, _confidence in ranked:
        if language in candidates:
            return str(language)
    return candidates[0]
