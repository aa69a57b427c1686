"""Personal data out of questions before they are logged, stored, embedded or sent anywhere.

Replaced, and by which placeholder:
- `[CPR-NUMMER]`: DDMMYY + 4 digits with any separator or none (0102034567, 010203-4567,
  01.02.03 - 4567, 01 02 03 45 67). The six digits must be a date (29 February only in years
  divisible by 4), or a date + 60 days (replacement numbers) when a separator comes before
  the last four; in the written CPR shape "6 digits, dash or slash, 4 digits" any digits
  count. After "CPR"/"personnummer" any number of 6+ digits is taken.
- `[TELEFONNUMMER]`: 8 digits starting with 2-9, in one group or in groups of 2-4 digits
  separated by spaces, dots, dashes or slashes, with or without +45, 0045, (+45) or "45 ";
  numbers with any other + or 00 country code (8-15 digits). After "tlf", "ring", "mobil",
  "phone", "Telefon", "телефон", "هاتف", ... any number of 6+ digits is taken.
- `[E-MAIL]`: addresses with @ (spaces around it need a domain with a dot), (at) [at] {at} (a),
  "snabel-a", "małpa" or "собака", (dot) [dot] or " dot " words; a bare " at " only when the
  domain is a known mail provider, the local part holds a dot, digit, _ or +, a dot word is
  used, or "mail"/"e-mail"/"skriv til" comes just before ("apply at borger.dk" stays).
- `[NAVN]`, `[ADRESSE]`: only where a cue introduces them ("jeg hedder", "mit navn er", "min
  søn hedder", "jeg bor på", "min adresse er", and English, German, Polish, Ukrainian, Arabic,
  Turkish and Somali equivalents). A name without a cue is not detected. An address needs a
  house number, or a last word ending like a street (-vej, -gade, -allé, ...); the postcode
  and town after it are kept.

Kept: years and ranges (2023-2024, 2025/26), amounts with a unit after ("12 345 678 kr") or
a price word before, dates (20260115, 15-01-2026, 2026-01-15), times (20.00-22.30), postcode
ranges of round hundreds (8000 8200), and any number right after a case, company or postcode
cue: sagsnummer, j.nr., CVR, P-nummer, EAN, postnummer. CVR and P-numbers name companies.
Without a phone cue, a phone number that reads as one of these is kept as that.

How: matching runs on a folded view of the question (NFKC, every decimal digit script as
ASCII, format, control and combining characters dropped, every dash "-", every space " ");
matches are mapped back, so only the personal data changes and the rest of the question
reaches retrieval exactly as typed.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass

from muni_crawl.redact_cues import CUE_WORDS

CPR_TOKEN = "[CPR-NUMMER]"
PHONE_TOKEN = "[TELEFONNUMMER]"
EMAIL_TOKEN = "[E-MAIL]"
NAME_TOKEN = "[NAVN]"
ADDRESS_TOKEN = "[ADRESSE]"
TOKENS = {
    "cpr": CPR_TOKEN,
    "phone": PHONE_TOKEN,
    "email": EMAIL_TOKEN,
    "name": NAME_TOKEN,
    "address": ADDRESS_TOKEN,
}


@dataclass(frozen=True)
class Redaction:
    """The redacted text and how many of each kind were removed."""

    text: str
    cpr: int = 0
    phone: int = 0
    email: int = 0
    name: int = 0
    address: int = 0

    @property
    def count(self) -> int:
        return self.cpr + self.phone + self.email + self.name + self.address

    @property
    def search_text(self) -> str:
        """The text without placeholders: they are no evidence of topic and skew retrieval."""
        text = self.text
        for token in TOKENS.values():
            text = text.replace(token, " ")
        return " ".join(text.split())


# ---- the matching view ------------------------------------------------------------------

_SEPARATORS = {
    "-": "\u2212\u2043\u2e3a\u2e3b\ufe58\ufe63\uff0d",
    "/": "\u2044\u2215\u29f8\uff0f",
    ".": "\u00b7\u2022\u2219\u22c5\u30fb\u2027",
    "'": "\u2018\u2019\u02bc\u00b4`",
}
_AS = {ch: plain for plain, chars in _SEPARATORS.items() for ch in chars}


def _fold_char(ch: str) -> str:
    """One character as the matchers see it (possibly none, possibly several)."""
    category = unicodedata.category(ch)
    if category in ("Zs", "Zl", "Zp") or ch in "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85":
        return " "
    if category in ("Cf", "Cc", "Cs", "Mn", "Me"):
        return ""
    if category == "Pd":
        return "-"
    if category == "Nd":
        return str(unicodedata.decimal(ch))
    if ch in _AS:
        return _AS[ch]
    folded = unicodedata.normalize("NFKC", ch)
    return ch if folded == ch else "".join(_fold_char(c) if c != ch else c for c in folded)


_UNEVEN: set[str] = set()  # characters that fold to more or fewer than one


class _FoldTable(dict[int, str]):
    """str.translate table computed on demand (bounded: odd input cannot grow it far)."""

    def __missing__(self, code: int) -> str:
        value = _fold_char(chr(code))
        if len(value) != 1:
            _UNEVEN.add(chr(code))
        if len(self) < 20_000:
            self[code] = value
        return value


_FOLD = _FoldTable()


def _view(text: str) -> tuple[str, list[int] | None]:
    """The matching view and, unless it is aligned 1:1, each view character's source index."""
    if text.isascii() and text.isprintable():
        return text, None
    view = text.translate(_FOLD)
    if _UNEVEN.isdisjoint(text):
        return view, None
    return view, [i for i, ch in enumerate(text) for _ in _FOLD[ord(ch)]]


