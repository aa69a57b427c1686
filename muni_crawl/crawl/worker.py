"""One crawl of one source, in its own process: run Scrapy, finalise versions, print a summary.

Scrapy's Twisted reactor cannot be restarted inside a process, and a crawl is the part most
likely to be killed; running each crawl in a child process keeps the caller's process clean and
turns a crash into a reported failure. The summary is the last line of stdout, as JSON.

The run's status: `unreachable` when nothing answered and a start request failed for a
network reason (see reachability), `anomaly` when the site answered but looks broken, else
`failed` (nothing fetched), `partial` (some failures, or stopped early) or `ok`. Neither an
unreachable nor an anomalous run stores a version or deletes a page. The worker logs as the
CLI that started it does (its --log-* options, see muni_crawl.logconfig).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from muni_crawl import logconfig
from muni_crawl.config import CrawlSettings, environment_checked
from muni_crawl.crawl.analysis import PageAnalyser, UrlFilter, helper_wanted
from muni_crawl.crawl.spider import SourceSpider
from muni_crawl.errors import CrawlError, MuniCrawlError
from muni_crawl.home import Home
from muni_crawl.locks import SourceLock
from muni_crawl.sources import SourceSpec
from muni_crawl.store import PageStore, VersionCounts
from muni_crawl.versioning import finalise

log = logging.getLogger("muni_crawl.crawl.worker")  # its name also when run as __main__

EXIT_LOCKED = 4

# A crawl with more than this share of failed requests is not trusted to say what disappeared.
MAX_FAILED_SHARE_FOR_DELETIONS = 0.1
# Anomalies (a broken site, not a changed one): checked once a source has this many pages
MIN_PAGES_FOR_ANOMALIES = 10
SHRINK_SHARE = 0.3  # fewer reachable pages than this share of the last crawl's
FAILING_SHARE = 0.5  # more failed requests than this share
IDENTICAL_SHARE = 0.8  # more changed pages with one and the same text than this share


def scrapy_settings(spec: SourceSpec, settings: CrawlSettings, verbose: int = 0) -> dict[str, Any]:
    """Polite defaults: robots.txt, named User-Agent, AutoThrottle, retries with backoff; and
    safe ones: the offsite guard before every request, the resolver that keeps names from
    leading to internal addresses, and no download handlers but http(s)."""
    from muni_crawl.crawl.middleware import ALLOWED_DOMAINS_SETTING, OFFSITE_GUARD_PRIORITY

    delay = spec.download_delay if spec.download_delay is not None else settings.download_delay
    return {
        "BOT_NAME": "muni_crawl",
        "USER_AGENT": settings.user_agent,
        # a service or an export is meant for programs; robots.txt governs crawled pages
        "ROBOTSTXT_OBEY": not spec.reads_service,
        "ROBOTSTXT_USER_AGENT": "muni_crawl",
        "DOWNLOAD_DELAY": delay,
        "DOWNLOAD_DELAY_JITTER": 0.5 if delay > 0 else 0,
        "AUTOTHROTTLE_ENABLED": settings.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(delay, 0.1),
        "AUTOTHROTTLE_MAX_DELAY": 30.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(settings.concurrency_per_host),
        "CONCURRENT_REQUESTS": 16,
        # our callbacks yield requests, never items: Scrapy's default of 100 starts 100 asyncio
        # tasks for every response to run item pipelines we do not have (~0.5 ms a page)
        "CONCURRENT_ITEMS": 1,
        "CONCURRENT_REQUESTS_PER_DOMAIN": settings.concurrency_per_host,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": settings.retries,
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408, 429],
        "DOWNLOAD_TIMEOUT": settings.download_timeout,
        "DOWNLOAD_MAXSIZE": settings.max_page_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "REDIRECT_MAX_TIMES": 5,
        "DEPTH_LIMIT": 0,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": _scrapy_level(verbose),
        # the worker's handlers are muni_crawl's (logconfig): one line format, one log file
        "LOG_INSTALL_ROOT_HANDLER": False,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "DOWNLOADER_MIDDLEWARES": {
            "muni_crawl.crawl.middleware.OffsiteGuardMiddleware": OFFSITE_GUARD_PRIORITY,
            # replaced by the guard, which also checks ports, addresses and dont_filter requests
            "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
            "muni_crawl.crawl.middleware.RetryBackoffMiddleware": 560,
        },
        ALLOWED_DOMAINS_SETTING: list(spec.allowed_domains),
        "TWISTED_DNS_RESOLVER": "muni_crawl.crawl.resolver.AllowedAddressResolver",
        "DOWNLOAD_HANDLERS": {"file": None, "data": None, "ftp": None, "s3": None},
        "MUNI_CRAWL_RETRY_BACKOFF": min(0.5, settings.download_timeout / 10),
    }


def spider_for(spec: SourceSpec, home: Home) -> tuple[type[Any], dict[str, Any]]:
    """The spider that reads this kind of source, and what it needs beyond the common arguments:
    a service or feed knows its tenants' municipality codes (local text for exactly those)."""
    if not spec.reads_service:
        return SourceSpider, {}
    municipalities = {t.code: t.name for t in home.registry.tenants_of(spec)}
    if spec.api is not None:
        from muni_crawl.crawl.article_spider import ArticleExportSpider

        return ArticleExportSpider, {"municipalities": municipalities}
    from muni_crawl.crawl.feed_spider import FeedSpider, feed_credentials

    feed_credentials(spec)  # a missing token fails the source here, naming the variable
    return FeedSpider, {"municipalities": municipalities, "home": home.path}


