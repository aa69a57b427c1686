"""Places a question names that are not the tenant's: another municipality, a country, a city.

A municipality's pages answer for that municipality. "Hvornår kommer skraldebilen i Esbjerg?"
asked of another tenant finds the tenant's own waste pages at a high similarity, and no
retrieval signal can tell that the question is about somewhere else; the place's name can.
The gazetteer (places.toml: the 98 Danish municipalities and their towns, villages and
districts, other tenants of the registry, and countries and cities abroad in the languages the
chatbot meets) says which words are places; a town counts as the tenant's own when it lies in
the tenant's municipality ("Hornbæk" for Helsingør).
A place is held against a question only when it is not the tenant's own and the tenant's
sources never mention it (`known`), so a tenant's own towns and any place its pages talk about
pass; and never when it is where someone moves from or to ("jeg flytter fra Aarhus") or has
lived or worked ("jeg har boet i Tyskland"): the citizen's history, not the question's topic.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any

from muni_crawl.errors import ConfigError

PLACES_FILE = "places.toml"
_WORD = re.compile(r"\w+", re.UNICODE)
_GENITIVE = "s"  # a Danish genitive: "Odenses", "Københavns"


def fold(text: str) -> list[str]:
    """The lower-case words of a text, one-letter words kept (prepositions: "i", "w", "z");
    Turkish dotted capitals lower-case without their combining dot."""
    return _WORD.findall(text.lower().replace("\u0307", ""))


@dataclass(frozen=True)
class Place:
    """One place: the name reasons show, and every form it is written in (as folded words)."""

    name: str
    forms: tuple[tuple[str, ...], ...]
    municipality: bool  # a Danish municipality (or a tenant): its forms take a genitive "s"
    ambiguous: frozenset[tuple[str, ...]] = frozenset()  # forms that need "Kommune" after
    within: frozenset[str] = frozenset()  # a Danish town: the municipalities it lies in

    @property
    def danish(self) -> bool:
        """A municipality or one of its towns: its forms take a Danish genitive "s"."""
        return self.municipality or bool(self.within)

    @property
    def label(self) -> str:
        """How a reason names it: a town with its municipality, "Hornbæk (Helsingør)"."""
        return f"{self.name} ({'/'.join(sorted(self.within))})" if self.within else self.name


@dataclass(frozen=True)
class Gazetteer:
    """Every known place, and the words around a name that change what naming it means."""

    places: tuple[Place, ...]
    movement_before: frozenset[str]  # "fra Aarhus": where someone moves from or to
    movement_after: frozenset[str]  # "Türkiye'den": the same, as a Turkish case ending
    municipality_words: frozenset[str]  # "Vejen Kommune": an ambiguous name counts
    residence_verbs: frozenset[str] = frozenset()  # "boet i Tyskland": the citizen's history
    locative_endings: frozenset[str] = frozenset()  # "Almanya'da yaşadım": the same in Turkish
    _by_first: Mapping[str, tuple[tuple[tuple[str, ...], Place], ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_first: dict[str, list[tuple[tuple[str, ...], Place]]] = {}
        for place in self.places:
            for form in place.forms:
                by_first.setdefault(form[0], []).append((form, place))
                if place.danish:
                    by_first.setdefault(form[0] + _GENITIVE, []).append((form, place))
        # longest forms first, so "Kongens Lyngby" is preferred to "Lyngby"
        ordered = {k: tuple(sorted(v, key=lambda fp: -len(fp[0]))) for k, v in by_first.items()}
        object.__setattr__(self, "_by_first", ordered)

    def place_named(self, name: str) -> Place | None:
        """The place one of whose forms is exactly `name` (a tenant's name, say)."""
        words = tuple(fold(name))
        for place in self.places:
            if words in place.forms:
                return place
        return None

    def with_places(self, extra: Iterable[Place]) -> Gazetteer:
        return Gazetteer(
            (*self.places, *extra),
            self.movement_before,
            self.movement_after,
            self.municipality_words,
            self.residence_verbs,
            self.locative_endings,
        )

    def mentions(self, text: str) -> list[tuple[Place, tuple[str, ...]]]:
        """The places the text names (with the form found), in order, except where someone
        moves from or to or has lived or worked, and ambiguous names not followed by a word
        for municipality."""
        words = fold(text)
        found: list[tuple[Place, tuple[str, ...]]] = []
        i = 0
        while i < len(words):
            match = self._match(words, i)
            if match is None:
                i += 1
                continue
            form, place = match
            end = i + len(form)
            before = words[i - 1] if i else ""
            after = words[end] if end < len(words) else ""
            moving = before in self.movement_before or after in self.movement_after
            lived = self._lived(words, i, end)
            vague = form in place.ambiguous and after not in self.municipality_words
            if not moving and not lived and not vague:
                found.append((place, form))
            i = end
        return found

    def _lived(self, words: Sequence[str], start: int, end: int) -> bool:
        """Whether the place at words[start:end] is where someone has lived or worked: a
        residence verb one or two words before or after it ("boet i Tyskland", German
        "in Deutschland gewohnt"), or after its Turkish locative ending ("Almanya'da
        yaşadım")."""
        verbs = self.residence_verbs
        near = [*words[max(0, start - 2) : start], *words[end : end + 2]]
        ending = words[end : end + 2]
        turkish = len(ending) == 2 and ending[0] in self.locative_endings and ending[1] in verbs
        return any(word in verbs for word in near) or turkish

    def _match(self, words: Sequence[str], i: int) -> tuple[tuple[str, ...], Place] | None:
        for form, place in self._by_first.get(words[i], ()):
            span = tuple(words[i : i + len(form)])
            if len(span) < len(form):
                continue
            if span == form or (
                place.danish and span[:-1] == form[:-1] and span[-1] == form[-1] + _GENITIVE
            ):
                return form, place
        return None


@dataclass(frozen=True)
class TenantPlaces:
    """What a tenant's questions are measured against: its own place names and the
    gazetteer with the registry's other tenants in it."""

    own: frozenset[str]  # the display names of the tenant's own place
    gazetteer: Gazetteer

    def elsewhere(self, question: str, known: Callable[[tuple[str, ...]], bool]) -> tuple[str, ...]:
        """The places the question names that are not the tenant's (nor towns in it) and that
        its sources never mention (`known(form)`: whether the sources use that form's words),
        as their labels."""
        named: dict[str, None] = {}
        for place, _form in self.gazetteer.mentions(question):
            if place.name in self.own or place.within & self.own or place.label in named:
                continue
            if any(known(form) for form in place.forms):
                continue
            named[place.label] = None
        return tuple(named)


_TENANT_SUFFIXES = ("regionskommune", "kommune", "kommunes")


def tenant_place(name: str, gazetteer: Gazetteer) -> Place:
    """The place of a tenant's name ("Københavns Kommune" -> København, "Naboby Kommune" ->
    a new place Naboby)."""
    words = fold(name)
    while len(words) > 1 and words[-1] in _TENANT_SUFFIXES:
        words.pop()
    if not words:  # a name without letters names no place a question could name
        return Place(name, (), municipality=True)
    for candidate in (words, [*words[:-1], words[-1].removesuffix(_GENITIVE)]):
        place = gazetteer.place_named(" ".join(candidate))
        if place is not None:
            return place
    display = " ".join(w.capitalize() for w in words)
    return Place(display, (tuple(words),), municipality=True)


@lru_cache(maxsize=256)
def places_for(tenant_name: str, tenant_names: tuple[str, ...] = ()) -> TenantPlaces:
    """The places of one tenant, with `tenant_names` (every tenant of the registry) in the
    gazetteer; cached, since a registry changes rarely."""
    base = gazetteer()
    own = tenant_place(tenant_name, base)
    extra: dict[str, Place] = {}
    for other in tenant_names:
        place = tenant_place(other, base)
        if place not in base.places:
            extra.setdefault(place.name, place)
    extra.setdefault(own.name, own)
    return TenantPlaces(frozenset({own.name}), base.with_places(extra.values()))


@cache
def gazetteer() -> Gazetteer:
    """The packaged gazetteer (places.toml)."""
    return parse_places(files("muni_crawl").joinpath(PLACES_FILE).read_text(encoding="utf-8"))


def parse_places(text: str) -> Gazetteer:
    """A Gazetteer from the TOML text of places.toml; a malformed file is a ConfigError
    naming the table and entry."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{PLACES_FILE}: invalid TOML: {exc}") from exc
    denmark = _table(raw, "denmark")
    municipalities = _names(denmark, "municipalities", "[denmark]")
    ambiguous = {tuple(fold(n)) for n in _names(denmark, "ambiguous", "[denmark]", True)}
    other_names = _table(denmark, "other_names", "[denmark]")
    unknown = sorted(set(other_names) - set(municipalities))
    if unknown:
        raise ConfigError(f"{PLACES_FILE}: [denmark.other_names]: not municipalities: {unknown}")
    places = [
        _place(name, [name, *_names(other_names, name, "[denmark.other_names]", True)], ambiguous)
        for name in municipalities
    ]
    abroad = _table(raw, "abroad")
    places += [
        _place(name, [name, *_names(abroad, name, "[abroad]")], frozenset(), municipality=False)
        for name in abroad
    ]
    places += _towns(denmark, municipalities, places)
    movement = _table(raw, "movement")
    residence = _table(raw, "residence")
    return Gazetteer(
        tuple(places),
        frozenset(w for n in _names(movement, "before", "[movement]") for w in fold(n)),
        frozenset(w for n in _names(movement, "after", "[movement]") for w in fold(n)),
        frozenset(
            w
            for n in _names(_table(raw, "municipality_words"), "words", "[municipality_words]")
            for w in fold(n)
        ),
        frozenset(w for n in _names(residence, "verbs", "[residence]") for w in fold(n)),
        frozenset(w for n in _names(residence, "locative", "[residence]") for w in fold(n)),
    )


def _place(
    name: str,
    names: list[str],
    ambiguous: Iterable[tuple[str, ...]],
    *,
    municipality: bool = True,
    within: Iterable[str] = (),
) -> Place:
    forms: dict[tuple[str, ...], None] = {}
    for written in names:
        words = tuple(fold(written))
        if not words:
            raise ConfigError(f"{PLACES_FILE}: {name}: {written!r} has no letters")
        forms[words] = None
    ambiguous_forms = frozenset(f for f in forms if f in set(ambiguous))
    return Place(name, tuple(forms), municipality, ambiguous_forms, frozenset(within))


def _towns(
    denmark: Mapping[str, Any], municipalities: list[str], named: list[Place]
) -> list[Place]:
    """The towns of [denmark.towns], one place per name: a name in two municipalities
    ("Viby") lies in both. A town may not repeat a name the gazetteer already has."""
    towns = denmark.get("towns", {})
    if not isinstance(towns, dict):
        raise ConfigError(f"{PLACES_FILE}: [denmark] [towns] must be a table")
    unknown = sorted(set(towns) - set(municipalities))
    if unknown:
        raise ConfigError(f"{PLACES_FILE}: [denmark.towns]: not municipalities: {unknown}")
    taken = {form: place.name for place in named for form in place.forms}
    written: dict[tuple[str, ...], str] = {}  # one place per form, named as first written
    within: dict[tuple[str, ...], set[str]] = {}
    for municipality in municipalities:
        for town in _names(towns, municipality, "[denmark.towns]", True):
            form = tuple(fold(town))
            if form in taken:
                raise ConfigError(
                    f"{PLACES_FILE}: [denmark.towns] {municipality}: {town!r} is already"
                    f" a name of {taken[form]}"
                )
            written.setdefault(form, town)
            within.setdefault(form, set()).add(municipality)
    return [
        _place(written[form], [written[form]], frozenset(), municipality=False, within=where)
        for form, where in within.items()
    ]


def _table(raw: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise ConfigError(f"{PLACES_FILE}: {where + ' ' if where else ''}[{key}] must be a table")
    return value


def _names(raw: Mapping[str, Any], key: str, where: str, optional: bool = False) -> list[str]:
    value = raw.get(key, [] if optional else None)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{PLACES_FILE}: {where} {key} must be a list of names")
    return value
