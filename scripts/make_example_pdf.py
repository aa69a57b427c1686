"""Generate the example PDFs for the fictional "Eksempel Kommune" fixture site.

Writes, relative to the repository root:

    muni_crawl/example/sites/kommune/dokumenter/affaldskalender-2026.pdf
    muni_crawl/example/sites/kommune/dokumenter/takster-2026.pdf
    muni_crawl/example/sites/kommune/dokumenter/ferieplan-skoler-2026-2027.pdf

The PDFs contain real, extractable text (fpdf2 core font Helvetica, latin-1) and facts that
match the HTML pages of the example site, plus a few facts that only exist in the PDFs, so a
retrieval test can tell that a PDF was crawled and indexed. Output is deterministic (fixed
creation date), so re-running the script gives byte-identical files.

Usage (from the repository root):

    .venv/bin/python scripts/make_example_pdf.py
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "muni_crawl" / "example" / "sites" / "kommune" / "dokumenter"
CREATED = dt.datetime(2026, 1, 5, 9, 0, 0, tzinfo=dt.UTC)

MONTHS = [
    "januar",
    "februar",
    "marts",
    "april",
    "maj",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "december",
]


def nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th (1-based) given weekday (Monday=0) of a month."""
    first = dt.date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 7 * (n - 1))


def human(d: dt.date) -> str:
    return f"{d.day}. {MONTHS[d.month - 1]}"


class Doc(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.doc_title = title
        self.set_title(title)
        self.set_author("Eksempel Kommune")
        self.set_subject(title)
        self.set_lang("da")
        self.set_creation_date(CREATED)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 18, 18)

    def header(self) -> None:
        self.set_font("Helvetica", "B", 9)
        self.set_text_color(0, 70, 110)
        self.cell(0, 6, "Eksempel Kommune - Rådhuspladsen 1, 9999 Eksempelby - tlf. 70 10 20 30")
        self.ln(10)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 6, f"{self.doc_title} - side {self.page_no()} af {{nb}}", align="C")

    def h1(self, text: str) -> None:
        self.set_font("Helvetica", "B", 18)
        self.multi_cell(0, 9, text)
        self.ln(2)

    def h2(self, text: str) -> None:
        self.ln(2)
        self.set_font("Helvetica", "B", 12)
        self.multi_cell(0, 7, text)
        self.ln(1)

    def para(self, text: str) -> None:
        self.set_font("Helvetica", "", 10)
        self.multi_cell(0, 5, text)
        self.ln(2)

    def bullets(self, items: list[str]) -> None:
        self.set_font("Helvetica", "", 10)
        for item in items:
            self.set_x(self.l_margin + 4)
            self.multi_cell(0, 5, "- " + item)
        self.ln(2)

    def grid(self, rows: Sequence[tuple[str, ...]], widths: tuple[int, ...]) -> None:
        """A bordered table, header row in bold (FPDF.table is fpdf2's own, richer API)."""
        for i, row in enumerate(rows):
            self.set_font("Helvetica", "B" if i == 0 else "", 10)
            for text, w in zip(row, widths):
                self.cell(w, 6, text, border=1)
            self.ln(6)
        self.ln(3)