# ---- cue words, matched on the lower-cased view where a word starts ----------------------
# Every alternative starts with a plain character, so a question's words are looked up by
# their first letter and one pass finds every cue. The nearest cue at most 16 characters
# before a number decides how that number is read.


def _top_level_alternatives(pattern: str) -> list[str]:
    depth, part, parts = 0, "", []
    for ch in pattern + "|":
        if ch == "|" and depth == 0:
            parts.append(part)
            part = ""
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        part += ch
    return parts


def _cue_table(words: dict[str, tuple[str, str]]) -> dict[str, re.Pattern[str]]:
    """One pattern per first character, holding every cue alternative that starts with it
    (longest first, so "telefonnummer" wins over "tel")."""
    by_char: dict[str, dict[str, list[str]]] = {}
    for kind, (alternatives, _) in words.items():
        for alternative in _top_level_alternatives(alternatives):
            first = alternative[1] if alternative.startswith("\\") else alternative[0]
            by_char.setdefault(first, {}).setdefault(kind, []).append(alternative)
    table = {}
    for first, kinds in by_char.items():
        branches = [
            f"(?P<{kind}>(?:{'|'.join(sorted(alts, key=len, reverse=True))}){words[kind][1]})"
            for kind, alts in kinds.items()
        ]
        table[first] = re.compile("|".join(branches))
        assert table[first].groups == len(branches), "cue words use (?:...) groups only"
    return table


_CUE_TABLE = _cue_table(CUE_WORDS)
_CUE_STARTS = re.compile(
    r"(?<![\w\[])[" + re.escape("".join(c for c in _CUE_TABLE if c not in "€£$")) + r"]|[€£$]"
)


@dataclass
class _Question:
    """One question as the detectors see it: folded, lower-cased, and its cue words."""

    view: str
    lower: str
    cues: list[tuple[int, int, str]]
    cue_ends: list[int]

    @classmethod
    def of(cls, view: str) -> _Question:
        lower = view.lower()
        if len(lower) != len(view):  # "İ" lower-cases to two characters
            lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in view)
        cues: list[tuple[int, int, str]] = []
        for start in _CUE_STARTS.finditer(lower):
            if cues and start.start() < cues[-1][1]:
                continue
            match = _CUE_TABLE[start.group()].match(lower, start.start())
            if match is not None:
                cues.append((match.start(), match.end(), match.lastgroup or ""))
        return cls(view, lower, cues, [end for _, end, _ in cues])

    def cues_of(self, kind: str) -> list[tuple[int, int, str]]:
        return [cue for cue in self.cues if cue[2] == kind]


