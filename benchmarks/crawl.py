"""Crawl benchmark: how fast does a full crawl and an incremental re-crawl of one site run?

Why it exists: municipal sites have thousands of pages and are re-crawled every night, so the
crawler's throughput, CPU time and memory on a realistic site decide how many sources one
machine can keep fresh. This script measures them without touching the network: it generates a
static site of N Danish municipal-style pages (shared menu, cookie banner and footer around a
distinct article on every page) in a temporary folder, serves it on 127.0.0.1 with the
project's own example server, and crawls it twice with the real crawler (run_crawl):

- "first": every page is new, downloaded, extracted and stored;
- "re-crawl": nothing changed, so every page should come back as 304 Not Modified and the
  crawl must report 0 new and 0 changed pages.

In the same run, on the same site and server, it crawls with three minimal Scrapy spiders
(benchmarks/crawl_anchors.py) with our worker's politeness settings: a bare one (links only),
one that also extracts with trafilatura, and a re-crawl sending the bare run's ETags. Each
of our figures is shown beside its anchor with the ratio of pages/min (issue 14: keep it at
0.8 or more): first crawl vs bare and vs +trafilatura, unchanged re-crawl vs ETag re-crawl.
With `--repeat N` every crawl runs N times, ours and the anchors' interleaved, and the tables
show the median runs.

The site is link-driven on purpose (no sitemap; robots.txt only allows everything): index ->
~50 section pages -> leaf pages, plus a few cross-links, so every page is within depth 2 and the
re-crawl exercises conditional requests rather than sitemap lastmod skipping.

Every crawl, ours or an anchor, is a fresh child process, timed from here (start-up
included). CPU seconds are the child's (RUSAGE_CHILDREN); the server runs in this process and
is not counted. Peak RSS is the child's own high-water mark (VmHWM, polled from /proc):
RUSAGE_CHILDREN's ru_maxrss is no use, as it keeps the largest child so far and counts a
forked child's copy of this process.

Run it (from the repository root, with the project's virtual environment active):

    python benchmarks/crawl.py              # 2000 pages
    python benchmarks/crawl.py --pages 300  # a quicker run
    python benchmarks/crawl.py --keep       # keep the generated site and database
    python benchmarks/crawl.py --quick      # 500 pages
    python benchmarks/crawl.py --repeat 3   # medians of 3 runs (the recorded table)

    python benchmarks/crawl.py --many          # many sources: 1, default and 8 workers
    python benchmarks/crawl.py --many --quick  # 8 sources of 25 pages instead of 40 of 100

It exits with code 1 when the re-crawl reports new or changed pages, when the first crawl
stored fewer than N pages, or when an anchor missed pages (or got no 304s on its re-crawl); a
ratio below 0.8 is marked in the table but is no failure (a busy machine moves it).

`--many` (benchmarks/crawl_many.py) crawls many copies of the site, each its own source on its
own port with a polite delay, one worker at a time and several at once, and compares the wall
times; it exits 1 when a source fails or pages are missing.
"""

from __future__ import annotations

import argparse
import html
import random
import resource
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    BENCH_TENANT,
    BENCH_TENANT_NAME,
    format_table,
    machine,
    scratch_dir,
    timed,
    write_bench_tenant,
)
from benchmarks.crawl_anchors import (
    MODES,
    AnchorRow,
    ChildrenPeakRss,
    anchor_config,
    anchor_problems,
    run_anchor,
)
from muni_crawl import CrawlSummary, Settings, Store, run_crawl
from muni_crawl.example.server import serve

SOURCE = BENCH_TENANT  # the one source, feeding the one tenant of the same name
TENANT_NAME = BENCH_TENANT_NAME
MAX_SECTIONS = 50
CROSS_LINKS = 3
SEED = 990
# issue 14: our pages/min should stay at least this share of each anchor's
RATIO_TARGET = 0.8
OUR_LABELS = {"first": "first crawl", "re-crawl": "unchanged re-crawl"}

# -- word lists for generated Danish text ------------------------------------------------------