def affaldskalender(path: Path) -> None:
    pdf = Doc("Affaldskalender 2026")
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.h1("Affaldskalender 2026 - storskrald og haveaffald")
    pdf.para(
        "Denne kalender gælder for private husstande i Eksempel Kommune. Storskrald hentes "
        "gratis, men du skal altid bestille afhentning på forhånd på selvbetjeningen eller hos "
        "Eksempel Forsyning på telefon 70 10 22 00 (hverdage kl. 8-15)."
    )
    pdf.h2("Storskrald - faste afhentningsdage")
    pdf.bullets(
        [
            "Storskrald hentes i Eksempelby den første tirsdag i hver måned. "
            "Bestil senest kl. 12 fredagen før.",
            "I Vesterlund og Østerhede hentes storskrald den tredje torsdag i hver måned. "
            "Bestil senest kl. 12 mandagen før.",
            "Højst 2 kubikmeter per afhentning og højst fem afhentninger per husstand om året.",
            "Stil storskraldet ved skel senest kl. 6 om morgenen på afhentningsdagen.",
        ]
    )
    rows: list[tuple[str, ...]] = [
        ("Måned", "Eksempelby (tirsdag)", "Vesterlund og Østerhede (torsdag)")
    ]
    for month in range(1, 13):
        rows.append(
            (
                MONTHS[month - 1].capitalize(),
                human(nth_weekday(2026, month, 1, 1)),
                human(nth_weekday(2026, month, 3, 3)),
            )
        )
    pdf.grid(rows, (40, 60, 74))
    pdf.h2("Ekstra forårsrunde")
    pdf.para(
        "Lørdag den 25. april 2026 kører en ekstra storskraldsrunde i hele kommunen. Den skal "
        "bestilles senest mandag den 20. april og tæller ikke med i de fem årlige afhentninger."
    )
    pdf.add_page()
    pdf.h2("Haveaffald")
    pdf.para(
        "Haveaffaldsbeholderen (240 liter) tømmes hver 14. dag i lige uger fra uge 14 til og med "
        "uge 48. Første tømning i 2026 er mandag den 30. marts, og sidste tømning er mandag den "
        "23. november. Ordningen koster 895 kr. om året. Op til to bundter grene på højst 1,5 meter "
        "kan stilles ved siden af beholderen."
    )
    pdf.h2("Juletræer")
    pdf.para(
        "Juletræer afhentes i uge 3, fra mandag den 12. til fredag den 16. januar 2026. Træet skal "
        "stå ved skel uden pynt, fod og plastnet. Træer over 2,5 meter skal saves over."
    )
    pdf.h2("Farligt affald - miljøbilen")
    pdf.para(
        "Miljøbilen tager imod farligt affald fra private den anden lørdag i hver måned fra april "
        "til oktober: kl. 9-10 ved Østerhede Forsamlingshus og kl. 10.30-12 ved Vesterlund Skole. "
        "Du kan også bruge den røde miljøboks, som stilles oven på beholderen til mad- og restaffald."
    )
    pdf.h2("Helligdage")
    pdf.para(
        "Falder din almindelige tømningsdag på en helligdag, tømmes beholderen dagen efter. "
        "Storskrald flyttes ikke, fordi ingen af de faste afhentningsdage i 2026 falder på en helligdag."
    )
    pdf.h2("Genbrugspladser")
    pdf.bullets(
        [
            "Eksempelby Genbrugsplads, Industrivej 12: sommertid (1. april - 30. september) hverdage "
            "kl. 8-19, weekend og helligdage kl. 8-17. Vintertid hverdage kl. 10-17, weekend kl. 9-16.",
            "Vesterlund Genbrugsplads, Mosevej 3: tirsdag og torsdag kl. 13-18, lørdag kl. 9-13.",
            "Lukket 24., 25., 26. og 31. december samt 1. januar.",
        ]
    )
    pdf.output(str(path))


def takster(path: Path) -> None:
    pdf = Doc("Takster 2026")
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.h1("Takster og gebyrer 2026")
    pdf.para(
        "Oversigten viser de vigtigste priser for borgere i Eksempel Kommune, som byrådet har "
        "vedtaget med budgettet for 2026. Alle beløb er i kroner og gælder fra 1. januar 2026."
    )
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        (
            "Borgerservice",
            [
                ("Pas, voksne 18-64 år", "721 kr."),
                ("Pas, 65 år og derover", "383 kr."),
                ("Pas, børn 0-17 år", "156 kr."),
                ("Kørekort, første, fornyelse eller duplikat", "280 kr."),
                ("Internationalt kørekort", "200 kr."),
                ("Erstatningssundhedskort (gratis under 15 år)", "205 kr."),
                ("Skift af læge", "225 kr."),
            ],
        ),
        (
            "Parkering",
            [
                ("Beboerparkering, første tilladelse i husstanden", "600 kr. per år"),
                ("Beboerparkering, anden tilladelse", "1.200 kr. per år"),
                ("Erhvervstilladelse i zone A eller B", "2.400 kr. per år"),
                ("Gæstebillet (højst 30 per husstand per år)", "10 kr. per døgn"),
            ],
        ),
        (
            "Ældre",
            [
                ("Madordning, hovedret", "57 kr. per hovedret"),
                ("Madordning, biret", "15 kr."),
                ("Midlertidig praktisk hjælp (højst)", "130 kr. per time"),
                ("Fuld madpakke i plejebolig", "3.950 kr. per måned"),
            ],
        ),
        (
            "Børn",
            [
                ("Dagpleje", "3.690 kr. per måned"),
                ("Vuggestue", "4.150 kr. per måned"),
                ("Børnehave", "2.350 kr. per måned"),
                ("SFO, fuld tid", "1.950 kr. per måned"),
                ("Morgen-SFO", "450 kr. per måned"),
                ("Fritidsklub 4.-6. klasse", "480 kr. per måned"),
            ],
        ),
        (
            "Affald",
            [
                ("Affaldsgebyr, enfamiliehus", "3.420 kr. per år"),
                ("Affaldsgebyr, sommerhus", "1.780 kr. per år"),
                ("Haveaffaldsordning", "895 kr. per år"),
                ("Genbrugsplads, erhverv", "250 kr. per besøg"),
                ("Ny adgangsbrik til genbrugspladsen, erhverv", "50 kr."),
            ],
        ),
        (
            "Byggeri, kultur og lokaler",
            [
                ("Byggesag, enfamiliehus og sommerhus", "gebyrfri"),
                ("Byggesag, erhverv og etageboliger", "548 kr. per time"),
                ("Svømmehal, voksen / barn og pensionist", "45 kr. / 25 kr."),
                ("Svømmehal, 10-turskort voksen", "400 kr."),
                ("Leje af Vesterlund Hallen, private", "300 kr. per time"),
                ("Leje af Rådhushallen til private arrangementer", "1.500 kr. per dag"),
                ("Bibliotek, for sen aflevering 1-7 / 8-30 dage", "20 kr. / 60 kr."),
                ("Print på biblioteket, sort-hvid / farve", "2 kr. / 5 kr. per side"),
            ],
        ),
    ]
    for title, rows in sections:
        pdf.h2(title)
        pdf.grid([("Ydelse", "Pris 2026"), *rows], (110, 64))
    pdf.h2("Skat")
    pdf.para(
        "Kommuneskat 25,4 procent. Kirkeskat 0,92 procent. Grundskyld 23,5 promille af grundværdien. "
        "Ejendomsskatten betales i to rater med sidste rettidige betalingsdag 1. marts og "
        "1. september. Rykkergebyr ved for sen betaling: 100 kr."
    )
    pdf.output(str(path))


