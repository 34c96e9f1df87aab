"""The revisit spider: fetch every due case once and report what was seen.

Due cases are read from the store a page at a time as Scrapy asks for more requests, so memory
stays flat however many cases are open. A revisit is not a crawl: no links are followed, and
robots.txt does not apply (the URL was reported, not discovered).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.fingerprint import META_KEY, BodyFingerprint
from crawler.middlewares import AddressRefused, is_dns_failure
from crawler.pipelines import CRAWL_CACHE_MIB
from crawler.resolver import VERDICTS, GuardedResolver
from crawler.safety import check as check_safety
from takedown.clock import Clock, ManualClock, SystemClock
from takedown.hosts import fetchable_url
from takedown.revisits import Fetch, due_cases
from takedown.store import Store


class RevisitSpider(scrapy.Spider):
    name = "revisit"

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> RevisitSpider:
        check_safety(crawler.settings)  # before anything is fetched
        spider: RevisitSpider = super().from_crawler(crawler, *args, **kwargs)
        return spider

    def __init__(self, cases: str = "", now: str = "", page_size: str = "500", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case_ids = [int(part) for part in cases.split(",") if part.strip()]
        self.clock: Clock = ManualClock(datetime.fromisoformat(now)) if now else SystemClock()
        self.page_size = int(page_size)
        self._outstanding = 0
        self._room = asyncio.Event()

    async def start(self) -> AsyncIterator[scrapy.Request]:
        # Scrapy drains start() into its scheduler whenever the downloader is busy, so without a
        # window of our own memory grows with the number of due cases (measured: +5 MiB per 1,000).
        window = self.settings.getint("TAKEDOWN_START_WINDOW", 1000)
        store = Store.open(self.settings["TAKEDOWN_DATABASE_URL"], sqlite_cache_mib=CRAWL_CACHE_MIB)
        try:
            due = due_cases(store, now=self.clock.now(), page_size=self.page_size, case_ids=self.case_ids)
            for case in due:
                await self._wait_for_room(window)
                meta: dict[str, Any] = {"case_id": case.id}
                url = fetchable_url(case.url)  # a numeric host is an address, as in a browser
                slot = await self._slot_for(urlsplit(url).hostname or "")
                if slot:
                    meta["download_slot"] = slot
                meta["started"] = time.monotonic()
                self._outstanding += 1
                yield scrapy.Request(
                    url, callback=self.fetched, errback=self.failed, dont_filter=True, meta=meta
                )
        finally:
            store.dispose()

    async def _wait_for_room(self, window: int) -> None:
        while self._outstanding >= window:
            self._room.clear()
            try:
                await asyncio.wait_for(self._room.wait(), timeout=5)
            except TimeoutError:
                return  # a request that never answered must not stall the crawl: admit one more

    def _answered(self) -> None:
        self._outstanding -= 1
        self._room.set()

    async def _slot_for(self, host: str) -> str | None:
        """The server address a request will go to, so politeness limits hold per server from the
        first request on (Scrapy would otherwise pick a per-name slot before resolving)."""
        resolver = GuardedResolver.installed
        if resolver is None or not host:
            return None
        verdict = VERDICTS.fresh(host)
        if verdict is None:
            verdict = await asyncio.to_thread(resolver.resolve, host)
        return verdict.addresses[0] if verdict.status == "ok" and verdict.addresses else None

    def fetched(self, response: Response) -> Fetch:
        self._answered()
        return self._observed(response)

    def _observed(self, response: Response) -> Fetch:
        request = response.request
        assert request is not None
        fingerprint: BodyFingerprint = request.meta.get(META_KEY) or BodyFingerprint()
        stopped = "download_stopped" in response.flags
        return Fetch(
            case_id=request.meta["case_id"],
            checked_at=self.clock.now(),
            http_status=response.status,
            final_url=response.url,
            redirect_chain=tuple(request.meta.get("redirect_urls", ())),
            connected_ip=str(response.ip_address) if response.ip_address is not None else None,
            sha256=fingerprint.sha256.hexdigest(),
            md5=fingerprint.md5.hexdigest(),
            size_bytes=fingerprint.size,
            truncated=fingerprint.truncated or (stopped and fingerprint.error_class is None),
            duration_ms=_elapsed_ms(request.meta),
            error_class=fingerprint.error_class,
            error_detail=fingerprint.error_detail,
            declared_length=fingerprint.declared_length,
            content_type=fingerprint.content_type,
            content_encoding=fingerprint.content_encoding,
            etag=fingerprint.etag,
            last_modified=fingerprint.last_modified,
        )

    def failed(self, failure: Failure) -> Fetch:
        self._answered()
        request = failure.request  # type: ignore[attr-defined]
        error = failure.value
        if isinstance(error, HttpError):  # only if HTTPERROR_ALLOW_ALL were turned off
            return self._observed(error.response)
        dns_status = None
        detail = str(error) or type(error).__name__
        host = urlsplit(request.url).hostname or ""
        if error is not None and is_dns_failure(error):
            verdict = VERDICTS.get(host)
            if verdict is not None:
                dns_status, detail = verdict.status, verdict.detail or detail
        elif isinstance(error, AddressRefused):
            dns_status = "refused"
        error_class = type(error).__name__
        if "max redirections" in detail.lower() or "redirect" in error_class.lower():
            error_class = "RedirectLoop"
        return Fetch(
            case_id=request.meta["case_id"],
            checked_at=self.clock.now(),
            final_url=request.url,
            redirect_chain=tuple(request.meta.get("redirect_urls", ())),
            duration_ms=_elapsed_ms(request.meta),
            error_class=error_class,
            error_detail=detail[:500],
            dns_status=dns_status,
        )


def _elapsed_ms(meta: dict[str, Any]) -> int | None:
    started = meta.get("started")
    return None if started is None else int((time.monotonic() - started) * 1000)