TOPICS = [
    "Affald og genbrug",
    "Skole og uddannelse",
    "Dagtilbud og pasning",
    "Ældre og pleje",
    "Byggeri og byggesager",
    "Parkering",
    "Sundhed og forebyggelse",
    "Natur og miljø",
    "Kultur og fritid",
    "Job og ledighed",
    "Borgerservice",
    "Veje og trafik",
    "Handicap og hjælpemidler",
    "Bolig og boligstøtte",
    "Skat og ejendomsskat",
    "Pas og kørekort",
    "Flytning",
    "Sygedagpenge",
    "Pension",
    "Tandpleje",
    "Biblioteker",
    "Idræt og foreninger",
    "Beredskab",
    "Kollektiv trafik",
    "Vand og kloak",
    "Klima og energi",
    "Erhverv og iværksætteri",
    "Politik og byråd",
    "Integration",
    "Familie og børn",
    "Misbrug og rådgivning",
    "Psykiatri",
    "Fødsel og barsel",
    "Dødsfald og begravelse",
    "Vielse og navngivning",
    "Udbetaling og ydelser",
    "Digital post",
    "Grønne områder",
    "Lokalplaner",
    "Kommuneplan",
]

DISTRICTS = ["Nordby", "Sønderby", "Østerby", "Vesterby", "Havnekvarteret", "Bakkely"]

ACTIONS = [
    "Søg om",
    "Bestil",
    "Ansøg om",
    "Forny",
    "Skift",
    "Opsig",
    "Anmeld",
    "Få hjælp til",
    "Klag over",
    "Book tid til",
    "Ændr",
    "Læs om",
]

THINGS = [
    "storskrald",
    "haveaffald",
    "friplads",
    "hjemmehjælp",
    "byggetilladelse",
    "beboerlicens",
    "boligstøtte",
    "tilskud til briller",
    "ledsagerordning",
    "madservice",
    "skolebus",
    "fritidsordning",
    "nyt sygesikringskort",
    "pas til børn",
    "dispensation",
    "kørselsordning",
    "rengøring",
    "hjælpemidler",
    "lån til ejendomsskat",
    "plads i klub",
    "genoptræning",
    "skadedyrsbekæmpelse",
    "vejbelysning",
    "en ny affaldsbeholder",
]

SUBJECTS = [
    "Kommunen",
    "Borgerservice",
    "Din sagsbehandler",
    "Forvaltningen",
    "Teknik og Miljø",
    "Visitationen",
    "Social- og Sundhedsafdelingen",
    "Skoleafdelingen",
    "Byrådet",
    "Ydelseskontoret",
]

VERBS = [
    "behandler",
    "vurderer",
    "sender",
    "godkender",
    "registrerer",
    "kontrollerer",
    "udbetaler",
    "opdaterer",
    "besvarer",
    "prioriterer",
]

OBJECTS = [
    "din ansøgning",
    "dokumentationen",
    "alle henvendelser",
    "sagen",
    "klagen",
    "bevillingen",
    "oplysningerne fra dit skema",
    "ansøgninger i den rækkefølge de modtages",
    "de indsendte tegninger",
    "beregningen af din ydelse",
]

ADVERBIALS = [
    "inden for 14 dage",
    "så hurtigt som muligt",
    "via Digital Post",
    "i løbet af fire uger",
    "efter reglerne i serviceloven",
    "når alle bilag er modtaget",
    "i samarbejde med din læge",
    "på hverdage mellem kl. 8 og 15",
    "uden beregning",
    "hvert år i januar",
    "på baggrund af en konkret vurdering",
    "i henhold til lokalplanen",
]

YOU_CAN = [
    "Du kan",
    "Som borger kan du",
    "Har du spørgsmål, kan du",
    "Hvis du er over 18 år, kan du",
    "Forældre kan",
    "Pårørende kan",
]

YOU_VERBS = [
    "søge om",
    "bestille",
    "ringe og spørge om",
    "læse mere om",
    "klage over afgørelsen om",
    "få vejledning om",
    "ændre din aftale om",
]