def ferieplan(path: Path) -> None:
    """The school holiday plan for the next school year: the HTML page only covers the rest of
    the current one, so questions about 2026/2027 can only be answered from this PDF."""
    pdf = Doc("Ferieplan 2026/2027")
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.h1("Ferieplan for folkeskoler og SFO 2026/2027")
    pdf.para(
        "Ferieplanen gælder for alle folkeskoler og SFO'er i Eksempel Kommune og er vedtaget af "
        "Børne- og Skoleudvalget den 14. oktober 2025. Datoerne er første og sidste fridag. "
        "Spørgsmål kan rettes til Skoleafdelingen på 70 10 20 55 (hverdage kl. 9-12)."
    )
    pdf.grid(
        [
            ("Ferie og fridage", "Første fridag", "Sidste fridag"),
            ("Sommerferie 2026", "lørdag 27. juni 2026", "søndag 9. august 2026"),
            ("Efterårsferie (uge 42)", "lørdag 10. oktober 2026", "søndag 18. oktober 2026"),
            ("Juleferie", "lørdag 19. december 2026", "søndag 3. januar 2027"),
            ("Vinterferie (uge 7)", "lørdag 13. februar 2027", "søndag 21. februar 2027"),
            ("Påskeferie", "lørdag 20. marts 2027", "mandag 29. marts 2027"),
            ("Kristi himmelfart", "torsdag 6. maj 2027", "fredag 7. maj 2027"),
            ("2. pinsedag", "mandag 17. maj 2027", "mandag 17. maj 2027"),
            ("Sommerferie 2027", "lørdag 26. juni 2027", "søndag 8. august 2027"),
        ],
        (58, 58, 58),
    )
    pdf.h2("Første og sidste skoledag")
    pdf.bullets(
        [
            "Første skoledag i skoleåret 2026/2027 er mandag den 10. august 2026.",
            "Første skoledag efter juleferien er mandag den 4. januar 2027.",
            "Sidste skoledag før sommerferien 2027 er fredag den 25. juni 2027.",
            "Grundlovsdag, lørdag den 5. juni 2027, giver ingen ekstra fridag.",
        ]
    )
    pdf.h2("SFO i ferierne")
    pdf.para(
        "SFO'erne har åbent i efterårsferien, vinterferien og påskeferien for børn, der er "
        "tilmeldt ferie-SFO senest fire uger før ferien. SFO'erne holder lukket mellem jul og "
        "nytår (28.-31. december 2026) og i uge 29 og 30 (13.-24. juli 2026). I de lukkede uger "
        "er der fælles-SFO på Rådhusskolen, hvis du søger senest 1. april 2026."
    )
    pdf.h2("Skolernes planlægningsdage")
    pdf.para(
        "Fredag den 14. august 2026 og fredag den 8. januar 2027 er elevfri planlægningsdage. "
        "SFO har åbent på planlægningsdagene fra kl. 6.30 til 17."
    )
    pdf.output(str(path))


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, fn in (
        ("affaldskalender-2026.pdf", affaldskalender),
        ("takster-2026.pdf", takster),
        ("ferieplan-skoler-2026-2027.pdf", ferieplan),
    ):
        target = OUT_DIR / name
        fn(target)
        print(f"wrote {target.relative_to(ROOT)} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
