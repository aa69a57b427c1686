"""Lexical analysis for BM25: lower-case words, Danish stop words out, Danish Snowball stems.

So "storskrald" and "storskraldet", or "læge" and "lægen", meet in the index.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_DANISH

_WORD = re.compile(r"\w\w+", re.UNICODE)
_STOP = frozenset(STOPWORDS_DANISH)
_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    stemmer: Stemmer.Stemmer | None = getattr(_local, "stemmer", None)
    if stemmer is None:  # PyStemmer objects are not safe to share between threads
        stemmer = Stemmer.Stemmer("danish")
        _local.stemmer = stemmer
    return stemmer


@lru_cache(maxsize=4096)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


def analyse(text: str) -> list[str]:
    """Tokens for indexing and querying."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP]
