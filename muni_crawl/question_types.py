"""What kind of answer a question asks for (a price, a time, a deadline, a place or procedure),
and whether a sentence holds it: what lets the extractive composer pick the sentence with the
amount for "hvad koster ...", and the opening hours for "when is ... open".

The cues are a small table per language (the languages citizens in Denmark write in most),
regular expressions on the lower-cased question: question words and a few nouns, not verbs
such as "apply" or "melde", which go with every type ("when must I apply?"). Danish and
English cues apply to every question, as people mix them in. The answer signs are read in
the sources (Danish, and the English pages some municipalities have).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

QUESTION_TYPES = ("price", "when", "deadline", "where")

QUESTION_CUES: dict[str, dict[str, str]] = {
    "da": {
        "price": r"\bkost|\bpris|\bbetal|\bgebyr|\btakst|\bgratis\b|\bkr\b|\bkroner|\bhvor meget\b"
        r"|\begenbetaling|\btilskud",
        "when": r"\bhvornår\b|\båben|\båbningstid|\blukke|\btidspunkt|\bdato"
        r"|\bhvilke[nt]? (dag|dage|uge|tid|måned)|\bkl\b|\b(man|tirs|ons|tors|fre|lør|søn)dag"
        r"|\bweekend",
        "deadline": r"\bfrist|\bsenest\b|\bdeadline|\bhvor (lang tid|længe|hurtigt)|\binden\b"
        r"|\bvarsel",
        "where": r"\bhvor\b(?! (meget|mange|lang|længe|tit|ofte|gammel|stor|hurtigt))"
        r"|\bhvordan\b|\badresse|\bkontakt|\blink|\bhvem\b",
    },
    "en": {
        "price": r"\bcost|\bprice|\bfees?\b|\bhow much\b|\bpay|\bcharge|\bfree\b|\bdkk\b",
        "when": r"\bwhen\b|\bopen|\bhours\b|\bwhat time\b|\bdates?\b|\bwhich day|\bschedule",
        "deadline": r"\bdeadline|\bby when\b|\bhow long\b|\bat the latest\b|\btime limit"
        r"|\bwithin\b|\bhow soon\b|\bnotice\b",
        "where": r"\bwhere\b|\bhow (do|can|to|should|does)\b|\baddress|\bcontact|\bwho\b",
    },
    "de": {
        "price": r"\bkoste|\bpreis|\bgebühr|\bzahle|\bwie ?viel\b|\bkostenlos",
        "when": r"\bwann\b|\bgeöffnet|\böffnungszeit|\buhrzeit|\bdatum|\ban welche[mn] tag",
        "deadline": r"\bfrist|\bspätestens|\bbis wann\b|\bwie lange\b",
        "where": r"\bwo\b|\bwohin\b|\bwie (kann|muss|melde|beantrage|bekomme)|\badresse"
        r"|\bkontakt",
    },
    "pl": {
        "price": r"\bkoszt|\bcen[aęy]\b|\bopłat|\bile płac|\bbezpłatn|\bzapłac",
        "when": r"\bkiedy\b|\bgodzin|\botwart|\bw jakie dni|\bktórego dnia|\bdat[aęy]\b",
        "deadline": r"\btermin|\bnajpóźniej|\bdo kiedy\b|\bile czasu\b|\bjak długo\b",
        "where": r"\bgdzie\b|\bjak\b|\badres|\bkontakt",
    },
    "uk": {
        "price": r"\bскільки кошт|\bвартість|\bкоштує|\bціна|\bплат|\bбезкоштовн|\bзбір",
        "when": r"\bколи\b|\bгодини робот|\bвідчинен|\bпрацює|\bдат[аиу]\b|\bв які дні"
        r"|\bрозклад|\bграфік",
        "deadline": r"\bтермін|\bстрок|\bне пізніше|\bдо якого|\bскільки часу|\bяк довго",
        "where": r"\bде\b|\bкуди\b|\bяк\b|\bадрес|\bконтакт",
    },
    "ar": {  # Arabic attaches prefixes (و, ال, ب) to words: substrings, not word starts
        "price": r"سعر|تكلف|رسوم|ثمن|كم يكلف|مجان|أدفع|الدفع",
        "when": r"متى|مواعيد|ساعات|مفتوح|يفتح|تاريخ|أي يوم",
        "deadline": r"آخر موعد|مهلة|الموعد النهائي|كم من الوقت|أقصاه",
        "where": r"أين|كيف|عنوان|اتصل|التواصل",
    },
    "tr": {
        "price": r"\bücret|\bfiyat|\bkaç (para|lira|kron)|\bne kadar\b(?! sür)|\bmaliyet|\böde",
        "when": r"\bne zaman\b|\bsaat|\baçık|\btarih|\bhangi gün",
        "deadline": r"\bson gün|\bson tarih|\ben geç|\bsüre|\bne kadar sür|\bkaç gün",
        "where": r"\bnere|\bnasıl|\badres|\biletişim",
    },
    "so": {
        "price": r"\bqiim|\blacag|\bkharash|\bbixi|\bmeeqa\b|\bimisa\b|\bbilaash",
        "when": r"\bgoorma|\bsaacad|\bfuran|\btaariikh|\bmaalin",
        "deadline": r"\bwaqtiga ugu dambeeya|\bmuddada|\bugu dambeyn",
        "where": r"\bxagg?ee\b|\bhalkee\b|\bsidee\b|\bcinwaan",
    },
    "ro": {
        "price": r"\bcost|\bpreț|\bpret\b|\btax[aăe]|\bcât (costă|plăt)|\bgratuit|\bplăt",
        "when": r"\bc[âa]nd\b|\bprogram|\bdeschis|\bora\b|\bdata\b|\bîn ce zi",
        "deadline": r"\btermen|\bcel târziu|\bpână când|\bcât timp\b|\bcât durează",
        "where": r"\bunde\b|\bcum\b|\badres|\bcontact",
    },
    "lt": {
        "price": r"\bkiek kainuoja|\bkain|\bmokest|\bmokėti|\bnemokam",
        "when": r"\bkada\b|\bdarbo laik|\batidary|\bvaland|\bkurią dieną",
        "deadline": r"\bterminas|\bvėliausiai|\biki kada\b|\bkiek laiko|\bper kiek",
        "where": r"\bkur\b|\bkaip\b|\badres|\bkreiptis",
    },
    "sv": {
        "price": r"\bkosta|\bpris|\bavgift|\bbetala|\bhur mycket\b|\bgratis\b|\bkronor",
        "when": r"\bnär\b|\böppe|\bdatum|\bvilken dag",
        "deadline": r"\bsenast\b|\bsista dag|\bfrist|\bhur (lång tid|länge)",
        "where": r"\bvart?\b|\bhur\b(?! (mycket|lång|länge))|\badress|\bkontakt",
    },
    "no": {
        "price": r"\bkoste|\bpris|\bavgift|\bgebyr|\bbetale|\bhvor mye\b|\bgratis\b",
        "when": r"\bnår\b|\båpen|\båpningstid|\bdato|\bhvilken dag",
        "deadline": r"\bfrist|\bsenest\b|\bhvor (lang tid|lenge)",
        "where": r"\bhvor\b(?! (mye|mange|lang|lenge))|\bhvordan\b|\badresse|\bkontakt",
    },
}

_DAYS = (
    r"(man|tirs|ons|tors|fre|lør|søn)dag|hverdag|weekend|helligdag"
    r"|(mon|tues|wednes|thurs|fri|satur|sun)day|weekday"
)
_MONTHS = (
    r"januar|februar|marts|april|maj|juni|juli|august|september|oktober|november|december"
    r"|january|february|march|may|june|july|october"
)
# What an answer of each type contains: (strong, weak) signs in the lower-cased sentence.
ANSWER_SIGNS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "price": (
        re.compile(
            r"\d[\d. ]*(,\d+)?\s*(kr\b|kroner|dkk|,-)|\b(dkk|kr\.?)\s*\d|\bgratis\b|\bfree\b"
            r"|\bkoster intet"
        ),
        re.compile(r"\bkost|\bpris|\bbetal|\bgebyr|\btakst|\begenbetal|\bfee|\bprice|\bcost"),
    ),
    "when": (
        re.compile(
            rf"\b({_DAYS})|\b({_MONTHS})\b|\bkl\.?\s*\d|\b\d{{1,2}}[.:]\d{{2}}\b|\buge \d"
            r"|\b\d{1,2}([.:]\d{2})?\s*(am|pm)\b"
            r"|\b\d{1,2}\.\s*(jan|feb|mar|apr|maj|jun|jul|aug|sep|okt|nov|dec)"
        ),
        re.compile(r"\båben|\blukket|\bhver (dag|uge|måned|\d+\.)|\bdaily|\bopen|\bhver \w+ uge"),
    ),
    "deadline": (
        re.compile(r"\bsenest\b|\bfrist|\bdeadline|\binden for\b|\bvarsel|\bno later|\bwithin\b"),
        re.compile(
            r"\b(\d+|en|et|to|tre|fire|fem|seks|otte|ti|fjorten|one|two|three|four|six)"
            r"\s+(dage|døgn|uger|måneder|hverdage|år|days|weeks|months|working days)\b|\binden\b"
        ),
    ),
    "where": (
        re.compile(
            r"\b[a-zæøå]+(vej|gade|allé|alle|torv|plads|stræde|vænge|boulevard)\s+\d+"
            r"|https?://|www\.|\b[\w-]+\.(dk|com|org|eu)\b|\b\d{2} \d{2} \d{2} \d{2}\b|@"
            r"|\bselvbetjening|\bmitid\b|\bligger (på|i)\b"
        ),
        re.compile(
            r"\bsøg|\bansøg|\budfyld|\bring\b|\bring til|\bkontakt|\bbestil|\btilmeld|\bmeld"
            r"|\bskal du\b|\bkan du\b|\bapply|\bregister|\bcontact|\bbook"
        ),
    ),
}

_CUES = {
    language: {kind: re.compile(cues) for kind, cues in table.items()}
    for language, table in QUESTION_CUES.items()
}


def question_types(question: str, language: str) -> tuple[str, ...]:
    """The types of answer the question asks for (none, one or several), in QUESTION_TYPES order."""
    text = question.lower()
    tables = [_CUES[code] for code in dict.fromkeys((language, "da", "en")) if code in _CUES]
    return tuple(
        kind for kind in QUESTION_TYPES if any(table[kind].search(text) for table in tables)
    )


def type_match(sentence: str, kinds: Sequence[str]) -> float:
    """1 when the sentence holds what one of the asked types wants, 0.4 for a weaker sign."""
    text = sentence.lower()
    best = 0.0
    for kind in kinds:
        strong, weak = ANSWER_SIGNS[kind]
        if strong.search(text):
            return 1.0
        if weak.search(text):
            best = 0.4
    return best


def without_cues(question: str, language: str) -> str:
    """The question without the words that ask for a type of answer ("hvad koster", "how
    much", "when"): what is left names its topic. A price word in a sentence says nothing
    about whether it is the passport's price or the parking permit's."""
    text = question.lower()
    for code in dict.fromkeys((language, "da", "en")):
        for cue in _CUES.get(code, {}).values():
            text = cue.sub(" ", text)
    return text
