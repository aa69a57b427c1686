"""A generated, seeded corpus for the redactor: questions with planted personal data, and
questions with ordinary numbers that must come through untouched.

Why generated: a hand-written list tests the forms its author thought of, once. Templates
(eight languages) x written forms (every separator, dash, space, digit script and e-mail
obfuscation we know people type) x random valid values (seeded, so a failure reproduces)
cover the combinations. benchmarks/redaction.py reports on it, tests/test_redact.py pins it.

A miss is judged on what survives, not on the exact string: after folding the output the way
a reader would (NFKC, every digit script as ASCII, invisible characters dropped), any digit
run, or any word of a planted name, address or e-mail, that the template itself lacks counts.
Damage is any change at all to a benign question.

Phone numbers that read as a year range, a date or a round postcode range in some grouping
(a half between 1900 and 2099, or both halves round hundreds: about 3 % of numbers) are drawn
again for templates without a phone cue: the redactor documents that it reads these as the
ordinary number. The "ambiguous ..., after a cue" forms plant exactly such numbers behind a
cue word, where they must be redacted.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

SEED = 9
LANGUAGES = ("da", "en", "de", "pl", "uk", "ar", "tr", "so")
PLACEHOLDERS = {
    "cpr": "[CPR-NUMMER]",
    "phone": "[TELEFONNUMMER]",
    "email": "[E-MAIL]",
    "name": "[NAVN]",
    "address": "[ADRESSE]",
}


@dataclass(frozen=True)
class Planted:
    """One piece of personal data as written into a question."""

    kind: str  # cpr | phone | email | name | address
    form: str
    written: str


@dataclass(frozen=True)
class Case:
    """One corpus question; `expected` is the exact text the redactor must return."""

    text: str
    language: str
    category: str
    form: str
    planted: tuple[Planted, ...] = ()
    expected: str = ""
    skeleton: str = ""  # the text without the planted items, for the miss check


# ---- what counts as a miss --------------------------------------------------------------


def fold(text: str) -> str:
    """What a reader sees: NFKC, every decimal digit as ASCII, invisible characters gone."""
    out = []
    for ch in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(ch)
        if category not in ("Cf", "Cc", "Mn"):
            out.append(str(unicodedata.decimal(ch)) if category == "Nd" else ch)
    return "".join(out)


def _digit_runs(text: str) -> Counter[str]:
    return Counter(re.findall(r"[0-9]+", fold(text)))


def _words(text: str) -> Counter[str]:
    return Counter(re.findall(r"[^\W\d_]+", fold(text).casefold()))


_NOT_SECRET = {"at", "dot", "snabel", "a", "małpa", "собака", "punktum", "com", "dk", "de", "pl"}
_NOT_SECRET |= {"net", "org", "se", "no", "ua", "tr", "so", "ru", "me", "edu"}


def _secret_words(planted: Planted) -> set[str]:
    if planted.kind in ("cpr", "phone"):
        return set()
    words = set(re.findall(r"[^\W\d_]+", fold(planted.written).casefold()))
    return {w for w in words - _NOT_SECRET if len(w) > 1}


def leaks(case: Case, output: str) -> list[tuple[Planted, str]]:
    """Each planted item of which something survives in `output`, and what survives."""
    for token in PLACEHOLDERS.values():
        output = output.replace(token, " ")
    found: list[tuple[Planted, str]] = []
    extra_digits = _digit_runs(output) - _digit_runs(case.skeleton)
    extra_words = set(_words(output) - _words(case.skeleton))
    for planted in case.planted:
        digits = re.sub(r"[^0-9]", "", fold(planted.written))
        found += [(planted, f"digits {run}") for run in extra_digits if run in digits]
        found += [(planted, f"word {w!r}") for w in _secret_words(planted) & extra_words]
    seen = {what for _, what in found}
    stray = [f"digits {run}" for run in extra_digits if f"digits {run}" not in seen]
    return found + [(case.planted[0], what) for what in stray]  # digits no template had


# ---- written forms: "#" is the next digit of the value ----------------------------------


def _fill(pattern: str, digits: str) -> str:
    rest = iter(digits)
    return "".join(next(rest) if ch == "#" else ch for ch in pattern)


def _script(zero: int) -> Callable[[str, random.Random], str]:
    def write(text: str, _: random.Random) -> str:
        return "".join(chr(zero + int(c)) if c.isdigit() else c for c in text)

    return write


def _inside(mark: str) -> Callable[[str, random.Random], str]:
    def write(text: str, rng: random.Random) -> str:
        cut = rng.randint(1, len(text) - 1)
        return text[:cut] + mark + text[cut:]

    return write


def _full_width(text: str, _: random.Random) -> str:
    return _script(0xFF10)(text, _).replace("+", "＋")


Disguise = Callable[[str, random.Random], str] | None
# (form, pattern, disguise applied after filling, needs a cue word just before it)
_CPR_FORMS: list[tuple[str, str, Disguise, bool]] = [
    ("compact", "##########", None, False),
    ("dash", "######-####", None, False),
    ("space", "###### ####", None, False),
    ("en dash", "######–####", None, False),
    ("em dash", "######—####", None, False),
    ("spaced dash", "###### - ####", None, False),
    ("spaced en dash", "###### – ####", None, False),
    ("minus sign", "######\u2212####", None, False),
    ("non-breaking hyphen", "######\u2011####", None, False),
    ("figure dash", "######\u2012####", None, False),
    ("full-width hyphen", "######\uff0d####", None, False),
    ("slash", "######/####", None, False),
    ("dot", "######.####", None, False),
    ("dotted date", "##.##.##-####", None, False),
    ("dotted date, space", "##.##.## ####", None, False),
    ("dashed date", "##-##-##-####", None, False),
    ("slashed date", "##/##/##-####", None, False),
    ("spaced date", "## ## ## ####", None, False),
    ("pairs", "## ## ## ## ##", None, False),
    ("middle dots", "##·##·##-####", None, False),
    ("zero-width space", "######-####", _inside("\u200b"), False),
    ("soft hyphen", "##########", _inside("\u00ad"), False),
    ("word joiner", "###### ####", _inside("\u2060"), False),
    ("right-to-left mark", "######-####", _inside("\u200f"), False),
    ("no-break space", "######\u00a0####", None, False),
    ("narrow no-break space", "######\u202f####", None, False),
    ("full-width digits", "######-####", _full_width, False),
    ("arabic-indic digits", "######-####", _script(0x0660), False),
    ("persian digits", "##########", _script(0x06F0), False),
    ("devanagari digits", "###### ####", _script(0x0966), False),
    ("odd grouping, after a cue", "#### #### ##", None, True),
]
_PHONE_FORMS: list[tuple[str, str, Disguise, bool]] = [
    ("8 digits", "########", None, False),
    ("4+4", "#### ####", None, False),
    ("2+2+2+2", "## ## ## ##", None, False),
    ("2+3+3", "## ### ###", None, False),
    ("3+2+3", "### ## ###", None, False),
    ("3+3+2", "### ### ##", None, False),
    ("4+2+2", "#### ## ##", None, False),
    ("2+2+4", "## ## ####", None, False),
    ("dots", "##.##.##.##", None, False),
    ("dashes", "##-##-##-##", None, False),
    ("4-4 dash", "####-####", None, False),
    ("4/4 slash", "####/####", None, False),
    ("en dashes", "##–##–##–##", None, False),
    ("no-break spaces", "##\u00a0##\u00a0##\u00a0##", None, False),
    ("double spaces", "##  ##  ##  ##", None, False),
    ("+45 pairs", "+45 ## ## ## ##", None, False),
    ("+45 compact", "+45########", None, False),
    ("0045", "0045 ########", None, False),
    ("(+45)", "(+45) #### ####", None, False),
    ("+45 dashes", "+45-##-##-##-##", None, False),
    ("+45 dots", "+45.##.##.##.##", None, False),
    ("+ 45 spaced", "+ 45 ## ## ## ##", None, False),
    ("45 without plus", "45 ## ## ## ##", None, False),
    ("full-width", "+45 #### ####", _full_width, False),
    ("zero-width space", "########", _inside("\u200b"), False),
    ("arabic-indic digits", "## ## ## ##", _script(0x0660), False),
    ("single digits, after a cue", "# # # # # # # #", None, True),
    ("3+5, after a cue", "### #####", None, True),
]
_FOREIGN = [  # country: pattern, # for a random digit
    ("SE", "+46 7# ### ## ##"),
    ("NO", "+47 4## ## ###"),
    ("PL", "+48 5## ### ###"),
    ("UA", "+380 6# ### ####"),
    ("DE", "+49 30 ########"),
    ("DE (0)", "+49 (0)151 #### ####"),
    ("TR", "+90 5## ### ## ##"),
    ("SO", "+252 61 #######"),
    ("IQ", "+964 75# ### ####"),
    ("SY", "+963 9## ### ###"),
    ("GB", "+44 7### ######"),
    ("US", "+1 (2##) 555-####"),
    ("SE, 00 prefix", "0046 7# ### ## ##"),
    ("UA, dashes", "+380-6#-###-##-##"),
]
# (form, pattern over {local} {domain} {dots} {brackets} {punktum}, which domains)
_EMAIL_FORMS = [
    ("plain", "{local}@{domain}", "any"),
    ("upper case", "{LOCAL}@{DOMAIN}", "any"),
    ("spaces around @", "{local} @ {domain}", "any"),
    ("space before @", "{local} @{domain}", "any"),
    ("(at)", "{local} (at) {domain}", "any"),
    ("(at) no spaces", "{local}(at){domain}", "any"),
    ("[at]", "{local} [at] {domain}", "any"),
    ("{at}", "{local}{{at}}{domain}", "any"),
    ("(a)", "{local}(a){domain}", "any"),
    ("(AT)", "{local} (AT) {domain}", "any"),
    ("(at) (dot)", "{local} (at) {brackets}", "any"),
    ("[at] [dot]", "{local} [at] {squares}", "any"),
    ("at dot words", "{local} at {dots}", "any"),
    ("AT DOT capitals", "{LOCAL} AT {DOTS}", "any"),
    ("(at) punktum", "{local} (at) {punktum}", "any"),
    ("bare at, mail provider", "{first} at {domain}", "provider"),
    ("bare at, dotted local part", "{local} at {domain}", "dotted"),
    ("snabel-a", "{local} snabel-a {domain}", "any"),
    ("(snabel-a)", "{local} (snabel-a) {domain}", "any"),
    ("full-width @", "{local}＠{domain}", "any"),
    ("zero-width space", "{local}\u200b@{domain}", "any"),
    ("małpa", "{local} małpa {domain}", "any"),
    ("собака", "{local} собака {domain}", "any"),
    ("non-ASCII", "søren.{first}@æblegården.dk", "any"),
]

# ---- values -----------------------------------------------------------------------------

_FIRST_NAMES = {
    "da": ["Karen", "Søren", "Mette-Marie", "Jens", "Ida", "Anders", "Birgitte", "Ørjan"],
    "en": ["John", "Mary", "James", "Emily", "Michael", "Sarah", "Will", "Grace"],
    "de": ["Jürgen", "Anna", "Klaus", "Sabine", "Lukas", "Heike", "Uwe", "Greta"],
    "pl": ["Jan", "Anna", "Małgorzata", "Piotr", "Katarzyna", "Tomasz", "Zofia", "Łukasz"],
    "uk": ["Олена", "Андрій", "Марія", "Олександр", "Ірина", "Тарас", "Наталія", "Юрій"],
    "ar": ["فاطمة", "محمد", "أحمد", "ليلى", "وليد", "خديجة", "يوسف", "مريم"],
    "tr": ["Ayşe", "Mehmet", "Can", "Zeynep", "Emre", "Elif", "Mustafa", "İbrahim"],
    "so": ["Faadumo", "Maxamed", "Hodan", "Cabdi", "Xaawo", "Axmed", "Sahra", "Guuleed"],
}
_LAST_NAMES = {
    "da": ["Hansen", "Nielsen", "Jørgensen", "Kristensen", "Østergaard", "Møller", "Larsen"],
    "en": ["Smith", "O'Brien", "Johnson", "Taylor", "Brown", "Wilson", "Davies"],
    "de": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Wagner"],
    "pl": ["Kowalski", "Nowak", "Wiśniewska", "Wójcik", "Kamińska", "Lewandowski", "Zieliński"],
    "uk": ["Петренко", "Шевченко", "Коваленко", "Бондаренко", "Ткаченко", "Кравчук", "Олійник"],
    "ar": ["علي", "حسن", "الأحمد", "سليمان", "خليل", "إبراهيم", "منصور"],
    "tr": ["Yılmaz", "Demir", "Öztürk", "Kaya", "Şahin", "Çelik", "Arslan"],
    "so": ["Cali", "Xasan", "Warsame", "Maxamuud", "Yuusuf", "Jaamac", "Faarax"],
}
_STREETS = [
    "Vestergade", "Nørregade", "Søndergade", "Østergade", "Skolevej", "Kirkevej", "Toftevej",
    "Niels Juels Gade", "H.C. Andersens Boulevard", "Store Torv", "Åboulevarden",
    "Banegårdspladsen", "Møllevangs Allé", "Klostergade", "Rosenvænget", "Bakkevej",
]  # fmt: skip
_FLOORS = ["", ", 2. th.", " st. tv.", ", 1. sal", ", 3.tv", " 4. mf.", "B", " A, 1. th"]
_TOWNS = [
    ("8000", "Aarhus C"), ("8200", "Aarhus N"), ("2100", "København Ø"), ("5000", "Odense C"),
    ("9000", "Aalborg"), ("7100", "Vejle"), ("6700", "Esbjerg"), ("8900", "Randers C"),
]  # fmt: skip
_LOCALS = [
    "karen.hansen", "k.hansen84", "mohammed_ali", "olena.petrenko", "jan.kowalski",
    "ayse1990", "faadumo.cali", "soeren", "jens-peter", "mette+kommune",
]  # fmt: skip
_PROVIDERS = [
    "gmail.com", "hotmail.com", "outlook.dk", "live.dk", "yahoo.com", "mail.dk",
    "icloud.com", "gmx.de", "wp.pl", "ukr.net", "protonmail.com",
]  # fmt: skip
_OWN_DOMAINS = ["firma.dk", "hansen-vvs.dk", "example.org", "skole.aarhus.dk", "uni.edu.pl"]


def _cpr_digits(rng: random.Random, replacement: bool = False) -> str:
    year, month = rng.randint(1930, 2022), rng.randint(1, 12)
    days = [31, 29 if year % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    day = rng.randint(1, days) + (60 if replacement else 0)
    return f"{day:02d}{month:02d}{year % 100:02d}{rng.randint(0, 9999):04d}"


def _random_digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(count))


def _phone_digits(rng: random.Random, ambiguous: bool = False) -> str:
    """A Danish number (first digit 2-9); `ambiguous`: one that reads as a year too."""
    if ambiguous:
        return "20" + _random_digits(rng, 6)
    while True:
        digits = str(rng.randint(2, 9)) + _random_digits(rng, 7)
        halves = int(digits[:4]), int(digits[4:])
        year_like = any(1900 <= h <= 2099 for h in halves)
        if not year_like and not all(h % 100 == 0 for h in halves):
            return digits


def _email(rng: random.Random, pattern: str, domains: str) -> str:
    local = rng.choice(_LOCALS)
    if domains == "dotted":
        local, domain = rng.choice([lo for lo in _LOCALS if "." in lo]), rng.choice(_OWN_DOMAINS)
    else:
        domain = rng.choice(_PROVIDERS if domains == "provider" else _PROVIDERS + _OWN_DOMAINS)
    return pattern.format(
        local=local,
        LOCAL=local.upper(),
        first=re.split(r"[._+-]", local)[0],
        domain=domain,
        DOMAIN=domain.upper(),
        dots=domain.replace(".", " dot "),
        DOTS=domain.replace(".", " DOT ").upper(),
        brackets=domain.replace(".", " (dot) "),
        squares=domain.replace(".", " [dot] "),
        punktum=domain.replace(".", " punktum "),
    )


# ---- templates: {v} is the planted value; True marks a cue word right before it -----------

_Templates = dict[str, list[tuple[str, bool]]]
_CPR_TEMPLATES: _Templates = {
    "da": [
        ("Mit CPR-nummer er {v}, hvornår får jeg svar på min ansøgning?", True),
        ("Hej, kan I se min sag? {v}", False),
        ("Jeg søger boligstøtte, cpr {v} – hvad mangler I?", True),
        ("hvorfor har jeg fået et brev om {v} fra kommunen", False),
    ],
    "en": [
        ("My CPR number is {v}, how do I change my doctor?", True),
        ("Please look up {v} about my housing benefit.", False),
    ],
    "de": [
        ("Meine CPR-Nummer ist {v}. Wie melde ich mich um?", True),
        ("Können Sie {v} prüfen? Es geht um Wohngeld.", False),
    ],
    "pl": [
        ("Mój numer CPR to {v}, jak zmienić lekarza?", True),
        ("Proszę sprawdzić {v}, chodzi o zasiłek.", False),
    ],
    "uk": [
        ("Мій номер CPR {v}, як записати дитину до школи?", True),
        ("Перевірте, будь ласка, {v} щодо допомоги.", False),
    ],
    "ar": [
        ("رقم CPR الخاص بي هو {v}، كيف أغير طبيبي؟", True),
        ("هل يمكنكم التحقق من {v} بخصوص الإعانة؟", False),
    ],
    "tr": [
        ("CPR numaram {v}, doktorumu nasıl değiştirebilirim?", True),
        ("Lütfen {v} kontrol eder misiniz?", False),
    ],
    "so": [
        ("Lambarka CPR-kaygu waa {v}, sideen u beddeli karaa dhakhtarkayga?", True),
        ("Fadlan hubi {v} ku saabsan kaalmada.", False),
    ],
}
_PHONE_TEMPLATES: _Templates = {
    "da": [
        ("Kan I ringe mig op på {v}?", True),
        ("Mit mobilnummer er {v}", True),
        ("Jeg kan træffes på {v} hele dagen, hvornår henter I storskrald?", False),
        ("tlf {v} – hvornår er genbrugspladsen åben?", True),
    ],
    "en": [
        ("Please call me on {v} about my parking permit.", True),
        ("You can reach me on {v} after 4 pm.", False),
    ],
    "de": [("Bitte rufen Sie mich unter {v} an.", False), ("Meine Handynummer: {v}", True)],
    "pl": [
        ("Mój telefon: {v}, kiedy odbiór śmieci?", True),
        ("Jestem dostępny pod {v} cały dzień.", False),
    ],
    "uk": [
        ("Мій телефон {v}, коли вивозять сміття?", True),
        ("Я доступна за {v} весь день.", False),
    ],
    "ar": [("رقم هاتفي {v}، متى يتم جمع القمامة؟", True), ("يمكنكم الوصول إلي على {v}", False)],
    "tr": [
        ("Telefon numaram {v}, çöpler ne zaman toplanıyor?", True),
        ("Bana {v} üzerinden ulaşabilirsiniz.", False),
    ],
    "so": [
        ("Taleefankaygu waa {v}, goorma ayaa qashinka la qaadayaa?", True),
        ("Waxaad iga heli kartaan {v} maalinta oo dhan.", False),
    ],
}
_EMAIL_TEMPLATES: _Templates = {
    "da": [
        ("Skriv til mig på {v}, tak.", True),
        ("min mail er {v} hvornår er der storskrald?", True),
        ("Kan I sende svaret til {v}?", False),
    ],
    "en": [("Please email me at {v} about my application.", True), ("My email is {v}.", True)],
    "de": [("Meine E-Mail-Adresse ist {v}. Wann kommt der Sperrmüll?", True)],
    "pl": [("Mój e-mail to {v}, proszę o odpowiedź.", True)],
    "uk": [("Моя пошта {v}, надішліть відповідь, будь ласка.", True)],
    "ar": [("بريدي الإلكتروني {v}، أرجو الرد.", True)],
    "tr": [("E-posta adresim {v}, lütfen cevap verin.", True)],
    "so": [("Iimaylkaygu waa {v}, fadlan ii soo jawaab.", True)],
}
_NAME_TEMPLATES: _Templates = {
    "da": [
        ("Hej, jeg hedder {v}. Hvordan søger jeg om friplads?", True),
        ("Mit navn er {v} og jeg vil gerne skifte læge", True),
        ("min søn hedder {v}, hvornår starter han i skole?", True),
        ("jeg hedder {v} og har et spørgsmål om pas", True),
    ],
    "en": [
        ("Hi, my name is {v}. How do I register my child for school?", True),
        ("My daughter's name is {v}, can she get a place in kindergarten?", True),
    ],
    "de": [
        ("Hallo, ich heiße {v}. Wie bekomme ich einen Pass?", True),
        ("Mein Name ist {v} und ich brauche eine Wohnung.", True),
    ],
    "pl": [
        ("Dzień dobry, nazywam się {v}. Jak zmienić lekarza?", True),
        ("Mam na imię {v} i chcę zapisać dziecko do szkoły.", True),
    ],
    "uk": [("Мене звати {v}, як записати дитину до школи?", True)],
    "ar": [("اسمي {v}، كيف أغير طبيبي؟", True), ("مرحبا، اسمي {v} وأريد جواز سفر.", True)],
    "tr": [("Benim adım {v}, çocuğumu okula nasıl kaydettiririm?", True)],
    "so": [("Magacaygu waa {v}, sideen u helaa baasaboor?", True)],
}
_ADDRESS_TEMPLATES: _Templates = {
    "da": [
        ("Jeg bor på {v}{town} – hvornår tømmes min skraldespand?", True),
        ("Min adresse er {v}{town}. Hvornår kommer storskrald?", True),
        ("Vi er flyttet til {v}{town}, hvordan melder jeg flytning?", True),
    ],
    "en": [
        ("I live at {v}{town}, when is bulky waste collected?", True),
        ("My address is {v}{town}. Can I get a parking permit?", True),
    ],
    "de": [("Ich wohne in der {v}{town}. Wann wird der Sperrmüll abgeholt?", True)],
    "pl": [("Mieszkam przy ulicy {v}{town}, kiedy jest odbiór śmieci?", True)],
    "uk": [("Я живу на вулиці {v}{town}, коли вивозять сміття?", True)],
    "ar": [("أسكن في {v}{town}، متى يتم جمع النفايات الكبيرة؟", True)],
    "tr": [("Adresim {v}{town}, büyük çöpler ne zaman toplanıyor?", True)],
    "so": [("Cinwaankaygu waa {v}{town}, goorma ayaa qashinka la qaadayaa?", True)],
}
_MIXED_TEMPLATES = [
    ("da", "Jeg hedder {name}, cpr {cpr}, tlf {phone}, mail {email}. Hvornår er der storskrald?"),
    ("da", "Hej! Mit navn er {name} og jeg bor på {address}. Ring på {phone} eller skriv {email}"),
    ("en", "My name is {name}, CPR {cpr}, phone {phone}. I live at {address}. Help?"),
    ("de", "Ich heiße {name}, meine Telefonnummer ist {phone}, E-Mail {email}."),
    ("pl", "Nazywam się {name}, mój telefon {phone}, e-mail {email}, CPR {cpr}."),
    ("uk", "Мене звати {name}, телефон {phone}, пошта {email}, CPR {cpr}."),
    ("ar", "اسمي {name}، رقم هاتفي {phone}، بريدي {email}، CPR {cpr}"),
    ("tr", "Benim adım {name}, telefon numaram {phone}, e-posta {email}."),
    ("so", "Magacaygu waa {name}, taleefankaygu waa {phone}, iimaylkaygu waa {email}."),
]


def _case(rng: random.Random, templates: _Templates, planted: Planted, cued: bool, n: int) -> Case:
    language = LANGUAGES[n % len(LANGUAGES)]
    options = [t for t, has_cue in templates[language] if has_cue or not cued]
    template = rng.choice(options)
    town = ", {} {}".format(*rng.choice(_TOWNS)) if rng.random() < 0.5 else ""
    fill = template.replace("{town}", town)
    return Case(
        text=fill.replace("{v}", planted.written),
        language=language,
        category=planted.kind,
        form=planted.form,
        planted=(planted,),
        expected=fill.replace("{v}", PLACEHOLDERS[planted.kind]),
        skeleton=fill.replace("{v}", " "),
    )


def _mixed(rng: random.Random, i: int) -> Case:
    language, template = _MIXED_TEMPLATES[i % len(_MIXED_TEMPLATES)]
    cpr_form = rng.choice(_CPR_FORMS[:20])
    phone_form = rng.choice(_PHONE_FORMS[:20])
    values = {
        "name": f"{rng.choice(_FIRST_NAMES[language])} {rng.choice(_LAST_NAMES[language])}",
        "cpr": _fill(cpr_form[1], _cpr_digits(rng)),
        "phone": _fill(phone_form[1], _phone_digits(rng)),
        "email": f"{rng.choice(_LOCALS)}@{rng.choice(_PROVIDERS)}",
        "address": f"{rng.choice(_STREETS)} {rng.randint(1, 199)}",
    }
    used = [kind for kind in values if "{" + kind + "}" in template]
    text, expected, skeleton = template, template, template
    for kind in used:
        text = text.replace("{" + kind + "}", values[kind])
        expected = expected.replace("{" + kind + "}", PLACEHOLDERS[kind])
        skeleton = skeleton.replace("{" + kind + "}", " ")
    planted = tuple(Planted(kind, "mixed", values[kind]) for kind in used)
    return Case(text, language, "mixed", "several in one question", planted, expected, skeleton)


def pii_cases(seed: int = SEED, per_form: int = 8) -> list[Case]:
    """Questions with planted personal data, every form `per_form` times (seeded)."""
    rng = random.Random(seed)
    planted: list[tuple[_Templates, Planted, bool]] = []
    for form, pattern, disguise, cued in _CPR_FORMS:
        for _ in range(per_form):
            value = _fill(pattern, _cpr_digits(rng))
            value = disguise(value, rng) if disguise else value
            planted.append((_CPR_TEMPLATES, Planted("cpr", form, value), cued))
    for _ in range(per_form):
        value = _fill("######-####", _cpr_digits(rng, replacement=True))
        planted.append((_CPR_TEMPLATES, Planted("cpr", "replacement (day + 60)", value), False))
    for form, pattern, disguise, cued in _PHONE_FORMS:
        for _ in range(per_form):
            value = _fill(pattern, _phone_digits(rng))
            value = disguise(value, rng) if disguise else value
            planted.append((_PHONE_TEMPLATES, Planted("phone", form, value), cued))
    for form, pattern, _, _ in _PHONE_FORMS[:12]:
        value = _fill(pattern, _phone_digits(rng, ambiguous=True))
        planted.append((_PHONE_TEMPLATES, Planted("phone", f"ambiguous {form}, cue", value), True))
    for country, pattern in _FOREIGN:
        for _ in range(per_form // 2):
            value = _fill(pattern, _random_digits(rng, pattern.count("#")))
            planted.append((_PHONE_TEMPLATES, Planted("phone", f"foreign {country}", value), False))
    for form, pattern, domains in _EMAIL_FORMS:
        for _ in range(per_form):
            value = _email(rng, pattern, domains)
            planted.append((_EMAIL_TEMPLATES, Planted("email", form, value), False))
    for i in range(per_form * 8):
        language = LANGUAGES[i % len(LANGUAGES)]
        name = rng.choice(_FIRST_NAMES[language])
        name += f" {rng.choice(_LAST_NAMES[language])}" if i % 4 else ""
        form = "full name" if " " in name else "first name"
        if i % 8 == 3:  # people type names in lower case too (no-op in Arabic)
            name, form = name.lower(), "lower case"
        planted.append((_NAME_TEMPLATES, Planted("name", form, name), True))
    for _ in range(per_form * 8):
        street = f"{rng.choice(_STREETS)} {rng.randint(1, 199)}{rng.choice(_FLOORS)}"
        planted.append((_ADDRESS_TEMPLATES, Planted("address", "street and number", street), True))
    for street in ("Vestergade", "Skolevej", "Klostergade", "Rosenvænget") * (per_form // 4):
        planted.append((_ADDRESS_TEMPLATES, Planted("address", "street, no number", street), True))
    cases = [_case(rng, t, p, cued, n) for n, (t, p, cued) in enumerate(planted)]
    return cases + [_mixed(rng, i) for i in range(per_form * 5)]


# ---- benign questions: {name} is a drawn value ------------------------------------------


def _benign_values(rng: random.Random) -> dict[str, int | str]:
    year, amount = rng.randint(1995, 2035), rng.randint(20_000_000, 99_999_999)
    low = rng.randint(10, 97) * 100
    postcode = rng.randint(2000, 9000)
    return {
        "year": year,
        "next": year + 1,
        "later": year + rng.randint(1, 5),
        "next2": (year + 1) % 100,
        "yyyy": rng.randint(1990, 2035),
        "mm": rng.randint(1, 12),
        "dd": rng.randint(1, 28),
        "low": low,
        "high": low + rng.randint(1, 99 - low // 100) * 100,
        "postcode": postcode,
        "postcode2": postcode + rng.randint(1, 300),
        "town": " ".join(rng.choice(_TOWNS)),
        "amount": amount,
        "spaced": f"{amount:,}".replace(",", " "),
        "dotted": f"{amount:,}".replace(",", "."),
        "small": f"{rng.randint(1000, 99999):,}".replace(",", "."),
        "kr": rng.randint(1000, 99_999_999),
        "serial": rng.randint(0, 9999),
        "jnr": rng.randint(10000, 99999),
        "yy": rng.randint(10, 30),
        "long": f"{rng.randint(20, 29)}{rng.randint(13, 99)}{rng.randint(0, 999_999):06d}",
        "count": rng.randint(2, 40),
        "people": f"{rng.randint(1000, 999_999):,}".replace(",", " "),
        "h1": rng.randint(6, 11),
        "h2": rng.randint(12, 19),
        "h3": rng.randint(20, 21),
        "h4": rng.randint(22, 23),
        "m1": rng.choice([0, 15, 30, 45]),
        "m2": rng.choice([0, 30]),
        "pct": rng.randint(1, 99),
        "cvr": rng.randint(10_000_000, 99_999_999),
        "pnr": rng.randint(0, 99_999_999),
        "ean": rng.randint(0, 999_999_999),
    }


_BENIGN_FORMS = [  # (category, form, pattern)
    ("year", "year", "{year}"),
    ("year", "year range", "{year}-{next}"),
    ("year", "year range, en dash", "{year}–{next}"),
    ("year", "year range, spaced", "{year} - {later}"),
    ("year", "year range, slash", "{year}/{next}"),
    ("year", "school year 2025/26", "{year}/{next2:02d}"),
    ("price", "spaced thousands kr", "{spaced} kr"),
    ("price", "dotted thousands kr.", "{dotted} kr."),
    ("price", "decimal comma kr", "{small},50 kr"),
    ("price", "kr. before", "kr. {kr}"),
    ("price", "DKK before", "DKK {spaced}"),
    ("price", "kroner after", "{amount} kroner"),
    ("price", "euro sign", "€ {spaced}"),
    ("price", "thousand dots, no unit", "{dotted}"),
    ("postcode", "postcode and town", "{town}"),
    ("postcode", "round range, space", "{low} {high}"),
    ("postcode", "round range, dash", "{low}-{high}"),
    ("postcode", "range after cue", "postnumrene {postcode}-{postcode2}"),
    ("date", "compact YYYYMMDD", "{yyyy}{mm:02d}{dd:02d}"),
    ("date", "compact DDMMYYYY", "{dd:02d}{mm:02d}{yyyy}"),
    ("date", "DD-MM-YYYY", "{dd:02d}-{mm:02d}-{yyyy}"),
    ("date", "DD.MM.YYYY", "{dd:02d}.{mm:02d}.{yyyy}"),
    ("date", "DD/MM/YYYY", "{dd:02d}/{mm:02d}/{yyyy}"),
    ("date", "ISO", "{yyyy}-{mm:02d}-{dd:02d}"),
    ("date", "DD MM YYYY", "{dd:02d} {mm:02d} {yyyy}"),
    ("case", "sagsnummer", "sagsnummer {year}-{serial:04d}"),
    ("case", "j.nr.", "j.nr. {yy}/{jnr}"),
    ("case", "sagsnr. long", "sagsnr. {long}"),
    ("case", "journalnummer", "journalnummer {year}/{serial:04d}"),
    ("case", "case number", "case number {year}-{serial:04d}"),
    ("count", "count", "{count} børn"),
    ("count", "big count", "{people} indbyggere"),
    ("time", "kl. range", "kl. {h1:02d}.{m1:02d}-{h2}.{m2:02d}"),
    ("time", "evening range", "{h3}.{m2:02d}-{h4}.{m1:02d}"),
    ("time", "colon range", "{h1}:00-{h2}:30"),
    ("percent", "percent", "{pct},5 %"),
    ("company", "CVR", "CVR {cvr}"),
    ("company", "cvr-nr.", "cvr-nr. {cvr}"),
    ("company", "P-nummer", "P-nummer 10{pnr:08d}"),
    ("company", "EAN", "EAN 5798{ean:09d}"),
]
_BENIGN_TEMPLATES = {
    "da": [
        "Hvad er affaldsgebyret for {v}?",
        "Gælder reglerne om storskrald for {v}?",
        "Jeg har et spørgsmål om {v} – hvem kan hjælpe?",
        "Hvad betyder {v} på min regning?",
    ],
    "en": ["What does {v} mean on my bill?", "Do the bulky waste rules apply to {v}?"],
    "de": ["Was bedeutet {v} auf meiner Rechnung?"],
    "pl": ["Co oznacza {v} na moim rachunku?"],
    "uk": ["Що означає {v} у моєму рахунку?"],
    "ar": ["ماذا يعني {v} في فاتورتي؟"],
    "tr": ["Faturamdaki {v} ne anlama geliyor?"],
    "so": ["Maxay ka dhigan tahay {v} biilkayga?"],
}
# sentences with a cue-like word but nothing personal, and English "at" before a web address
_BENIGN_SENTENCES = [
    "Mit navn er stavet forkert i brevet, hvad gør jeg?",
    "Jeg bor på landet, hvornår henter I storskrald?",
    "Jeg bor i Aarhus og har 2 børn, kan de få friplads?",
    "jeg bor på plejehjem, kan jeg få hjælp?",
    "Jeg bor i en lejlighed på 3. sal, må jeg have kat?",
    "Hvad hedder skemaet til boligstøtte?",
    "Can I apply at borger.dk?",
    "Where do I log in at mitid.dk?",
    "I live in Aarhus, how do I get a parking permit?",
    "Ich wohne in Aarhus, wie bekomme ich einen Pass?",
    "Mieszkam w Aarhus, jak zmienić lekarza?",
    "Hvordan søger jeg om at flytte til en anden skole?",
    "Hvad skal jeg gøre for at få et sundhedskort?",
    "Kan jeg ringe til borgerservice kl. 8-15?",
    "Hvornår er der åbent på genbrugspladsen i uge 12-13?",
    "Er det rigtigt, at prisen stiger med 2,5 % i 2026?",
    "Skriv til os via borger.dk – hvad betyder det?",
    "My name is on the list, what happens next?",
    "Jeg er flyttet til Aarhus for 2 uger siden, hvad nu?",
    "Hvor mange bor i Aarhus Kommune?",
]


def benign_cases(seed: int = SEED, per_form: int = 6) -> list[Case]:
    """Questions with ordinary numbers and cue-like words that must survive untouched."""
    rng = random.Random(seed + 1)
    cases: list[Case] = []
    for n in range(len(_BENIGN_FORMS) * per_form):
        category, form, pattern = _BENIGN_FORMS[n // per_form]
        language = LANGUAGES[n % len(LANGUAGES)]
        value = pattern.format(**_benign_values(rng))
        text = rng.choice(_BENIGN_TEMPLATES[language]).replace("{v}", value)
        cases.append(Case(text, language, f"benign {category}", form, (), text, text))
    for sentence in _BENIGN_SENTENCES:
        cases.append(Case(sentence, "da", "benign words", "cue-like words", (), sentence, sentence))
    return cases
