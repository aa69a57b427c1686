"""borger.dk through its ArticleExport service: a real Scrapy crawl of a local fake of the service.

The fake (muni_crawl.example.article_service) answers in the shape documented for the real
service; its catalogue is the example's borger.dk-like articles, each with local text for
Eksempel (999) and, for most, Naboby (998). Tests change it between crawls.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from muni_crawl import Home, run_crawl
from muni_crawl.crawl import article_export as wire
from muni_crawl.example.article_service import (
    SERVICE_PATH,
    ArticleExportHandler,
    FakeArticle,
    catalogue_from_pages,
)
from muni_crawl.example.server import SITES_DIR, RunningSite, serve
from muni_crawl.index import tenant_pages
from muni_crawl.types import Page

SOURCE = "borger"


@pytest.fixture
def service(isolated_home: Path) -> Iterator[RunningSite]:
    """The fake service on a free port, and a borger_dk source for Eksempel and Naboby."""
    handler = type(
        "Fake", (ArticleExportHandler,), {"catalogue": catalogue_from_pages(), "calls": []}
    )
    site = serve(SITES_DIR / "borger", handler=handler, name="borger")
    (isolated_home / "spiders" / f"{SOURCE}.toml").write_text(
        f'kind = "borger_dk"\ntenants = ["example", "naboby"]\n'
        f'api = "{site.url}{SERVICE_PATH}"\ndownload_delay = 0\n',
        encoding="utf-8",
    )
    yield site
    site.stop()


def _fake(site: RunningSite) -> type[ArticleExportHandler]:
    handler: object = site.server.RequestHandlerClass
    assert isinstance(handler, type) and issubclass(handler, ArticleExportHandler)
    return handler


def _pages() -> list[Page]:
    with Home.open() as home, home.page_store() as store:
        return store.pages(SOURCE, include_deleted=True)


def _view(tenant: str) -> list[Page]:
    with Home.open() as home, home.page_store() as store:
        return tenant_pages(store, home.registry, tenant)


def test_national_text_once_and_local_text_only_for_its_municipality(
    service: RunningSite,
) -> None:
    [summary] = run_crawl([SOURCE])
    assert summary.status == "ok" and summary.fetched == 7, summary
    pages = {p.url: p for p in _pages()}
    pas = service.url + "/rejse/pas.html"
    national, own, neighbour = pages[pas], pages[pas + "#kommune-999"], pages[pas + "#kommune-998"]
    assert national.scope == "national" and "721 kr." in national.text
    assert "Selvbetjening: Pas – ansøg digitalt → https://www.borger.dk/handlingsside" in (
        national.text
    )
    assert "NABOBY-LOKAL" not in national.text and "70 10 20 30" not in national.text
    assert own.municipality_code == 999 and "70 10 20 30" in own.text
    assert "721 kr." not in own.text  # only what differs from the national text
    assert neighbour.municipality_code == 998 and "NABOBY-LOKAL" in neighbour.text
    # each tenant's view: every national text, its own local text, never the other's
    for tenant, code in (("example", 999), ("naboby", 998)):
        view = _view(tenant)
        assert {p.url for p in view if p.scope == "national"} == {
            p.url for p in pages.values() if p.scope == "national"
        }
        assert all(p.municipality_code == code for p in view if p.scope == "local")
    # one GetArticleByID per article for the national text, one batch per municipality
    calls = _fake(service).calls
    assert calls.count(("GetArticleByID", None)) == 7
    assert sorted(c for c in calls if c[0] == "GetArticlesByIDs") == [
        ("GetArticlesByIDs", 998),
        ("GetArticlesByIDs", 999),
    ]


def test_an_unchanged_service_costs_one_request_and_a_change_refetches_one_article(
    service: RunningSite,
) -> None:
    run_crawl([SOURCE])
    fake = _fake(service)
    fake.calls.clear()
    [again] = run_crawl([SOURCE])
    assert fake.calls == [("GetAllArticles", None)]  # no article bodies
    assert (again.skipped, again.fetched, again.new, again.changed) == (7, 0, 0, 0)
    # the service updates one article's local text for Naboby
    pas_id = next(a.article_id for a in fake.catalogue.values() if a.title == "Pas")
    article = fake.catalogue[pas_id]
    local = dict(article.local)
    local[998] = local[998].replace("torsdagen kl. 12–18", "onsdagen kl. 10–14")
    fake.catalogue[pas_id] = replace(article, local=local, last_updated="2026-02-01T08:00:00")
    fake.calls.clear()
    [changed] = run_crawl([SOURCE])
    assert (changed.fetched, changed.changed, changed.new) == (1, 1, 0), changed
    assert fake.calls.count(("GetArticleByID", None)) == 1
    pages = {p.url: p for p in _pages()}
    assert "onsdagen kl. 10–14" in pages[service.url + "/rejse/pas.html#kommune-998"].text


def test_an_article_gone_from_the_catalogue_is_deleted(service: RunningSite) -> None:
    run_crawl([SOURCE])
    fake = _fake(service)
    gone = next(a for a in fake.catalogue.values() if a.title == "Sundhedskort")
    del fake.catalogue[gone.article_id]
    [summary] = run_crawl([SOURCE])
    assert summary.status == "ok" and summary.deleted == 2  # the national text and Eksempel's
    deleted = {p.url for p in _pages() if p.status == "deleted"}
    assert service.url + "/sundhed/sundhedskort.html" in deleted


def test_not_exportable_articles_are_counted_not_failures(service: RunningSite) -> None:
    fake = _fake(service)
    closed = next(a for a in fake.catalogue.values() if a.title == "Folkepension")
    fake.catalogue[closed.article_id] = replace(closed, exportable=False)
    [summary] = run_crawl([SOURCE])
    assert summary.status == "ok" and summary.failed == 0, summary
    assert summary.fetched == 6
    assert "1 article(s) not exportable or not found" in (summary.message or "")
    assert not any("folkepension" in p.url for p in _pages())


def test_a_refused_batch_is_read_article_by_article(service: RunningSite) -> None:
    _fake(service).broken = "batch"
    [summary] = run_crawl([SOURCE])
    assert summary.status == "ok", summary
    pages = {p.url: p for p in _pages()}
    assert "NABOBY-LOKAL" in pages[service.url + "/rejse/pas.html#kommune-998"].text
    calls = _fake(service).calls
    assert (calls.count(("GetArticleByID", 998)), calls.count(("GetArticleByID", 999))) == (7, 7), (
        summary,
        calls,
    )


def test_a_service_answering_error_pages_fails_and_keeps_what_was_stored(
    service: RunningSite,
) -> None:
    run_crawl([SOURCE])
    before = {p.url for p in _pages() if p.status == "live"}
    _fake(service).broken = "html"
    [summary] = run_crawl([SOURCE])
    assert summary.status == "failed" and summary.deleted == 0, summary
    assert {p.url for p in _pages() if p.status == "live"} == before


def test_articles_limit_the_set_and_a_new_tenant_gets_its_local_text(
    service: RunningSite, isolated_home: Path
) -> None:
    spec = isolated_home / "spiders" / f"{SOURCE}.toml"
    text = spec.read_text(encoding="utf-8").replace('["example", "naboby"]', '["example"]')
    spec.write_text(text + 'articles = ["/rejse/", "1"]\n', encoding="utf-8")
    run_crawl([SOURCE])
    urls = {p.url for p in _pages()}
    assert service.url + "/rejse/pas.html#kommune-999" in urls
    assert service.url + "/bolig/boligstoette.html" in urls  # article 1, by its ID
    assert not any("#kommune-998" in u for u in urls) and len(urls) == 4
    spec.write_text(text.replace('["example"]', '["example", "naboby"]'), encoding="utf-8")
    [summary] = run_crawl([SOURCE])  # a new tenant: every article is read again for it
    assert summary.fetched == 7 and summary.deleted == 0
    assert service.url + "/rejse/pas.html#kommune-998" in {p.url for p in _pages()}


# -- the wire format ---------------------------------------------------------------------------


def test_requests_are_soap_1_1_with_the_operation_in_the_action_and_the_body() -> None:
    body = wire.envelope("GetArticlesByIDs", articleIDs=[5, 7], municipalityCode=None).decode()
    assert wire.headers("GetArticlesByIDs") == {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": '"http://www.borger.dk/2009/WSArticleExport/v1/IArticleExport/'
        'GetArticlesByIDs"',
    }
    assert '<GetArticlesByIDs xmlns="http://www.borger.dk/2009/WSArticleExport/v1">' in body
    assert "<a:int>5</a:int><a:int>7</a:int>" in body
    assert "schemas.microsoft.com/2003/10/Serialization/Arrays" in body
    assert "municipalityCode" not in body  # null: the national text
    assert "&lt;script&gt;" in wire.envelope("GetArticleIDByUrl", url="<script>").decode()


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"<html><body>Service Unavailable</body></html>", "not a SOAP envelope"),
        (b"\x00\x01 garbage", "not XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
            "not a SOAP envelope",
        ),
    ],
)
def test_a_reply_that_is_not_soap_is_a_clear_error(reply: bytes, error: str) -> None:
    with pytest.raises(wire.NotASoapReply, match=error):
        wire.parse_catalogue(reply)


def test_an_external_entity_in_a_reply_is_not_read() -> None:
    reply = (
        b'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
        b"<faultstring>&e;</faultstring></s:Fault></s:Body></s:Envelope>"
    )
    with pytest.raises(wire.ServiceFault) as info:
        wire.parse_catalogue(reply)
    assert "root:" not in info.value.message


def test_faults_tell_per_article_outcomes_from_a_broken_service() -> None:
    def fault(message: str) -> bytes:
        return (
            '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
            f"<faultcode>s:Client</faultcode><faultstring>{message}</faultstring>"
            "</s:Fault></s:Body></s:Envelope>"
        ).encode()

    for message, per_article in (
        ("Article with id 12 has been marked as not exportable.", True),
        ("No article found with url https://www.borger.dk/x", True),
        ("The server was unable to process the request due to an internal error.", False),
    ):
        with pytest.raises(wire.ServiceFault) as info:
            wire.parse_article(fault(message), None)
        assert info.value.per_article is per_article


def test_the_fake_builds_one_article_per_example_page() -> None:
    catalogue = catalogue_from_pages()
    assert len(catalogue) == 7
    pas = next(a for a in catalogue.values() if a.title == "Pas")
    assert isinstance(pas, FakeArticle) and set(pas.local) == {998, 999}
    assert "microArticle_" in pas.content and 'id="selvbetjeningslinks"' in pas.content