_BENIGN_CUES = frozenset({"case", "company", "postcode", "money", "currency", "time"})
_GAP_LIMIT = 16
_GAP_BREAK = re.compile(r"[0-9?!;]")
_UNIT_AFTER = re.compile(
    r" ?(?:kr\b|kroner|dkk|eur\b|euro|€|\$|usd|%|procent|pct|mio|mia|millioner|milliarder|m2|"
    r"m3|kvm|km\b|kwh|kg\b|liter|ton\b|stk|indbyggere|borgere|personer|zł|zl\b|грн|lira|tl\b)"
)


def _cue_before(q: _Question, start: int) -> str | None:
    """The kind of the nearest cue before `start`, if it is close enough to count."""
    i = bisect.bisect_right(q.cue_ends, start) - 1
    if i < 0:
        return None
    gap = q.view[q.cue_ends[i] : start]
    if len(gap) > _GAP_LIMIT or _GAP_BREAK.search(gap):
        return None
    return q.cues[i][2]


# ---- numbers (each pattern starts with a digit class, so the scan skips ahead fast) ------

_AFTER_NO_NUMBER = r"(?<![0-9][0-9])"  # placed after the first digit
_BEFORE_NO_NUMBER = r"(?![0-9])(?![.,][0-9]{1,3}(?![0-9]))"  # no decimals, no 1.234.567
_DATE_SEP = r"(?: ?[-./] ?| )?"
_CPR = re.compile(
    r"(?P<d>[0-9]"
    + _AFTER_NO_NUMBER
    + r"[0-9])"
    + _DATE_SEP
    + r"(?P<m>[0-9]{2})"
    + _DATE_SEP
    + r"(?P<y>[0-9]{2})(?P<sep>(?: *[-./] *| +)?)[0-9]{4}"
    + _BEFORE_NO_NUMBER
)
_CPR_PAIRS = re.compile(  # five pairs, one separator throughout: 01 02 03 45 67
    r"(?P<d>[0-9]" + _AFTER_NO_NUMBER + r"[0-9])(?P<s>[ .-])(?P<m>[0-9]{2})(?P=s)"
    r"(?P<y>[0-9]{2})(?P=s)[0-9]{2}(?P=s)[0-9]{2}" + _BEFORE_NO_NUMBER
)
_PHONE_DIGITS = r"(?:(?: ?[-./] ?| {1,2})?[0-9]){7}"
_DK_PHONE = re.compile(  # "45" without its plus is taken along only when 8 digits follow
    r"(?:4(?<![0-9+]4)5[ .-]?(?P<coded>[2-9]" + _PHONE_DIGITS + r")"
    r"|(?P<plain>[2-9](?<![0-9+][2-9])" + _PHONE_DIGITS + r"))" + _BEFORE_NO_NUMBER
)
_INTL_PHONE = re.compile(
    r"(?:\((?<![\w+]\() ?(?:\+|00) ?[0-9]{1,3} ?\)|\+(?<![\w+]\+)(?: (?=45))?[0-9]{1,3}"
    r"|0(?<![\w+]0)(?<![0-9][.,:]0)0[0-9]{1,3})"
    r"(?:(?: ?[-./] ?| {1,2}| ?\( ?| ?\) ?)?[0-9]){5,14}(?![0-9])"
)
_ANY_DIGIT = re.compile(r"[0-9]")
_NUMBER_START = re.compile(r"\+?[0-9]")
_DIGIT_RUN = re.compile(r"[0-9](?:(?: ?[-./] ?| {1,2})?[0-9])*")
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

Span = tuple[int, int, str]


def _continues_a_number(view: str, start: int) -> bool:
    """Whether `start` follows "1.", "12," or "123." - the tail of 1.234.567 or 12,50, not a
    new number as in the list 0101901234,0202902345."""
    i = start - 1
    if i < 1 or view[i] not in ".," or not view[i - 1].isdigit():
        return False
    run = len(view[:i]) - len(view[:i].rstrip("0123456789"))
    return run <= 3