CHANNELS = [
    "på borger.dk",
    "med MitID",
    "i Borgerservice på rådhuset",
    "på telefon 99 99 99 99",
    "ved at udfylde den digitale formular",
    "ved personligt fremmøde",
    "hos dit lokale bibliotek",
]

NOTES = [
    "Husk at have dit CPR-nummer klar, når du kontakter os.",
    "Sagsbehandlingstiden kan være længere i sommerferien.",
    "Afgørelsen kan påklages til Ankestyrelsen inden for fire uger.",
    "Reglerne kan ændre sig, så tjek siden igen, før du søger.",
    "Der kan være ventetid i perioder med mange henvendelser.",
    "Du får svar i din digitale postkasse.",
    "Ordningen er gratis for pensionister med lav indkomst.",
    "Prisen reguleres hvert år af byrådet.",
    "Oplys altid dit sagsnummer, hvis du har et.",
    "Har du ikke Digital Post, sender vi brevet med almindelig post.",
]

HEADINGS = [
    "Hvem kan søge?",
    "Sådan gør du",
    "Hvad koster det?",
    "Frister og sagsbehandlingstid",
    "Klagemuligheder",
    "Dokumentation",
    "Regler og lovgivning",
    "Det skal du vide",
    "Når du har fået svar",
    "Gode råd",
]


def slugify(text: str) -> str:
    """A URL path segment in the style of Danish CMSs: æ/ø/å spelt out, dashes between words."""
    text = text.lower().replace("æ", "ae").replace("ø", "oe").replace("å", "aa")
    words = "".join(c if c.isalnum() else " " for c in text).split()
    return "-".join(words)


def sentence(rng: random.Random, thing: str) -> str:
    """One varied, grammatical-enough Danish sentence about `thing`."""
    pattern = rng.randrange(7)  # a fixed note in one sentence of seven
    if pattern in (0, 3, 5):
        return (
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
            f" {rng.choice(ADVERBIALS)}."
        )
    if pattern in (1, 4):
        return f"{rng.choice(YOU_CAN)} {rng.choice(YOU_VERBS)} {thing} {rng.choice(CHANNELS)}."
    if pattern == 2:
        return rng.choice(NOTES)
    return (
        f"Når det gælder {thing}, {rng.choice(VERBS)} {rng.choice(SUBJECTS).lower()}"
        f" {rng.choice(OBJECTS)} {rng.choice(ADVERBIALS)}."
    )


def paragraph(rng: random.Random, thing: str) -> str:
    return " ".join(sentence(rng, thing) for _ in range(rng.randint(3, 6)))


# -- the site -----------------------------------------------------------------------------------


@dataclass
class SitePage:
    path: str  # URL path, "/" or ending in "/"
    title: str
    thing: str
    children: list[str]  # paths linked from the page body (a list of links)
    cross: list[str]  # a few "see also" links


