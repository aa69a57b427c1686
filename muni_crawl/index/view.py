"""What one tenant searches: its own index beside the shared indexes of its national sources.

National text (borger.dk's article bodies) is the same for every municipality, so it is
chunked, embedded, stored and held in memory once, in a shared index per source (see
build.py), instead of once per tenant. A tenant's own index holds what is the tenant's alone:
its sites, its local sections. Each question searches both and merges the candidate lists:

- dense candidates by cosine, which is the same measure in every index of one model, so the
  merged list is the list one index holding everything would have returned;
- lexical candidates by BM25 score. Each index weighs a word by its own document frequencies,
  so the scale differs a little from a single index's; the fusion after this only reads ranks.

Positions are the view's own: the tenant's passages first, then each shared index's in turn.
A shared passage the tenant's view does not show (its build collapsed it into the tenant's own
copy of the text, see dedupe.py) is in `hidden` and never comes back from a search.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import overload

from muni_crawl.compounds import CompoundSplitter
from muni_crawl.errors import IndexNotBuiltError
from muni_crawl.index.layout import Manifest, TenantIndex
from muni_crawl.lexical import Analyser
from muni_crawl.types import Passage, Vectors


@dataclass(frozen=True)
class _Part:
    """One index of the view, where its positions start and which of them it hides."""

    index: TenantIndex
    offset: int
    hidden: frozenset[int]


# one part's search at a depth: (position in the part, score), best first
_Search = Callable[[_Part, int], list[tuple[int, float]]]


class _Passages(Sequence[Passage]):
    """The passages of all parts in view order, without copying them."""

    def __init__(self, parts: tuple[_Part, ...], total: int) -> None:
        self._parts = parts
        self._total = total

    def __len__(self) -> int:
        return self._total

    @overload
    def __getitem__(self, i: int) -> Passage: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Passage]: ...
    def __getitem__(self, i: int | slice) -> Passage | Sequence[Passage]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._total))]
        if i < 0:
            i += self._total
        for part in reversed(self._parts):
            if i >= part.offset:
                return part.index.passages[i - part.offset]
        raise IndexError(i)

    def __iter__(self) -> Iterator[Passage]:
        for part in self._parts:
            yield from part.index.passages


class IndexView:
    """A tenant's index and the shared indexes it names, searched as one; read-only and safe
    to search from many threads. `shared` maps each source the tenant's manifest names to
    that source's loaded shared index."""

    def __init__(self, own: TenantIndex, shared: dict[str, TenantIndex] | None = None) -> None:
        self.own = own
        self.shared = dict(shared or {})
        missing = [name for name in own.manifest.shared if name not in self.shared]
        if missing:
            raise ValueError(f"{own.manifest.tenant}: shared indexes not given: {missing}")
        for name, index in self.shared.items():
            if index.manifest.model_id != own.manifest.model_id:
                raise IndexNotBuiltError(
                    own.manifest.tenant,
                    f"the shared index {name} was built with {index.manifest.model_id}, this"
                    f" tenant's with {own.manifest.model_id}: run `muni-crawl index`",
                )
        parts = [_Part(own, 0, frozenset())]
        offset = len(own.passages)
        for name in own.manifest.shared:
            index = self.shared[name]
            ids = own.shared_hidden.get(name, frozenset())
            hidden = frozenset(i for i, p in enumerate(index.passages) if p.id in ids)
            parts.append(_Part(index, offset, hidden))
            offset += len(index.passages)
        self._parts = tuple(parts)
        self.passages: Sequence[Passage] = _Passages(self._parts, offset)
        self.passage_count = sum(len(p.index.passages) - len(p.hidden) for p in self._parts)
        self.document_count = own.manifest.documents + sum(
            len({q.page_id for i, q in enumerate(p.index.passages) if i not in p.hidden})
            for p in self._parts[1:]
        )

    def shown(self) -> Iterator[Passage]:
        """The passages the tenant sees: every part's, without the shared ones it hides."""
        for part in self._parts:
            for i, passage in enumerate(part.index.passages):
                if i not in part.hidden:
                    yield passage

    @property
    def manifest(self) -> Manifest:
        """The tenant's own manifest (its model, build time, sources)."""
        return self.own.manifest

    @property
    def version(self) -> str:
        """The version of the tenant's own index (`shared` holds the others)."""
        return self.own.version

    @cached_property
    def analyser(self) -> Analyser:
        """An analyser whose compound lexicon is every part's (what the evidence gate reads
        passages and questions with); the tenant's own when it has no shared part."""
        if len(self._parts) == 1:
            return self.own.analyser
        counts: dict[str, int] = {}
        for part in self._parts:
            splitter = part.index.analyser.splitter
            for word, count in (splitter.corpus if splitter else {}).items():
                counts[word] = counts.get(word, 0) + count
        return Analyser(CompoundSplitter(counts))

    def dense_search(self, query: Vectors, k: int) -> list[tuple[int, float]]:
        """The k passages nearest the query across the parts, best first: (position, cosine)."""
        return self._merged(lambda part, depth: part.index.dense_search(query, depth), k)

    def lexical_search(self, question: str, k: int) -> list[tuple[int, float]]:
        """The k best BM25 matches across the parts, best first: (position, score)."""
        return self._merged(lambda part, depth: part.index.lexical_search(question, depth), k)

    def dense_scores(self, positions: list[int], query: Vectors) -> list[float]:
        """The cosine of each passage at these view positions to the query."""
        scores: dict[int, float] = {}
        for part in self._parts:
            end = part.offset + len(part.index.passages)
            mine = [i for i in positions if part.offset <= i < end]
            local = [i - part.offset for i in mine]
            scores.update(zip(mine, part.index.dense_scores(local, query), strict=True))
        return [scores[i] for i in positions]

    def vector(self, i: int) -> Vectors:
        """The vector of the passage at view position i (a copy)."""
        for part in reversed(self._parts):
            if i >= part.offset:
                return part.index.vector(i - part.offset)
        raise IndexError(i)

    def _merged(self, search: _Search, k: int) -> list[tuple[int, float]]:
        if len(self._parts) == 1:
            return search(self._parts[0], k)
        found: list[tuple[int, float]] = []
        for part in self._parts:
            hits = search(part, k + len(part.hidden))
            found.extend((part.offset + i, score) for i, score in hits if i not in part.hidden)
        return heapq.nsmallest(k, found, key=lambda hit: (-hit[1], hit[0]))
