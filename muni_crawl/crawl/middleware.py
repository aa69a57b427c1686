"""Downloader middleware: exponential backoff before each retry, so a struggling site recovers."""

from __future__ import annotations

import asyncio
from typing import Any

from scrapy.http import Request


class RetryBackoffMiddleware:
    """Delays a retry by base * 2**(attempt-1) seconds, capped; first tries go at once."""

    def __init__(self, base: float = 0.5, cap: float = 30.0) -> None:
        self.base = base
        self.cap = cap

    @classmethod
    def from_crawler(cls, crawler: Any) -> RetryBackoffMiddleware:
        return cls(
            base=crawler.settings.getfloat("MUNI_CRAWL_RETRY_BACKOFF", 0.5),
            cap=crawler.settings.getfloat("MUNI_CRAWL_RETRY_BACKOFF_MAX", 30.0),
        )

    async def process_request(self, request: Request, spider: Any = None) -> None:
        attempt = int(request.meta.get("retry_times", 0))
        if attempt > 0:
            await asyncio.sleep(min(self.cap, self.base * 2 ** (attempt - 1)))
        return None