def _is_date(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    if month == 2 and day == 29:
        return year % 4 == 0
    return day <= _MONTH_DAYS[month - 1]


def _reads_as_cpr(match: re.Match[str], q: _Question, *, separated: bool, explicit: bool) -> bool:
    """A birth date and 4 digits is a CPR number, and so is anything in the written CPR shape
    (6 digits, dash or slash, 4 digits), or a date + 60 days (a replacement number) with a
    separator before the last 4, unless a case or company cue ("sagsnummer", "P-nummer")
    says what the number is. A 10-digit order number that is no date stays."""
    cue = _cue_before(q, match.start())
    if cue == "cpr":
        return True
    if cue in ("case", "company"):
        return False
    day, month, year = int(match.group("d")), int(match.group("m")), int(match.group("y"))
    replacement = separated and _is_date(year, month, day - 60)
    return explicit or replacement or _is_date(year, month, day)


def _cprs(q: _Question) -> list[Span]:
    found: list[Span] = []
    for pattern in (_CPR, _CPR_PAIRS):
        position = 0
        while (match := pattern.search(q.view, position)) is not None:
            position = match.start() + 1  # a rejected candidate may hide one starting later
            if _continues_a_number(q.view, match.start()):
                continue
            sep = match.group("sep") if pattern is _CPR else " "
            compact = q.view[match.start() : match.end("y")].isdigit()
            explicit = compact and ("-" in sep or "/" in sep)
            if _reads_as_cpr(match, q, separated=bool(sep), explicit=explicit):
                found.append((match.start(), match.end(), "cpr"))
                position = match.end()
    return found


def _after_digits(text: str, count: int) -> int:
    """The index just after the count-th digit of text."""
    seen = 0
    for i, ch in enumerate(text):
        seen += ch.isdigit()
        if seen == count:
            return i + 1
    return len(text)


def _international_phones(q: _Question) -> list[Span]:
    found: list[Span] = []
    for match in _INTL_PHONE.finditer(q.view):
        written = match.group()
        prefix = 2 if written.lstrip("( ").startswith("00") else 0
        digits = re.sub(r"[^0-9]", "", written)[prefix:]
        danish = digits.startswith("45")  # +45 is followed by exactly 8 digits
        if len(digits) >= (10 if danish else 8):
            end = match.start() + _after_digits(written, prefix + (10 if danish else 15))
            found.append((match.start(), end, "phone"))
    return found


def _time(hours: str, minutes: str) -> bool:
    return int(hours) < 24 and int(minutes) < 60


def _phone_shape_is_benign(groups: list[str], seps: list[str]) -> bool:
    """Dates, year ranges, time ranges, round postcode ranges and 12.345.678."""
    shape = tuple(len(g) for g in groups)
    values = [int(g) for g in groups]
    if shape == (8,):
        digits = groups[0]
        as_ymd = int(digits[:4]), int(digits[4:6]), int(digits[6:])
        as_dmy = int(digits[4:]), int(digits[2:4]), int(digits[:2])
        return any(1900 <= y <= 2099 and _is_date(y, m, d) for y, m, d in (as_ymd, as_dmy))
    if shape == (4, 4):
        first, second = values
        if ("-" in seps[0] or "/" in seps[0]) and 1900 <= min(values) <= max(values) <= 2099:
            return 0 <= second - first <= 20
        return first % 100 == 0 and second % 100 == 0 and first < second
    if shape == (4, 2, 2):
        return 1900 <= values[0] <= 2099 and _is_date(values[0], values[1], values[2])
    if shape == (2, 2, 4):
        return 1900 <= values[2] <= 2099 and _is_date(values[2], values[1], values[0])
    if shape == (2, 2, 2, 2) and seps[0] in ".:" and "-" in seps[1] and seps[2] in ".:":
        return _time(groups[0], groups[1]) and _time(groups[2], groups[3])
    return shape == (2, 3, 3) and seps == [".", "."]


def _danish_phones(q: _Question, taken: _Taken) -> list[Span]:
    found: list[Span] = []
    position = 0
    while (match := _DK_PHONE.search(q.view, position)) is not None:
        position = match.start() + 1
        written = match.group("coded") or match.group("plain")
        groups = re.findall(r"[0-9]+", written)
        if len(groups) > 1 and not all(2 <= len(g) <= 4 for g in groups):
            continue
        if taken.overlaps(match.start(), match.end()) or _continues_a_number(q.view, match.start()):
            continue
        cue = _cue_before(q, match.start())
        if cue != "phone" and (
            cue in _BENIGN_CUES
            or _UNIT_AFTER.match(q.lower, match.end())
            or _phone_shape_is_benign(
                groups, [s.strip() or " " for s in re.findall(r"\D+", written)]
            )
        ):
            position = match.end()  # the whole number is read as benign, not a part of it
            continue
        found.append((match.start(), match.end(), "phone"))
        position = match.end()
    return found


def _cued_numbers(q: _Question, kind: str) -> list[Span]:
    """After a CPR or phone cue, the next number of 6+ digits, however it is grouped."""
    found: list[Span] = []
    for _, cue_end, _ in q.cues_of(kind):
        first = _NUMBER_START.search(q.view, cue_end, cue_end + _GAP_LIMIT + 2)
        if first is None or _cue_before(q, first.start()) != kind:
            continue  # too far, or another cue (a case number, say) is nearer the number
        run = _DIGIT_RUN.match(q.view, first.end() - 1)
        digits = sum(ch.isdigit() for ch in run.group()) if run else 0
        if run is None or digits < 6:
            continue
        end = (
            run.end()
            if kind != "cpr" or digits <= 10
            else first.end() - 1 + _after_digits(run.group(), 10)
        )
        found.append((first.start(), end, kind))
    return found


# ---- e-mail (matched on the lower-cased view) -------------------------------------------


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_DOT_WORDS = r"(?:dot|punktum|punkt|prik|kropka|крапка|точка)"
_DOT = r"(?:\.|(?: ?[(\[{<] ?" + _DOT_WORDS + r" ?[)\]}>] ?)| " + _DOT_WORDS + " )"
_EMAIL = re.compile(  # possessive parts and bounded repeats keep every scan linear
    r"(?P<local>\w(?<![\w.+-]\w)[\w+-]*+(?:" + _DOT + r"\w[\w+-]*+){0,4})"
    r"(?P<at> ?@ ?| ?[(\[{<] ?(?:at|a|@|snabel-?a|ät) ?[)\]}>] ?"
    r"| (?:snabel-?a|małpa|malpa|собака) | at )"
    r"(?P<domain>\w[\w-]*+(?:" + _DOT + r"\w[\w-]*+){0,6})"
)
_AT_HINTS = ("@", "at", "ät", "(a)", "[a]", "snabel", "małpa", "malpa", "собака")
_AT_AHEAD = re.compile(r" ?(?:@| at | ?[(\[{<] ?(?:at|@))")
_DOT_WORD = re.compile(r"[(\[{<]|\b" + _DOT_WORDS + r"\b")
_LAST_LABEL = re.compile(r"(?:\.|\b" + _DOT_WORDS + r"\b ?[)\]}>]? ?)([^\W\d_]{2,24})$")
_MAIL_PROVIDERS = _word_set(
    "gmail googlemail hotmail outlook live yahoo icloud me msn aol proton protonmail gmx web "
    "mail jubii ofir stofanet yousee tdcadsl wp onet o2 interia ukr i yandex"
)


def _bare_at_is_email(q: _Question, match: re.Match[str]) -> bool:
    """ "karen at gmail.com" is an address; "apply at borger.dk" is English."""
    local, domain = match.group("local"), match.group("domain")
    if _AT_AHEAD.match(q.lower, match.end()):
        return False  # "me at karen at gmail.com": this "domain" is the next local part
    if re.split(r"[.\s(\[{<]", domain, maxsplit=1)[0] in _MAIL_PROVIDERS:
        return True
    if _LAST_LABEL.search(domain) is None:
        return False
    near = any(0 <= match.start() - end <= _GAP_LIMIT for _, end, _ in q.cues_of("email"))
    return (
        near
        or bool(_DOT_WORD.search(domain) or _DOT_WORD.search(local))
        or any(c in "0123456789._+" for c in local)
    )


def _emails(q: _Question) -> list[Span]:
    if not any(hint in q.lower for hint in _AT_HINTS):
        return []
    strong: list[Span] = []
    bare: list[Span] = []
    position = 0
    while (match := _EMAIL.search(q.lower, position)) is not None:
        position = match.start() + 1
        at, domain = match.group("at"), match.group("domain")
        if at.strip() == "at":
            if _bare_at_is_email(q, match):
                bare.append((match.start(), match.end(), "email"))
            continue
        known = _LAST_LABEL.search(domain) or domain in _MAIL_PROVIDERS
        if at.strip() == "@" and " " in at and not known:
            continue  # "svar @ 5 dage": spaces around @ need a real domain
        strong.append((match.start(), match.end(), "email"))
        position = match.end()
    return strong + [s for s in bare if not any(s[0] < e and b < s[1] for b, e, _ in strong)]


# ---- names and addresses after cue words ------------------------------------------------

_WORD = re.compile(r"[^\W\d_]\.(?= )|[^\W\d_]+(?:['.-][^\W\d_]+)*\.?")
_HOUSE_NUMBER = re.compile(
    r"(?i: nr\.?)? ?[0-9]{1,3}(?:[a-zA-Z]| ?[A-Z])?(?!\w)(?!,?[0-9])"
    r"(?! (?i:uger|dage|måneder|år|timer|minutter|børn|weeks|days|months|years)\b)"
    r"(?:,? ?(?i:(?:st|kld)\b(?:\.? ?(?:th|tv|mf)\b)?|[0-9]{1,2}(?![0-9])\.? ?"
    r"(?:sal(?: ?(?:th|tv|mf))?|th|tv|mf)\b)(?:\.(?!\s+[A-ZÆØÅ]|\s*$))?)?"
)
_NUMBER_FIRST = re.compile(r"[0-9]{1,3}[a-zA-Z]?,? (?=[^\W\d_])")
_STREET_SUFFIX = re.compile(
    r"(?:vej|gade|allé|stræde|plads|torv|vænge|vænget|parken|bakken|boulevard|kaj|kajen|løkke|"
    r"toften|vangen|stien|street|road|lane|avenue|straße|strasse|weg|platz)$"
)
_STOP_WORDS = _word_set(
    # Danish, English, German, Polish, Ukrainian, Arabic, Turkish, Somali
    "og eller men i på fra til med jeg vi du han hun de har havde er var vil skal kan må gerne "
    "ikke bor boede hvordan hvornår hvad hvor hvem hvilken hvilke hvorfor om at det den der som "
    "en et min mit mine af for så også stavet forkert ændret blevet registreret skrevet stadig nu "
    "nr hej tak venlig hilsen hos lejlighed værelse etage hus rum landet plejehjem kollegium "
    "and or but i i'm am is was will would can could have has live living how when what where "
    "who which why from to in on at with the a an my our also not spelled wrong please thanks "
    "hello hi und oder aber ich bin ist wohne wie wann was wo wer warum von aus an auf mit der "
    "die das ein eine mein meine nicht falsch bitte hallo oraz lub ale jestem mieszkam jak kiedy "
    "co gdzie kto dlaczego z w na do od się chcę chciałbym chciałabym proszę nie dzień dobry і й "
    "та або але я живу як коли що де хто чому з в у на до від хочу будь ласка не و أنا انا أريد "
    "اريد وأريد واريد كيف متى ماذا ما أين اين هل من في على إلى الى عن وأسكن واسكن أسكن اسكن "
    "وأعيش أعيش لدي ولدي عندي وعندي أود وأود أحتاج واحتاج وأحتاج ve veya ama ben benim nasıl ne "
    "zaman nerede kim neden ile için istiyorum adım bir bu iyo laakiin waxaan waa sidee goorma "
    "maxay xaggee kee aan ku ka u la rabaa"
)
# Words that never start a name: "mit navn er stavet forkert" keeps its words, while a first
# name that is a common word elsewhere ("Can", "Will") is taken.
_NEVER_A_NAME = _word_set(
    "og eller men at det den der som ikke også stadig stavet forkert ændret blevet registreret "
    "skrevet hvordan hvornår hvad hvor hvem hvorfor jeg vi du han hun de er var har en et min mit "
    "and or but not also still spelled wrong changed how when what where who why the a an my is "
    "was und oder aber nicht auch noch falsch geändert wie wann was wo wer warum der die das ein "
    "eine ist i oraz lub ale nie też jak kiedy co gdzie kto dlaczego і й та або але не як коли що "
    "де хто чому و أنا انا كيف متى ماذا ما أين اين هل ve veya ama değil nasıl ne nerede neden iyo "
    "laakiin sidee goorma maxay on in at for from to with missing already written på til fra "
    "med allerede"
)


def _words_after(
    view: str, start: int, limit: int, first_stops: frozenset[str] = _STOP_WORDS
) -> list[tuple[int, int]]:
    """Up to `limit` words from `start`, single-spaced, stopping at a stop word or sign."""
    words: list[tuple[int, int]] = []
    position = start
    while len(words) < limit:
        match = _WORD.match(view, position)
        stops = first_stops if not words else _STOP_WORDS
        if match is None or match.group().rstrip(".").casefold() in stops:
            break
        end, word = match.end(), match.group()
        if word.endswith(".") and len(word) > 2 and "." not in word[:-1]:
            end -= 1  # a full stop ends the sentence; initials (K., H.C.) keep theirs
        words.append((match.start(), end))
        if view[end : end + 1] != " ":
            break
        position = end + 1
    return words


def _names(q: _Question) -> list[Span]:
    found: list[Span] = []
    for _, cue_end, _ in q.cues_of("name"):
        words = _words_after(q.view, cue_end, 4, _NEVER_A_NAME)
        if words:
            found.append((words[0][0], words[-1][1], "name"))
    return found


def _addresses(q: _Question) -> list[Span]:
    found: list[Span] = []
    for _, cue_end, _ in q.cues_of("address"):
        number_first = _NUMBER_FIRST.match(q.view, cue_end)
        if number_first is not None:  # "I live at 12 Baker Street"
            words = _words_after(q.view, number_first.end(), 4)
            last = q.lower[words[-1][0] : words[-1][1]] if words else ""
            if words and (q.view[words[0][0]].isupper() or _STREET_SUFFIX.search(last)):
                found.append((cue_end, words[-1][1], "address"))
                continue
        words = _words_after(q.view, cue_end, 5)
        if not words:
            continue
        number = _HOUSE_NUMBER.match(q.view, words[-1][1])
        last = q.lower[words[-1][0] : words[-1][1]]
        if number is not None:
            found.append((words[0][0], number.end(), "address"))
        elif len(words) <= 3 and _STREET_SUFFIX.search(last):
            found.append((words[0][0], words[-1][1], "address"))
    return found


# ---- putting it together ----------------------------------------------------------------


class _Taken:
    """Accepted spans, sorted and disjoint; the first detector to claim a span keeps it."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.spans: list[Span] = []

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self.starts, end)
        return i > 0 and self.spans[i - 1][1] > start

    def take(self, candidates: list[Span]) -> None:
        for span in sorted(candidates):
            if not self.overlaps(span[0], span[1]):
                i = bisect.bisect_left(self.starts, span[0])
                self.starts.insert(i, span[0])
                self.spans.insert(i, span)


def _spans(view: str) -> list[Span]:
    """Every personal item in the view, earlier detectors winning any overlap."""
    q = _Question.of(view)
    taken = _Taken()
    taken.take(_emails(q))
    if _ANY_DIGIT.search(view):
        taken.take(_international_phones(q))
        taken.take(_cprs(q))
        taken.take(_cued_numbers(q, "cpr"))
        taken.take(_danish_phones(q, taken))
        taken.take(_cued_numbers(q, "phone"))
    taken.take(_addresses(q))
    taken.take(_names(q))
    return taken.spans


def redact(text: str) -> Redaction:
    """Replace CPR numbers, phone numbers, e-mails, and cued names and addresses."""
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)  # canonically the same text, composed
    view, origin = _view(text)
    counts = dict.fromkeys(TOKENS, 0)
    pieces: list[str] = []
    done = 0
    for start, end, kind in _spans(view):
        if origin is not None:
            start, end = origin[start], origin[end - 1] + 1
        pieces += [text[done:start], TOKENS[kind]]
        done = end
        counts[kind] += 1
    pieces.append(text[done:])
    return Redaction(text="".join(pieces), **counts)