def crawl_source(
    spec: SourceSpec,
    home: Home,
    *,
    progress: bool = True,
    verbose: int = 0,
    alone: bool = False,
) -> dict[str, Any]:
    """Crawl one source in this process (which must not have run a reactor before), then
    finalise its pages. Answers that became stale are marked by `refresh`, not here.
    `alone`: no other crawl runs beside this one, so a page analysis helper process may use a
    free core (muni_crawl.crawl.analysis)."""
    spider_class, extra = spider_for(spec, home)  # before the run: a missing token fails here
    if spider_class is not SourceSpider:
        return _crawl_source(spec, home, spider_class, extra, progress, verbose)
    # forked now, before Scrapy starts a reactor or a thread
    analyser = PageAnalyser(UrlFilter(spec), helper=helper_wanted(alone))
    try:
        extra = {**extra, "analyser": analyser}
        return _crawl_source(spec, home, spider_class, extra, progress, verbose)
    finally:
        analyser.close()


def _crawl_source(
    spec: SourceSpec,
    home: Home,
    spider_class: type[Any],
    extra: dict[str, Any],
    progress: bool,
    verbose: int,
) -> dict[str, Any]:
    settings = home.settings.crawl
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    store = home.page_store()
    live_before = store.live_resource_count(spec.name)
    run_id = store.start_run(spec.name)
    close_reason: list[str] = []
    spiders: list[Any] = []
    answers: list[int] = []  # HTTP responses of any status: the source is reachable

    def on_opened(spider: Any) -> None:
        spiders.append(spider)

    def on_closed(spider: Any, reason: str) -> None:
        close_reason.append(reason)

    def on_response(**kwargs: Any) -> None:
        answers.append(1)

    process = CrawlerProcess(scrapy_settings(spec, settings, verbose))
    # Scrapy's own defaults (set by CrawlerProcess) log everything of scrapy.* at DEBUG
    logging.getLogger("scrapy").setLevel(_scrapy_level(verbose))
    crawler = process.create_crawler(spider_class)
    # signal receivers are weakly referenced: keep named functions alive until the end
    crawler.signals.connect(on_opened, signal=signals.spider_opened)
    crawler.signals.connect(on_closed, signal=signals.spider_closed)
    crawler.signals.connect(on_response, signal=signals.response_received)
    process.crawl(
        crawler,
        spec=spec,
        store=store,
        run_id=run_id,
        settings=settings,
        progress=progress,
        **extra,
    )
    process.start()
    spider = spiders[0] if spiders else None
    finished = bool(close_reason) and close_reason[0] == "finished"
    capped = bool(spider and spider.capped)
    run = store.run(run_id)
    seen, failed = run.seen, run.failed
    complete = (
        finished
        and not capped
        and seen > 0
        and failed <= MAX_FAILED_SHARE_FOR_DELETIONS * (seen + failed)
    )
    unreachable = unreachable_cause(spider, answered=len(answers))
    anomaly = (
        None if unreachable else detect_anomaly(store, spec.name, run_id, live_before, seen, failed)
    )
    if unreachable:
        # nothing answered: nothing can be judged changed or gone
        log.warning("%s: unreachable, nothing stored as changed: %s", spec.name, unreachable)
        counts = VersionCounts()
    elif anomaly:
        # keep every page version (and so the tenants' indexes) as they were: a broken site
        # must not wipe what citizens are served
        log.error("%s: crawl anomaly, nothing stored as changed: %s", spec.name, anomaly)
        counts = VersionCounts()
    else:
        counts = finalise(
            store, spec.name, run_id, complete=complete, ratio=settings.boilerplate_ratio
        )
    if unreachable:
        status = "unreachable"
    elif anomaly:
        status = "anomaly"
    elif seen == 0 and failed > 0:
        status = "failed"
    elif failed > 0 or not finished:
        status = "partial"
    else:
        status = "ok"
    message = None if finished else f"crawl stopped early: {close_reason[:1] or 'unknown'}"
    if capped:
        message = (message + "; " if message else "") + "page cap reached"
    if anomaly:
        message = (message + "; " if message else "") + anomaly
    if unreachable:
        message = unreachable + (f"; {message}" if message else "")
    else:
        for note in getattr(spider, "notes", []):  # records skipped, articles not exportable
            message = (message + "; " if message else "") + note
    if status == "failed" and not message:
        message = "; ".join(getattr(spider, "first_failures", [])) or None
    store.finish_run(
        run_id,
        status,
        new=counts.new,
        changed=counts.changed,
        unchanged=counts.unchanged,
        deleted=counts.deleted,
        capped=capped,
        message=message,
    )
    summary = store.run_summary(run_id).to_dict()
    store.close()
    return summary


