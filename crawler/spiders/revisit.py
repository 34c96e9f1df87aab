"""The revisit spider: fetch every due case once and report what was seen.

Due cases are read from the store a page at a time as Scrapy asks for more requests, so memory
stays flat however many cases are open. A revisit is not a crawl: no links are followed, and
robots.txt does not apply (the URL was reported, not discovered).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import task, threads
from twisted.python.failure import Failure

from crawler.fingerprint import META_KEY, BodyFingerprint
from crawler.frontier import FrontierUnavailable, RedisFrontier
from crawler.middlewares import AddressRefused, is_dns_failure
from crawler.perceptual import PerceptualHasher
from crawler.pipelines import CRAWL_CACHE_MIB
from crawler.resolver import VERDICTS, GuardedResolver, decide
from crawler.safety import check as check_safety
from hosting.dns import AddressLookup
from takedown.clock import Clock, ManualClock, SystemClock
from takedown.hosts import fetchable_url
from takedown.portal_reports import ReportedFetch, awaiting_revisit
from takedown.revisits import DueCase, Fetch, due_cases
from takedown.store import Store

log = logging.getLogger(__name__)


class RevisitSpider(scrapy.Spider):
    name = "revisit"

    frontier: RedisFrontier | None = None
    """With a shared frontier (``TAKEDOWN_FRONTIER``): where the cases come from, and go back to."""
    perceptual: PerceptualHasher | None = None
    """The worker process that PDQ-hashes image bodies, started at the first image."""

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> RevisitSpider:
        check_safety(crawler.settings)  # before anything is fetched
        spider: RevisitSpider = super().from_crawler(crawler, *args, **kwargs)
        url = crawler.settings.get("TAKEDOWN_FRONTIER")
        if url:
            spider.frontier = RedisFrontier(
                url, lease_seconds=crawler.settings.getfloat("TAKEDOWN_FRONTIER_LEASE")
            )
            crawler.signals.connect(spider._renew_leases, signal=signals.spider_opened)
            crawler.signals.connect(spider._give_back_leases, signal=signals.spider_closed)
        return spider

    def __init__(
        self,
        cases: str = "",
        now: str = "",
        page_size: str = "500",
        hosts: Sequence[AddressLookup] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.case_ids = [int(part) for part in cases.split(",") if part.strip()]
        self.known_lookups = list(hosts or ())
        """DNS answers already had for this crawl's host names (by the process that shared them out)."""
        self.hosts = frozenset(found.name for found in hosts) if hosts is not None else None
        """Only the due cases on these host names: this crawl's share of a several-process crawl."""
        self.clock: Clock = ManualClock(datetime.fromisoformat(now)) if now else SystemClock()
        self.page_size = int(page_size)
        self._outstanding = 0
        self._room = asyncio.Event()

    async def start(self) -> AsyncIterator[scrapy.Request]:
        # Scrapy drains start() into its scheduler whenever the downloader is busy, so without a
        # window of our own memory grows with the number of due cases (measured: +5 MiB per 1,000).
        window = self.settings.getint("TAKEDOWN_START_WINDOW", 1000)
        resolver = GuardedResolver.installed
        if resolver is not None:
            for found in self.known_lookups:
                VERDICTS.record(decide(found, resolver.policy))  # judged here, as if asked here
        store = Store.open(self.settings["TAKEDOWN_DATABASE_URL"], sqlite_cache_mib=CRAWL_CACHE_MIB)
        try:
            async for case in self._cases(store):
                await self._wait_for_room(window)
                yield await self._request(case.url, {"case_id": case.id})
            if self._revisits_reported_urls():
                async for url_id, url in self._reported(store):
                    await self._wait_for_room(window)
                    yield await self._request(url, {"case_id": 0, "reported_url_id": url_id})
        finally:
            store.dispose()

    async def _request(self, url: str, meta: dict[str, Any]) -> scrapy.Request:
        url = fetchable_url(url)  # a numeric host is an address, as in a browser
        slot = await self._slot_for(urlsplit(url).hostname or "")
        if slot:
            meta["download_slot"] = slot
        meta["started"] = time.monotonic()
        self._outstanding += 1
        return scrapy.Request(url, callback=self.fetched, errback=self.failed, dont_filter=True, meta=meta)

    def _revisits_reported_urls(self) -> bool:
        """A crawl of what is due also makes the one revisit of each URL reported through a portal
        (its share of them, when several crawls run side by side); a crawl of chosen cases or of a
        shared frontier's does not (a frontier holds cases only)."""
        return (
            self.frontier is None
            and not self.case_ids
            and self.settings.getbool("TAKEDOWN_REVISIT_REPORTED_URLS", True)
        )

    async def _reported(self, store: Store) -> AsyncIterator[tuple[int, str]]:
        """The reported URLs waiting for their revisit, a page at a time (read as the crawl has
        room for them, so a flood of reports costs no memory)."""
        after = 0
        while True:
            page = await asyncio.to_thread(self._reported_page, store, after)
            for url_id, url in page:
                yield url_id, url
            if len(page) < self.page_size:
                return
            after = page[-1][0]

    def _reported_page(self, store: Store, after: int) -> list[tuple[int, str]]:
        with store.session() as session:
            return awaiting_revisit(session, limit=self.page_size, after_id=after, hosts=self.hosts)

    async def _cases(self, store: Store) -> AsyncIterator[DueCase]:
        if self.frontier is None:
            due = due_cases(
                store,
                now=self.clock.now(),
                page_size=self.page_size,
                case_ids=self.case_ids,
                hosts=self.hosts,
            )
            for case in due:
                yield case
            return
        async for case in self._claimed(store, self.frontier):
            yield case

    async def _claimed(self, store: Store, frontier: RedisFrontier) -> AsyncIterator[DueCase]:
        """Cases claimed from the shared frontier: one batch; or (a worker, with
        ``TAKEDOWN_FRONTIER_FOREVER``) batch after batch as the crawl has room for them, waiting and
        asking again when the frontier is empty, until the crawl is stopped. A claimed case that is
        no longer open needs no check: it is acknowledged at once."""
        batch = self.settings.getint("TAKEDOWN_FRONTIER_BATCH", 500)
        forever = self.settings.getbool("TAKEDOWN_FRONTIER_FOREVER")
        poll = self.settings.getfloat("TAKEDOWN_FRONTIER_POLL_SECONDS", 2.0)
        while True:
            # Claim a batch only when the crawl has room for one: a crawler that claimed ahead of
            # its capacity would hold cases the other crawlers could be checking.
            await self._wait_for_room(batch)
            try:
                ids = await asyncio.to_thread(frontier.claim, batch)
            except FrontierUnavailable as exc:
                self._frontier_failed(exc)
                return
            if self.crawler.stats is not None:
                self.crawler.stats.inc_value("takedown/frontier_claimed", len(ids))
            if not ids:
                if not forever:
                    return
                await asyncio.sleep(poll)
                continue
            cases = await asyncio.to_thread(self._open_cases, store, ids)
            closed = set(ids) - {case.id for case in cases}
            if closed:
                await asyncio.to_thread(frontier.acknowledge, closed)
            for case in cases:
                yield case
            if not forever:  # one batch, then stop: `takedown crawl --frontier` without --forever
                return

    def _open_cases(self, store: Store, ids: list[int]) -> list[DueCase]:
        return list(due_cases(store, now=self.clock.now(), page_size=self.page_size, case_ids=ids))

    def _frontier_failed(self, exc: Exception) -> None:
        log.info("the crawl stops: %s", exc)  # the crawl's caller reports it, once
        if self.crawler.stats is not None:
            self.crawler.stats.set_value("takedown/frontier_error", str(exc))

    def _renew_leases(self) -> None:
        """While the crawl runs, extend the leases of what it still holds, three times a lease."""
        assert self.frontier is not None
        frontier = self.frontier
        self._renewal = task.LoopingCall(
            lambda: threads.deferToThread(frontier.renew).addErrback(self._renew_failed)
        )
        self._renewal.start(max(frontier.lease_seconds / 3, 0.1), now=False)

    def _renew_failed(self, failure: Failure) -> None:
        log.warning(
            "could not renew the frontier leases (they lapse if this goes on): %s", failure.getErrorMessage()
        )

    def _give_back_leases(self) -> None:
        """A graceful stop: what was claimed and not checked goes back to the frontier at once
        (the pipeline has recorded and acknowledged everything it could before this)."""
        assert self.frontier is not None
        if getattr(self, "_renewal", None) is not None and self._renewal.running:
            self._renewal.stop()
        try:
            released = self.frontier.release()
        except FrontierUnavailable as exc:
            log.error("%s; the unchecked cases return when their leases lapse", exc)
            return
        if released:
            log.info("gave %d unchecked cases back to the frontier", released)
        if self.crawler.stats is not None:
            self.crawler.stats.set_value("takedown/frontier_released", released)

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

    async def fetched(self, response: Response) -> Fetch | ReportedFetch:
        fetch = await self._fetched(response)
        return _as_item(fetch, response.request.meta if response.request else {})

    async def _fetched(self, response: Response) -> Fetch:
        self._answered()
        fetch = self._observed(response)
        fingerprint: BodyFingerprint | None = (
            response.request.meta.get(META_KEY) if response.request else None
        )
        if fingerprint is None or not (200 <= response.status < 300):
            return fetch
        image = fingerprint.take_image()
        if image is None:
            return (
                dataclasses.replace(fetch, pdq_error=fingerprint.image_error)
                if fingerprint.image_error
                else fetch
            )
        # In a worker process, off the reactor's thread; the bytes are dropped once hashed.
        hashed = await asyncio.to_thread(self._hasher().hash, image)
        del image
        return dataclasses.replace(fetch, pdq=hashed.pdq, pdq_quality=hashed.quality, pdq_error=hashed.error)

    def _hasher(self) -> PerceptualHasher:
        if self.perceptual is None:
            self.perceptual = PerceptualHasher()
            self.crawler.signals.connect(self.perceptual.close, signal=signals.spider_closed)
        return self.perceptual

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
            sha1=fingerprint.sha1.hexdigest(),
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

    def failed(self, failure: Failure) -> Fetch | ReportedFetch:
        return _as_item(self._failed(failure), failure.request.meta)  # type: ignore[attr-defined]

    def _failed(self, failure: Failure) -> Fetch:
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


def _as_item(fetch: Fetch, meta: dict[str, Any]) -> Fetch | ReportedFetch:
    """A case's check, or a reported URL's revisit: the pipeline records each its own way."""
    url_id = meta.get("reported_url_id")
    return fetch if url_id is None else ReportedFetch(int(url_id), fetch)


def _elapsed_ms(meta: dict[str, Any]) -> int | None:
    started = meta.get("started")
    return None if started is None else int((time.monotonic() - started) * 1000)