def plan_site(pages: int, rng: random.Random) -> list[SitePage]:
    """Index, sections and leaves: exactly `pages` pages, all within depth 2 of the index."""
    n_sections = max(1, min(MAX_SECTIONS, (pages - 1) // 10))
    if pages < 2:
        n_sections = 0
    titles = []
    for i in range(n_sections):
        topic = TOPICS[i % len(TOPICS)]
        if i >= len(TOPICS):
            topic += f" i {DISTRICTS[(i // len(TOPICS) - 1) % len(DISTRICTS)]}"
        titles.append(topic)
    sections = [SitePage(f"/{slugify(t)}/", t, t.split(" og ")[0].lower(), [], []) for t in titles]
    leaves: list[SitePage] = []
    for j in range(pages - 1 - n_sections):
        section = sections[j % n_sections]
        action, thing = rng.choice(ACTIONS), rng.choice(THINGS)
        title = f"{action} {thing}"
        path = f"{section.path}{slugify(title)}-{len(section.children) + 1}/"
        section.children.append(path)
        leaves.append(SitePage(path, title, thing, [], []))
    for leaf in leaves:
        others = rng.sample(leaves, min(CROSS_LINKS, len(leaves)))
        leaf.cross = [o.path for o in others if o.path != leaf.path]
    for section in sections:
        picked = rng.sample(sections, min(3, len(sections)))
        section.cross = [s.path for s in picked if s is not section][:2]
    index = SitePage("/", f"Velkommen til {TENANT_NAME}", "kommunens service", [], [])
    index.children = [s.path for s in sections]
    return [index, *sections, *leaves]


def render(page: SitePage, menu: list[tuple[str, str]], titles: dict[str, str], seed: int) -> str:
    """One page of HTML; the article text is generated from a seed so runs are reproducible."""
    rng = random.Random(seed)
    esc = html.escape
    menu_html = "\n".join(f'      <li><a href="{p}">{esc(t)}</a></li>' for p, t in menu)
    h2a, h2b = rng.sample(HEADINGS, 2)
    paragraphs = [paragraph(rng, page.thing) for _ in range(rng.randint(3, 5))]
    split = rng.randint(1, len(paragraphs) - 1)
    first = "\n".join(f"      <p>{esc(p)}</p>" for p in paragraphs[:split])
    second = "\n".join(f"      <p>{esc(p)}</p>" for p in paragraphs[split:])
    children = ""
    if page.children:
        items = "\n".join(
            f'        <li><a href="{p}">{esc(titles[p])}</a></li>' for p in page.children
        )
        children = f'      <h2>Emner</h2>\n      <ul class="link-list">\n{items}\n      </ul>\n'
    cross = ""
    if page.cross:
        items = "\n".join(
            f'        <li><a href="{p}">{esc(titles[p])}</a></li>' for p in page.cross
        )
        cross = (
            '      <aside class="related">\n      <h3>Se også</h3>\n'
            f"      <ul>\n{items}\n      </ul>\n      </aside>\n"
        )
    return f"""<!DOCTYPE html>
<html lang="da">
<head>
  <meta charset="utf-8">
  <title>{esc(page.title)} | {TENANT_NAME}</title>
  <link rel="canonical" href="__BASE__{page.path}">
  <meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body>
  <div class="cookie-banner" id="cookie-consent">
    <p>Vi bruger cookies til at forbedre hjemmesiden og til statistik. Du kan altid trække dit
    samtykke tilbage under cookieindstillinger.</p>
    <button type="button">Accepter alle</button> <button type="button">Kun nødvendige</button>
  </div>
  <header>
    <a class="logo" href="/">{TENANT_NAME}</a>
    <nav aria-label="Hovedmenu">
    <ul>
{menu_html}
    </ul>
    </nav>
  </header>
  <main>
    <article>
      <h1>{esc(page.title)}</h1>
{first}
      <h2>{esc(h2a)}</h2>
{second}
      <h2>{esc(h2b)}</h2>
      <p>{esc(paragraph(rng, page.thing))}</p>
{children}{cross}    </article>
  </main>
  <footer>
    <p>{TENANT_NAME} · Rådhuspladsen 1 · 9900 Benchby · Telefon 99 99 99 99</p>
    <p>Åbningstider: mandag til onsdag 10-15, torsdag 10-17.30, fredag 10-13.</p>
    <p>CVR 12 34 56 78 · EAN 5798000000000 · Tilgængelighedserklæring</p>
  </footer>
</body>
</html>
"""


def write_site(root: Path, pages: int) -> int:
    """Write the site under root; returns how many HTML pages it has."""
    rng = random.Random(SEED)
    plan = plan_site(pages, rng)
    titles = {p.path: p.title for p in plan}
    menu = [("/", "Forside")] + [(p.path, p.title) for p in plan[1:9] if p.children]
    for number, page in enumerate(plan):
        folder = root / page.path.strip("/")
        folder.mkdir(parents=True, exist_ok=True)
        text = render(page, menu, titles, SEED * 100_000 + number)
        (folder / "index.html").write_text(text, encoding="utf-8")
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n", encoding="utf-8")
    return len(plan)


def write_home(home: Path, url: str, pages: int) -> None:
    spiders = write_bench_tenant(home)
    host = url.split("/")[2]
    (spiders / f"{SOURCE}.toml").write_text(
        'description = "Generated benchmark site"\n'
        'kind = "municipal"\n'
        f'tenants = ["{SOURCE}"]\n'
        f'start_urls = ["{url}/"]\n'
        f'allowed_domains = ["{host}"]\n'
        "download_delay = 0\n"
        f"max_pages = {pages + 100}\n"
        "max_depth = 20\n",
        encoding="utf-8",
    )


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class CrawlRow:
    """One crawl of the site: wall time, the worker's CPU and memory, and its summary."""

    name: str
    summary: CrawlSummary
    wall_s: float
    cpu_s: float
    peak_rss_mib: float | None  # the worker's own (see ChildrenPeakRss); None if unreadable

    @property
    def seen(self) -> int:
        s = self.summary
        return s.fetched + s.not_modified + s.skipped

    @property
    def pages_per_minute(self) -> float | None:
        return self.seen / (self.wall_s / 60) if self.wall_s > 0 else None


def measured_crawl(name: str, settings: Settings) -> CrawlRow:
    """One crawl of the benchmark source, with wall time and the worker's CPU and memory."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with ChildrenPeakRss() as memory:
        [summary], wall = timed(lambda: run_crawl([SOURCE], home=settings))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return CrawlRow(name, summary, wall, cpu, memory.peak_mib)


Rated = TypeVar("Rated", CrawlRow, AnchorRow)


def median_run(rows: list[Rated]) -> Rated:
    """The run with the median pages/min (the lower middle one of an even number)."""
    ordered = sorted(rows, key=lambda row: row.pages_per_minute or 0.0)
    return ordered[(len(ordered) - 1) // 2]


@dataclass
class Comparison:
    """One of our figures beside its anchor: the median runs and the ratio of their rates."""

    ours: CrawlRow
    anchor: AnchorRow
    each: list[float]  # ours / anchor pages/min of every repetition, in order

    @property
    def ratio(self) -> float:
        return _ratio(self.ours, self.anchor)

    @property
    def cpu_ratio(self) -> float:
        """Anchor CPU s / ours: what the pages/min ratio tends to when the machine is busy."""
        return self.anchor.cpu_s / self.ours.cpu_s if self.ours.cpu_s > 0 else 0.0


def _ratio(ours: CrawlRow, anchor: AnchorRow) -> float:
    mine, theirs = ours.pages_per_minute, anchor.pages_per_minute
    return mine / theirs if mine is not None and theirs else 0.0


@dataclass
class CrawlResult:
    """The first crawl and the re-crawl of a generated site beside the Scrapy anchors run on the
    same site in the same run (each the median of `repeat` runs), and what went wrong."""

    pages: int  # in the generated site
    repeat: int
    firsts: list[CrawlRow]  # our first crawl, one per repetition
    agains: list[CrawlRow]  # our re-crawl of the unchanged site, one per repetition
    anchors: dict[str, list[AnchorRow]]  # by mode (crawl_anchors.MODES), one per repetition
    problems: list[str]  # empty when every crawl did what it should

    @property
    def first(self) -> CrawlRow:
        return median_run(self.firsts)

    @property
    def again(self) -> CrawlRow:
        return median_run(self.agains)

    def anchor(self, mode: str) -> AnchorRow:
        return median_run(self.anchors[mode])

    @property
    def rows(self) -> list[CrawlRow]:
        return [self.first, self.again]

    @property
    def comparisons(self) -> list[Comparison]:
        """First crawl vs bare and vs +trafilatura, the unchanged re-crawl vs the ETag one."""
        pairs = [(self.firsts, "bare"), (self.firsts, "trafilatura"), (self.agains, "etag")]
        return [
            Comparison(
                median_run(ours),
                self.anchor(mode),
                [_ratio(o, a) for o, a in zip(ours, self.anchors[mode], strict=True)],
            )
            for ours, mode in pairs
        ]


def report(result: CrawlResult) -> str:
    """What `python benchmarks/crawl.py` prints: a line on the run, then the tables."""
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    runs = "one run each" if result.repeat == 1 else f"median of {result.repeat} runs each"
    first_line = f"crawl benchmark: {result.pages} pages, 127.0.0.1, {runs}, {when}, {machine()}"
    return "\n\n".join(
        [
            f"{first_line}\n{table(result.rows)}",
            anchor_table([result.anchor(mode) for mode in MODES]),
            comparison_table(result.comparisons),
        ]
    )


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def table(rows: list[CrawlRow]) -> str:
    header = (
        "run",
        "pages/min",
        "wall s",
        "CPU s",
        "peak RSS MiB",
        "fetched",
        "not_modified",
        "new",
        "changed",
        "unchanged",
        "failed",
    )
    cells = []
    for row in rows:
        s = row.summary
        cells.append(
            [
                row.name,
                _rate(row.pages_per_minute),
                f"{row.wall_s:.1f}",
                f"{row.cpu_s:.1f}",
                _mib(row.peak_rss_mib),
                *(
                    str(v)
                    for v in (s.fetched, s.not_modified, s.new, s.changed, s.unchanged, s.failed)
                ),
            ]
        )
    return format_table(header, cells)


def anchor_table(rows: list[AnchorRow]) -> str:
    header = ("anchor", "pages/min", "wall s", "CPU s", "peak RSS MiB", "fetched", "304", "failed")
    cells = [
        [
            row.name,
            _rate(row.pages_per_minute),
            f"{row.wall_s:.1f}",
            f"{row.cpu_s:.1f}",
            _mib(row.peak_rss_mib),
            str(row.fetched),
            str(row.not_modified),
            str(row.failed),
        ]
        for row in rows
    ]
    return format_table(header, cells)


def comparison_table(comparisons: list[Comparison]) -> str:
    header = ("ours", "pages/min", "anchor", "pages/min", "ratio", "each run", "CPU ratio", "")
    cells = [
        [
            OUR_LABELS.get(c.ours.name, c.ours.name),
            _rate(c.ours.pages_per_minute),
            c.anchor.name,
            _rate(c.anchor.pages_per_minute),
            f"{c.ratio:.2f}",
            " ".join(f"{r:.2f}" for r in c.each),
            f"{c.cpu_ratio:.2f}",
            "" if c.ratio >= RATIO_TARGET else f"below {RATIO_TARGET}",
        ]
        for c in comparisons
    ]
    return format_table(header, cells, align="lrlrrlrl")


def run(pages: int = 2000, keep: bool = False, repeat: int = 1) -> CrawlResult:
    """Generate a site of `pages` pages, serve it on 127.0.0.1, and `repeat` times crawl it
    twice with ours (each time into a fresh home) and with each anchor, interleaved: ours first
    in even repetitions, the anchors first in odd ones, so neither always meets a warmer or a
    busier machine. With `keep`, the temporary site and homes stay (the folder goes to stderr).
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    firsts: list[CrawlRow] = []
    agains: list[CrawlRow] = []
    anchors: dict[str, list[AnchorRow]] = {mode: [] for mode in MODES}
    problems: list[str] = []
    with scratch_dir("muni-crawl-bench-", keep=keep) as workdir:
        site_root = workdir / "site"
        site_root.mkdir()
        pages = write_site(site_root, pages)
        running = serve(site_root, name=SOURCE)
        try:
            print(f"serving {pages} pages at {running.url}", file=sys.stderr)
            for number in range(repeat):
                first, again, rows = _repetition(workdir, running.url, pages, number)
                firsts.append(first)
                agains.append(again)
                for row in rows:
                    anchors[row.mode].append(row)
                problems += _problems(workdir / f"home-{number}", pages, first, again, rows)
        finally:
            running.stop()
    return CrawlResult(pages, repeat, firsts, agains, anchors, problems)


def _repetition(
    workdir: Path, url: str, pages: int, number: int
) -> tuple[CrawlRow, CrawlRow, list[AnchorRow]]:
    """One repetition: our first crawl and re-crawl into a fresh home, and the three anchors."""
    home = workdir / f"home-{number}"
    write_home(home, url, pages)
    settings = Settings.load(home, autothrottle=False, concurrency_per_host=8)
    config = anchor_config(settings, SOURCE)
    state = workdir / f"anchor-state-{number}.json"
    ours: list[CrawlRow] = []
    theirs: list[AnchorRow] = []

    def step(what: str) -> None:
        print(f"  run {number + 1}: {what} ...", file=sys.stderr, flush=True)
        if what == "first":
            ours.append(measured_crawl("first", settings))
        elif what == "re-crawl":
            ours.append(measured_crawl("re-crawl", settings))
        elif what == "bare":
            theirs.append(run_anchor("bare", config, state_out=state))
        elif what == "etag":
            theirs.append(run_anchor("etag", config, state_in=state))
        else:
            theirs.append(run_anchor(what, config))

    order = ["first", "bare", "trafilatura", "re-crawl", "etag"]
    if number % 2:
        order = ["bare", "trafilatura", "first", "etag", "re-crawl"]
    for what in order:
        step(what)
    return ours[0], ours[1], theirs


def _problems(
    home: Path, pages: int, first: CrawlRow, again: CrawlRow, anchors: list[AnchorRow]
) -> list[str]:
    problems = []
    for row in (first, again):
        if row.summary.status == "failed":
            problems.append(f"{row.name} crawl failed: {row.summary.message}")
    with Store(Settings.load(home).database) as store:
        stored = len(store.pages(SOURCE))
    if stored < pages:
        problems.append(f"first crawl stored {stored} pages, expected at least {pages}")
    if again.summary.changed or again.summary.new:
        problems.append(
            f"re-crawl of an unchanged site reported {again.summary.changed} changed and"
            f" {again.summary.new} new pages (expected 0)"
        )
    for anchor in anchors:
        problems += anchor_problems(anchor, pages)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Crawl a generated local site twice and print throughput, CPU and memory."
    )
    parser.add_argument(
        "--pages",
        type=int,
        help="pages in the generated site (default 2000, --quick 500; --many: 100, --quick 25)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary site and database afterwards"
    )
    parser.add_argument("--quick", action="store_true", help="a smaller run")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="crawls of each kind, ours and the anchors' interleaved; the table shows the"
        " medians (default 1; the recorded table uses 3)",
    )
    parser.add_argument(
        "--many", action="store_true", help="many sources, sequential vs concurrent workers"
    )
    parser.add_argument(
        "--sources", type=int, help="--many: sources, each its own site (default 40, --quick 8)"
    )
    parser.add_argument(
        "--delay", type=float, default=0.2, help="--many: seconds between requests to one host"
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        help="--many: worker counts to compare (default: 1, the crawl_workers default, 8)",
    )
    args = parser.parse_args(argv)
    if args.pages is not None and args.pages < 1:
        parser.error("--pages must be at least 1")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.sources is not None and args.sources < 1:
        parser.error("--sources must be at least 1")
    if args.workers is not None and min(args.workers) < 1:
        parser.error("--workers must be at least 1")
    if not 0 <= args.delay <= 60:
        parser.error("--delay must be between 0 and 60 seconds")
    if args.many:
        return main_many(args.sources, args.pages, args.delay, args.workers, args.quick, args.keep)
    pages = args.pages if args.pages is not None else 500 if args.quick else 2000
    result = run(pages, keep=args.keep, repeat=args.repeat)
    print(report(result))
    sys.stdout.flush()
    for problem in result.problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if result.problems else 0


def main_many(
    sources: int | None,
    pages: int | None,
    delay: float,
    workers: list[int] | None,
    quick: bool,
    keep: bool,
) -> int:
    """`--many`: the many-sources case (benchmarks/crawl_many.py)."""
    from benchmarks import crawl_many  # it imports this module's site generator

    if sources is None:
        sources = 8 if quick else 40
    if pages is None:
        pages = 25 if quick else 100
    result = crawl_many.run(sources, pages, delay, workers, keep=keep)
    print(crawl_many.report(result))
    sys.stdout.flush()
    for problem in result.problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
