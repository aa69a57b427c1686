"""The cue words that tell redaction how to read what follows them, in the languages the
chatbot meets most. Data, kept apart from the matching code in redact.py.

Each kind maps to (alternatives, what may follow them). Every alternative starts with a plain
character and uses only (?:...) groups, so redact.py can index them by first character.
"""

from __future__ import annotations

_NUMBER_TAIL = r"\b\.?"
_RELATIVES = (
    r"(?:søn|datter|barn|mand|kone|hustru|kæreste|samlever|partner|mor|far|bror|søster|nabo|"
    r"ven|veninde|baby|pige|dreng|son|daughter|child|kid|husband|wife|mother|mom|mum|father|"
    r"dad|brother|sister|neighbou?r|friend|boy|girl|sohn|tochter|kind|frau|partnerin|mutter|"
    r"vater|bruder|schwester|nachbar\w*|syn|córka|dziecko|mąż|żona|mama|tata|brat|siostra|"
    r"сина|доньку|дочку|дитину|чоловіка|дружину|маму|тата|брата|сестру)"
)
_R = _RELATIVES
CUE_WORDS: dict[str, tuple[str, str]] = {  # kind: (alternatives, what may follow them)
    "cpr": (
        r"cpr(?:[- ]?(?:nr|nummer|no|number|numer|номер)\b)?|person-?nr|personnumm?er|"
        r"personal (?:id(?:entity)? )?number|civil registration number",
        _NUMBER_TAIL,
    ),
    "phone": (
        r"tlf|tel|telefon\w*|telephone|phone|mobil\w*|cell|handy\w*|sms|ring\w{0,3}|call|"
        r"rufnummer|komórk\w*|zadzwo\w*|телефон\w*|тел|мобільн\w*|зателефону\w*|дзвон\w*|"
        r"هاتف\w*|الهاتف|جوال\w*|موبايل|اتصل\w*|cep|taleefan\w*|telefoon\w*|lambarkayg\w*|"
        r"soo wac",
        _NUMBER_TAIL,
    ),
    "case": (
        r"sags? ?-?nr|sagsnummer|sag nr|j\. ?nr|jnr|journal ?-?n(?:umme)?r|case number|"
        r"case no|case nr|reference(?: number)?|ref|aktenzeichen|geschäftszeichen|numer sprawy|"
        r"sygnatura|номер справи|رقم القضية|dosya numarası|ordre ?-?n(?:umme)?r|"
        r"faktura ?-?n(?:umme)?r|kvitteringsnummer|lov nr|lbk nr|bek nr|"
        r"dokument ?-?n(?:umme)?r|bilag(?: nr)?",
        _NUMBER_TAIL,
    ),
    "company": (
        r"cvr(?:[- ]?(?:nr|nummer|number))?|se-?nr|p-?n(?:umme)?r|produktionsenhed\w*|"
        r"ean(?:[- ]?(?:nr|nummer|number))?|gln",
        _NUMBER_TAIL,
    ),
    "postcode": (
        r"post ?-?n(?:umme)?r|postnumre\w*|postdistrikt\w*|zip(?: code)?|postal codes?|"
        r"postcodes?|plz|postleitzahl\w*|kod\w* pocztow\w*|поштов\w* індекс\w*|"
        r"الرمز البريدي|posta kodu",
        _NUMBER_TAIL,
    ),
    "money": (
        r"kr|dkk|kroner|eur|euro|usd|pris\w*|beløb\w*|gebyr\w*|koster|price|costs?|fee|preis|"
        r"kostet|cena|kosztuje|ціна|коштує|السعر|تكلفة|fiyat\w*|ücret\w*|qiimah\w*|værdi\w*|"
        r"ejendomsværdi\w*|grundværdi\w*|handelsværdi\w*|salgsværdi\w*|vurdering\w*|"
        r"indkomst\w*|personindkomst\w*|bruttoindkomst\w*|nettoindkomst\w*|"
        r"husstandsindkomst\w*|formue\w*|gæld\w*|løn\w*|husleje\w*",
        _NUMBER_TAIL,
    ),
    "time": (r"kl|klokken|godz", _NUMBER_TAIL),
    "currency": ("€|£|\\$", ""),
    "email": (
        r"e-?mail\w*|mail\w*|e-?post\w*|skriv til|write to|email me|пошт\w*|імейл|البريد|"
        r"بريد\w*|iimaylka",
        r"\b",
    ),
    "name": (
        r"jeg hedder|mit fulde navn er|mit navn er|mi[nt] "
        + _R
        + r" hedder|vores "
        + _R
        + r" hedder|my full name is|my name is|my "
        + _R
        + r"(?:'s name is| is called)|our "
        + _R
        + r"(?:'s name is| is called)|i am called|i'm called|ich hei(?:ß|ss)e|"
        r"mein vollständiger name ist|mein name ist|meine? "
        + _R
        + r" hei(?:ß|ss)t|unsere? "
        + _R
        + r" hei(?:ß|ss)t|nazywam się|mam na imię|moje imię to|mój "
        + _R
        + r" (?:ma na imię|nazywa się)|moj[ae] "
        + _R
        + r" (?:ma na imię|nazywa się)|nasza? "
        + _R
        + r" (?:ma na imię|nazywa się)|мене звати|моє ім'я|мо(?:го|ю|єї) "
        + _R
        + r" звати|наш(?:ого|у) "
        + _R
        + r" звати|واسمي|اسمي|وإسمي|إسمي|benim adım|"
        r"benim ismim|ismim|magacaygu waa|magacayga waa|magacaygu|navn ?:|name ?:|"
        r"imię i nazwisko ?:|ім'я ?:",
        r"(?: (?:er|is|ist|to|це)\b| ?[—:-])? ?",
    ),
    "address": (
        r"jeg bor (?:på|paa|i)|vi bor (?:på|paa|i)|bor (?:på|paa|i)|"
        r"jeg (?:er flyttet|flytter|skal flytte) til|vi (?:er flyttet|flytter|skal flytte) til|"
        r"min (?:nye )?adresse er|adressen er|"
        r"min bopæl er|adresse ?:|bopæl ?:|address ?:|anschrift ?:|adres ?:|адреса ?:|"
        r"i live (?:at|on|in)(?: the)?|we live (?:at|on|in)(?: the)?|live (?:at|on|in)(?: the)?|"
        r"my (?:home |new )?address is|i (?:have )?moved to|we (?:have )?moved to|"
        r"i'm moving to|i am moving to|ich wohne (?:in der|im|in|auf der|am)|"
        r"wohne (?:in der|im|in|auf der|am)|wir wohnen (?:in der|im|in|am)|"
        r"meine (?:adresse|anschrift) ist|mieszkam (?:na|przy|w)(?: ulicy| ul\.)?|mój adres to|"
        r"я живу (?:на|за адресою)(?: вулиці| вул\.)?|живу (?:на|за адресою)(?: вулиці| вул\.)?|"
        r"моя адреса(?: це)?|أسكن في|اسكن في|أعيش في|اعيش في|أقطن في|عنواني(?: هو)?|adresim|"
        r"cinwaankaygu waa|cinwaankaygu|waxaan ku noolahay|waxaan degganahay",
        r"(?: (?:er|is|ist|to)\b)? ?",
    ),
}
