"""Writes tests/sites/basic: the small static site the crawl tests serve on 127.0.0.1.

Re-run after editing: python scripts/make_test_sites.py
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

ROOT = Path(__file__).resolve().parent.parent / "tests" / "sites" / "basic"

MENU = (
    '<nav class="main-menu"><a href="/index.html">Forside</a> <a href="/affald.html">Affald</a>'
    ' <a href="/pas.html">Pas</a> <a href="/laege.html">Læge</a>'
    ' <a href="/flytning.html">Flytning</a></nav>'
)
COOKIE = (
    '<div class="cookie-banner"><p>Vi bruger cookies for at forbedre din oplevelse på'
    " testkommune.dk. Ved at klikke videre accepterer du vores cookiepolitik.</p>"
    "<button>Accepter</button></div>"
)
FOOTER = (
    "<footer><p>Testkommune, Rådhustorvet 9, 9990 Testrup. Telefon 99 88 77 66."
    " CVR 12345678. Åbent mandag til fredag.</p></footer>"
)

PAGES = {
    "index.html": (
        "Velkommen til Testkommune",
        "<p>Her finder du information om kommunens service til borgere i Testrup og omegn."
        " Læs om <a href='/affald.html'>affald</a>, <a href='/pas.html'>pas</a>,"
        " <a href='/laege.html'>skift af læge</a> og <a href='/flytning.html'>flytning</a>.</p>"
        "<p>Se også <a href='/kalender.html'>kalenderen</a>, <a href='/parkering.html'>parkering</a>"
        " og vores <a href='/dokumenter/regler.pdf'>regler for storskrald (PDF)</a>.</p>"
        "<p><a href='/intern/hemmelig.html'>Intern side</a> · <a href='/error500.html'>Fejlside</a>"
        " · <a href='/slow.html'>Langsom side</a> · <a href='/loop.html'>Omdirigering</a>"
        " · <a href='/huge.html'>Stor side</a> · <a href='/junk.html'>Binært rod</a>"
        " · <a href='/affald.html?utm_source=nyhedsbrev&amp;sessionid=abc123'>Affald (sporing)</a>"
        " · <a href='http://example.invalid/udenfor.html'>Ekstern side</a></p>",
    ),
    "affald.html": (
        "Affald og storskrald",
        "<p>Storskrald hentes ved din bolig den anden mandag i måneden. Du skal bestille"
        " afhentning senest fredagen før på kommunens selvbetjening.</p>"
        "<h2>Hvad er storskrald?</h2><p>Møbler, madrasser, cykler og tæpper er storskrald."
        " Elektronik og farligt affald hentes ikke.</p>"
        "<h2>Genbrugspladsen</h2><p>Genbrugspladsen i Testrup har åbent alle dage fra 7 til 19.</p>",
    ),
    "pas.html": (
        "Pas",
        "<p>Du bestiller tid til pas i Borgerservice. Et pas til voksne koster 672 kr., og et pas"
        " til børn under 18 år koster 190 kr. Husk dit gamle pas og et godkendt foto.</p>"
        "<h2>Ekspeditionstid</h2><p>Der går normalt 15 hverdage, før dit nye pas kommer med posten.</p>",
    ),
    "laege.html": (
        "Skift af læge",
        "<p>Du kan skifte læge på borger.dk med MitID. Det koster 140 kr. at skifte læge, medmindre"
        " du flytter. Du kan vælge en læge, der har åbent for tilgang inden for 15 km.</p>",
    ),
    "flytning.html": (
        "Flytning",
        "<p>Når du flytter, skal du melde flytning senest 5 dage efter, at du er flyttet. Du melder"
        " flytning digitalt med MitID. Din nye adresse sendes automatisk til Skattestyrelsen.</p>",
    ),
    "parkering.html": (
        "Beboerparkering",
        "<p>Beboerlicens til zone A koster 600 kr. om året. Du søger om licensen digitalt, og den"
        " gælder kun for én bil, der er registreret på din adresse.</p>",
    ),
    "kalender.html": (
        "Kalender",
        "<p>Arrangementer i Testrup denne måned: loppemarked på torvet og koncert i parken.</p>"
        "<p><a href='/kalender.html?month=2026-12'>Næste måned</a>"
        " <a href='/kalender.html?month=2026-10'>Forrige måned</a></p>",
    ),
    "intern/hemmelig.html": (
        "Intern side",
        "<p>HEMMELIG-INTERN-MARKØR: denne side er kun for medarbejdere og må ikke crawles.</p>",
    ),
}


# inside <article>, so trafilatura keeps it: only muni_crawl's own boilerplate learning removes it
EDITOR_NOTE = (
    "<p>Siden vedligeholdes af Testkommunes webredaktion. Skriv til webredaktionen,"
    " hvis du finder fejl på siden.</p>"
)


def page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="da"><head><meta charset="utf-8">'
        f"<title>{title} | Testkommune</title></head><body>"
        f"<header>{MENU}</header>{COOKIE}<main><article><h1>{title}</h1>{body}{EDITOR_NOTE}</article></main>"
        f"{FOOTER}</body></html>\n"
    )


def main() -> None:
    for name, (title, body) in PAGES.items():
        path = ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page(title, body), encoding="utf-8")
    (ROOT / "robots.txt").write_text(
        "User-agent: *\nDisallow: /intern/\nSitemap: __BASE__/sitemap.xml\n", encoding="utf-8"
    )
    urls = [n for n in PAGES if not n.startswith("intern/")] + ["dokumenter/regler.pdf"]
    entries = "".join(
        f"<url><loc>__BASE__/{u}</loc><lastmod>2026-01-01</lastmod></url>" for u in urls
    )
    (ROOT / "sitemap.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>\n',
        encoding="utf-8",
    )
    pdf = FPDF()
    pdf.set_title("Regler for storskrald")
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(
        0,
        8,
        "Regler for storskrald i Testkommune\n\nStorskrald skal stilles ved skel senest klokken"
        " 6 om morgenen paa afhentningsdagen. Hoejst 2 kubikmeter pr. afhentning."
        "\nPDF-MARKØR-STORSKRALD",
    )
    (ROOT / "dokumenter").mkdir(exist_ok=True)
    pdf.output(str(ROOT / "dokumenter" / "regler.pdf"))


if __name__ == "__main__":
    main()
