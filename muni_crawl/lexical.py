"""Lexical analysis for BM25: lower-case words, Danish stop words out, Danish Snowball stems.

So "storskrald" and "storskraldet", or "læge" and "lægen", meet in the index. An index's
`Analyser` also adds the parts of Danish compounds (muni_crawl.compounds), so "haveaffald"
meets "haven" and "affald", and `document_tokens` weighs a passage's title and headings.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import chain

import Stemmer
from bm25s.stopwords import STOPWORDS_DANISH

from muni_crawl.compounds import CompoundSplitter
from muni_crawl.types import Passage

_WORD = re.compile(r"\w\w+", re.UNICODE)
# English function words, for English questions and pages: without them "on" and "the"
# match every English page. Danish words spelt like English function words are left out
# ("to" two, "is" ice, "by" town, "far" father): they carry meaning in Danish text.
_ENGLISH_WORDS = """
    the of and or on in at into onto from with without about as an be been being am are
    was were do does did doing have has had having can could will would shall should may
    might must my me your yours our ours their theirs his him hers its it this that these
    those there here what which who whom whose when where why how not no yes if then than so
    too very just also any some all each every both either neither other such only own same
    we you they he she us them get got please don
"""
_ENGLISH_STOP = frozenset(_ENGLISH_WORDS.split())
_STOP = frozenset(STOPWORDS_DANISH) | _ENGLISH_STOP
_local = threading.local()

# How many times a passage's page title and its heading path count in its BM25 document
# besides the body: a question naming the topic should find the page about it. Measured on
# benchmarks/retrieval_quality.py (docs/indexing.md).
TITLE_WEIGHT = 3
HEADING_WEIGHT = 1


def _stemmer() -> Stemmer.Stemmer:
    stemmer: Stemmer.Stemmer | None = getattr(_local, "stemmer", None)
    if stemmer is None:  # PyStemmer objects are not safe to share between threads
        stemmer = Stemmer.Stemmer("danish")
        _local.stemmer = stemmer
    return stemmer


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """The Danish Snowball stem of a lower-case word."""
    return str(_stemmer().stemWord(word))


def words(text: str) -> list[str]:
    """The lower-case words of a text (two characters or more), stop words included."""
    return _WORD.findall(text.lower())


def analyse(text: str) -> list[str]:
    """Tokens for indexing and querying, without compound parts."""
    return [stem(w) for w in words(text) if w not in _STOP]


class Analyser:
    """The analysis of one index: stems, plus the stems of compound parts when the index
    has a splitter. The same analyser must read the passages and the questions."""

    def __init__(self, splitter: CompoundSplitter | None = None) -> None:
        self.splitter = splitter
        # every word of every passage and question comes here: one lookup per word
        self._word_tokens = lru_cache(maxsize=1 << 17)(self._tokens_of)

    def _tokens_of(self, word: str) -> tuple[str, ...]:
        if word in _STOP:
            return ()
        whole = stem(word)
        if self.splitter is None:
            return (whole,)
        parts = (stem(part) for part in self.splitter.parts(word))
        return (whole, *dict.fromkeys(t for t in parts if t != whole))

    def analyse(self, text: str) -> list[str]:
        """Tokens for indexing and querying."""
        return self.tokens(words(text))

    def tokens(self, found: Iterable[str]) -> list[str]:
        """The tokens of words already split out of a text (see `words`)."""
        tokens_of = self._word_tokens
        return [token for word in found for token in tokens_of(word)]

    def document_tokens(self, title: str, heading: str, body: list[str]) -> list[str]:
        """A passage's BM25 document from its title, heading path and the words of its text:
        the body, the title TITLE_WEIGHT more times and the heading path HEADING_WEIGHT more
        times (a heading's words already in the title only count as the title's)."""
        title_tokens = self.analyse(title)
        in_title = set(title_tokens)
        heading_tokens = [t for t in self.analyse(heading) if t not in in_title]
        return self.tokens(body) + title_tokens * TITLE_WEIGHT + heading_tokens * HEADING_WEIGHT


def index_documents(passages: Sequence[Passage]) -> tuple[CompoundSplitter, list[list[str]]]:
    """The BM25 documents of an index's passages, and the compound splitter they were
    analysed with, learnt from the passages' words (questions must be split by it too)."""
    bodies = [words(p.text) for p in passages]  # one pass over the text serves both
    splitter = CompoundSplitter(Counter(chain.from_iterable(bodies)))
    analyser = Analyser(splitter)
    documents = [
        analyser.document_tokens(p.title, p.heading, body)
        for p, body in zip(passages, bodies, strict=True)
    ]
    return splitter, documents