def unreachable_cause(spider: Any, answered: int) -> str | None:
    """The network causes, when no request got an HTTP answer and one failed for a network
    reason (with nothing answered, only the start requests were sent); else None."""
    network = getattr(spider, "network", None)
    if answered or network is None or not network.causes:
        return None
    return str(network.message())


def _scrapy_level(verbose: int) -> str:
    return ("WARNING", "INFO", "DEBUG")[min(verbose, 2)]


def detect_anomaly(
    store: PageStore, source: str, run_id: int, live_before: int, seen: int, failed: int
) -> str | None:
    """Signs of a broken site rather than a changed one, or None when the crawl looks sane."""
    if live_before >= MIN_PAGES_FOR_ANOMALIES and seen < SHRINK_SHARE * live_before:
        return f"site shrank: {seen} pages reachable, {live_before} before (maintenance page?)"
    attempted = seen + failed
    if attempted >= MIN_PAGES_FOR_ANOMALIES and failed > FAILING_SHARE * attempted:
        return f"most pages failing: {failed} of {attempted}"
    fetched, largest = store.changed_content_groups(source, run_id)
    if fetched >= MIN_PAGES_FOR_ANOMALIES and largest > IDENTICAL_SHARE * fetched:
        return f"{largest} of {fetched} changed pages have identical content (maintenance page?)"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source")
    parser.add_argument("--settings-json", required=True)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("--parent-pid", type=int, help="die with this process (crawl_one)")
    parser.add_argument(
        "--alone", action="store_true", help="no other crawl runs: pages may use a helper process"
    )
    parser.add_argument("--log-format", choices=logconfig.LOG_FORMATS, default="text")
    parser.add_argument("--log-quiet", action="store_true", help="only errors on stderr")
    parser.add_argument("--log-file", type=Path)
    parser.add_argument("--log-max-mb", type=float, default=logconfig.DEFAULT_MAX_MB)
    parser.add_argument("--log-backups", type=int, default=logconfig.DEFAULT_BACKUPS)
    args = parser.parse_args(argv)
    import signal

    from muni_crawl.crawl import tie_to_parent

    tie_to_parent(args.parent_pid)
    logconfig.configure(
        logconfig.LogOptions(
            verbose=args.verbose,
            quiet=args.log_quiet,
            log_file=args.log_file,
            log_format=args.log_format,
            max_mb=args.log_max_mb,
            backups=args.log_backups,
        ),
        source=args.source,
    )
    environment_checked()  # the parent process has reported unknown MUNI_CRAWL_* variables

    # until Scrapy installs its graceful handlers, a stop request ends the worker through the
    # except clauses below, so it still prints a summary (the lock dies with the process)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        raw = json.loads(args.settings_json)
        home = Path(raw.pop("home"))
        opened = Home.open(home, **raw)
        spec = opened.registry.source(args.source)
        lock = SourceLock(opened.path / ".locks", spec.name)
        try:
            lock.acquire()
        except CrawlError as exc:
            print(json.dumps({"source": args.source, "error": str(exc), "locked": True}))
            return EXIT_LOCKED
        try:
            summary = crawl_source(
                spec, opened, progress=not args.quiet, verbose=args.verbose, alone=args.alone
            )
        finally:
            lock.release()
    except MuniCrawlError as exc:
        print(json.dumps({"source": args.source, "error": str(exc)}))
        return 1
    except KeyboardInterrupt:
        print(json.dumps({"source": args.source, "error": "stopped by a signal before crawling"}))
        return 1
    except Exception as exc:  # a bug or a broken install: the operator needs the cause
        # the traceback with -v; one line (and the cause in the summary) otherwise
        log.error("%s: crawl worker crashed", args.source, exc_info=True)
        message = " ".join(str(exc).split())[:300]
        cause = type(exc).__name__ + (f": {message}" if message else "")
        print(json.dumps({"source": args.source, "error": f"crawl worker crashed: {cause}"}))
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
