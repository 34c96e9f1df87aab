"""The portal's one writer: reports are kept by a single thread, many to a transaction.

Each request hands its report to :class:`ReportWriter` and waits for the reference. The writer
takes every report waiting (up to ``batch``) and keeps them with
:func:`takedown.portal_reports.receive_reports` (a few statements for all of them) in one
transaction, and only after the commit answers each request: a visitor is given a reference only
for a report that is in the store. Under a flood this turns a transaction and a fight for the
database's write lock per report (SQLite lets one writer in at a time; the others sleep and
retry) into one per batch. Should a batch fail as a whole, its reports are tried one by one, so
that one bad report cannot cost the others theirs.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

from takedown.clock import Clock
from takedown.portal_reports import IncomingReport, ReceivedReport, receive_reports
from takedown.store import Store

log = logging.getLogger("takedown.portal")


@dataclass(slots=True)
class _Waiting:
    report: IncomingReport
    answer: asyncio.Future[ReceivedReport]
    loop: asyncio.AbstractEventLoop


class ReportWriter:
    def __init__(self, store: Store, clock: Clock, *, batch: int = 100) -> None:
        self.store = store
        self.clock = clock
        self.batch = batch
        self._queue: queue.Queue[_Waiting | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def keep(self, report: IncomingReport) -> ReceivedReport:
        """The report as kept, once it is committed; :class:`ReportRefused` or the store's error
        otherwise."""
        self._started()
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[ReceivedReport] = loop.create_future()
        self._queue.put(_Waiting(report, answer, loop))
        return await answer

    def close(self) -> None:
        """Write what is waiting, then stop."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _started(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="portal-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            waiting = [first]
            while len(waiting) < self.batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                waiting.append(more)
            try:
                results = self._write(waiting)
            except Exception:  # the batch as a whole failed: each alone, to keep all it can
                results = [self._write_one(item) for item in waiting]
            for item, result in zip(waiting, results, strict=True):
                item.loop.call_soon_threadsafe(_settle, item.answer, result)

    def _write(self, waiting: list[_Waiting]) -> list[ReceivedReport | BaseException]:
        # A report's time is kept to the minute: it cannot be matched to the second against the
        # logs of a proxy in front.
        now = self.clock.now().replace(second=0, microsecond=0)
        with self.store.session() as session:
            return list(receive_reports(session, [item.report for item in waiting], now=now))

    def _write_one(self, item: _Waiting) -> ReceivedReport | BaseException:
        try:
            [result] = self._write([item])
            return result
        except Exception as exc:
            log.error("a report to portal %s could not be kept: %s", item.report.portal, type(exc).__name__)
            return exc


def _settle(answer: asyncio.Future[Any], result: ReceivedReport | BaseException) -> None:
    if answer.done():  # the request went away (the visitor closed the page)
        return
    if isinstance(result, BaseException):
        answer.set_exception(result)
    else:
        answer.set_result(result)
