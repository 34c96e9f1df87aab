"""Item pipeline: every revisit becomes a check in the store, with the case moved accordingly.

Checks are committed in batches (``TAKEDOWN_CHECK_BATCH`` items or ``TAKEDOWN_CHECK_FLUSH_SECONDS``,
whichever comes first) on a worker thread, one batch at a time. Writing each check in its own
transaction on the reactor thread held every download up behind an fsync (the revisit benchmark
ran at 30% of bare Scrapy). What a crash can lose is the last unflushed batch of checks: those
cases were not updated, so they are still due and are simply revisited again. No case, notice or
decision depends on a check that was not committed.

A URL reported through a portal is revisited once before an analyst sees it: its revisit goes to
:func:`takedown.portal_reports.record_revisits` in the same batches (lost with a batch, it is still
waiting and is simply revisited again).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer, task, threads

from crawler.frontier import FrontierUnavailable, RedisFrontier
from takedown.policy import ChasePolicy
from takedown.portal_reports import ReportedFetch, record_revisits
from takedown.revisits import DEFAULT_REMOVED_PAGE_PATTERNS, Fetch, RevisitCadence, record_fetches
from takedown.store import Store

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

log = logging.getLogger(__name__)

CRAWL_CACHE_MIB = 8
"""SQLite page cache for a crawl's connections: each row is touched once, so a large cache only
makes memory grow with the store (measured: +45 MiB over 40,000 cases with 64 MiB, +7 with 2)."""


class RecordCheckPipeline:
    def __init__(
        self,
        database_url: str,
        removed_patterns: list[str],
        stats: Any = None,
        batch_size: int = 200,
        flush_seconds: float = 0.5,
        cadence: RevisitCadence | None = None,
        pdq_distance: int = 31,
        policy: ChasePolicy | None = None,
    ) -> None:
        self.database_url = database_url
        self.pdq_distance = pdq_distance
        self.removed_patterns = removed_patterns or list(DEFAULT_REMOVED_PAGE_PATTERNS)
        self.stats = stats
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.policy = policy or ChasePolicy()
        """Which hash lists' matches confirm a reported URL without an analyst."""
        self.cadence = cadence or RevisitCadence.from_policy(self.policy)
        self.store: Store | None = None
        self.frontier: RedisFrontier | None = None
        """With a shared frontier: each case is acknowledged there once its check is recorded."""
        self.crawler: Crawler | None = None
        self._pending: list[Fetch | ReportedFetch] = []
        self._queued_batches = 0
        self._flushing: defer.Deferred[None] = defer.succeed(None)
        self._timer: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RecordCheckPipeline:
        settings = crawler.settings
        policy = ChasePolicy.load(settings.get("TAKEDOWN_CHASE_POLICY"))
        pipeline = cls(
            settings["TAKEDOWN_DATABASE_URL"],
            settings.getlist("TAKEDOWN_REMOVED_PAGE_PATTERNS"),
            crawler.stats,
            batch_size=settings.getint("TAKEDOWN_CHECK_BATCH", 200),
            flush_seconds=settings.getfloat("TAKEDOWN_CHECK_FLUSH_SECONDS", 0.5),
            cadence=RevisitCadence.from_policy(policy),
            pdq_distance=settings.getint("TAKEDOWN_PDQ_DISTANCE", 31),
            policy=policy,
        )
        pipeline.crawler = crawler
        return pipeline

    def open_spider(self, spider: Any = None) -> None:
        self.store = Store.open(self.database_url, sqlite_cache_mib=CRAWL_CACHE_MIB)
        spider = spider or (self.crawler.spider if self.crawler is not None else None)
        self.frontier = getattr(spider, "frontier", None)
        self._timer = task.LoopingCall(self._flush)
        self._timer.start(self.flush_seconds, now=False)

    async def close_spider(self, spider: Any = None) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        await maybe_deferred_to_future(self._flush())  # how Scrapy's docs say to await a Deferred
        if self.store is not None:
            self.store.dispose()

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if isinstance(item, Fetch | ReportedFetch):
            self._pending.append(item)
            if len(self._pending) >= self.batch_size:
                self._flush()
        return item

    def _flush(self) -> defer.Deferred[None]:
        """Queue the pending checks for writing after any batch already being written."""
        if self._pending:
            batch, self._pending = self._pending, []
            self._queued_batches += 1
            if self.stats is not None:
                self.stats.max_value("takedown/check_batches_queued_max", self._queued_batches)
            self._flushing.addCallback(lambda _: threads.deferToThread(self._write, batch))
            self._flushing.addCallbacks(self._count, self._failed, errbackArgs=(batch,))
        return self._flushing

    def _write(self, batch: list[Fetch | ReportedFetch]) -> list[str]:
        """Runs on a worker thread: writes the batch (cases' checks and reported URLs' revisits in
        one transaction), returns what each came to, for counting."""
        assert self.store is not None
        checks = [item for item in batch if isinstance(item, Fetch)]
        reported = [(item.url_id, item.fetch) for item in batch if isinstance(item, ReportedFetch)]
        with self.store.session() as session:
            results = record_fetches(
                session,
                checks,
                removed_patterns=self.removed_patterns,
                cadence=self.cadence,
                pdq_distance=self.pdq_distance,
            )
            states: dict[int, str] = {}
            if reported:  # a case a trusted list confirms is opened as of the latest of them
                states = record_revisits(
                    session,
                    reported,
                    policy=self.policy,
                    now=max(fetch.checked_at for _, fetch in reported),
                    removed_patterns=self.removed_patterns,
                    pdq_distance=self.pdq_distance,
                )
        if self.frontier is not None and checks:  # recorded (committed): these cases leave the frontier
            try:
                self.frontier.acknowledge(fetch.case_id for fetch in checks)
            except FrontierUnavailable as exc:
                log.warning(
                    "%s: %d checks recorded but not acknowledged; checked again later", exc, len(checks)
                )
        return [
            f"outcome/{result.judgement.outcome.value if result else 'skipped_closed'}" for result in results
        ] + [f"reported/{states.get(url_id, 'skipped_decided')}" for url_id, _ in reported]

    def _count(self, counted: list[str]) -> None:
        self._queued_batches -= 1
        # On the reactor thread: Scrapy's stats are not safe to update from the worker thread
        # (doing so lost counts under load: 1,713 of 2,000 reported while all 2,000 were written).
        if self.stats is not None:
            for name in counted:
                self.stats.inc_value(f"takedown/{name}")

    def _failed(self, failure: Any, batch: list[Fetch | ReportedFetch]) -> None:
        self._queued_batches -= 1
        log.error(
            "could not record %d checks (their cases stay due): %s", len(batch), failure.getErrorMessage()
        )
        if self.stats is not None:
            self.stats.inc_value("takedown/check_write_failures", len(batch))
        cases = [item.case_id for item in batch if isinstance(item, Fetch)]
        if self.frontier is not None and cases:  # for another crawler to check, now, not at our stop
            threads.deferToThread(self.frontier.release, cases).addErrback(
                lambda lost: log.warning(
                    "could not give checks back to the frontier: %s", lost.getErrorMessage()
                )
            )
