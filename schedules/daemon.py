"""``takedown run``: the scheduler daemon.

APScheduler (a background scheduler: jobs run on its worker threads, the main thread waits for a
signal) runs four jobs, each at most one at a time and coalesced when late:

- the revisit crawl (:func:`schedules.jobs.crawl_job`, a child process) every ``crawl_every``;
- the notice round and delivery (:func:`schedules.jobs.notify_job`) every ``notify_every``;
- housekeeping (:func:`schedules.jobs.housekeeping_job`: expired registry answers) every
  ``housekeeping_every``;
- the lock's heartbeat every ``stale_after / 4``.

Start-up takes the store's scheduler lock (a second daemon exits with a message), and settles
what a dead predecessor left half-sent. SIGTERM or SIGINT stop it gracefully however they arrive
(to the scheduler alone, to its whole process group as systemd and ``kill -- -PGID`` send them, or
Ctrl-C in a terminal): no new job starts, a crawl in progress is asked to stop (its child runs in
a session of its own, so the signal reaches it only through the scheduler) and records what it has
in flight, a notice being sent is finished, the lock is released. A restart loses nothing: every
case, check and notice is in the store, and the outbox never sends a notice twice. A job that
fails is one line in the log (its traceback at debug level), and the next run tries again.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from notices.outbox import Outbox
from schedules.jobs import crawl_job, housekeeping_job, notify_job
from schedules.lock import DEFAULT_STALE_AFTER, LockLost, StoreLock
from takedown.clock import Clock
from takedown.settings import Settings
from takedown.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cadence:
    crawl_every: timedelta = timedelta(minutes=15)
    notify_every: timedelta = timedelta(minutes=5)
    stale_after: timedelta = DEFAULT_STALE_AFTER
    housekeeping_every: timedelta = timedelta(hours=6)


def run_daemon(
    settings: Settings,
    store: Store,
    clock: Clock,
    cadence: Cadence,
    *,
    stop: threading.Event | None = None,
    echo: Callable[[str], None] = log.info,
) -> None:
    """Run until ``stop`` is set (or SIGTERM/SIGINT, when called from the main thread)."""
    stop = stop or threading.Event()
    lock = _take_the_lock(settings, store, clock, cadence.stale_after, echo)
    if threading.current_thread() is threading.main_thread():
        _stop_on_signals(stop, echo)
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
    failures: list[BaseException] = []

    def crawl() -> None:
        summary = crawl_job(settings, clock.now(), stop=stop)
        stopped = " (stopped early; the rest stay due)" if summary.get("stopped") else ""
        reported = f", reported URLs {summary['reported']}" if summary.get("reported") else ""
        echo(f"crawl: revisited {summary['revisited']} {summary['outcomes']}{reported}{stopped}")

    def notify() -> None:
        result = notify_job(settings, store, clock, sender_id=lock.owner)
        unsigned = result.unsigned
        lock.report(f"no notice is sent: notices cannot be signed: {unsigned}" if unsigned else None)
        if result.rounds.unsigned:
            echo(f"notices: none composed, they cannot be signed: {unsigned}")
        if result.rounds.notices or result.delivery.counts:
            echo(f"notices: composed {result.rounds.notices}, delivered {result.delivery.counts}")
        acknowledged = result.acknowledged
        if acknowledged and (acknowledged.sent or acknowledged.refused or acknowledged.later):
            echo(
                f"reporters acknowledged: {acknowledged.sent} sent, {acknowledged.refused} refused, "
                f"{acknowledged.later} later"
            )

    def housekeeping() -> None:
        forgotten = housekeeping_job(store, clock)
        if forgotten:
            echo(
                f"housekeeping: forgot {forgotten.networks} expired networks and"
                f" {forgotten.registrations} expired registrations"
            )

    def heartbeat() -> None:
        try:
            lock.heartbeat()
        except LockLost as exc:
            failures.append(exc)
            stop.set()

    now = datetime.now(UTC)
    scheduler.add_job(
        heartbeat, "interval", seconds=max(1.0, cadence.stale_after.total_seconds() / 4), id="heartbeat"
    )
    jobs = [
        ("crawl", crawl, cadence.crawl_every),
        ("notify", notify, cadence.notify_every),
        ("housekeeping", housekeeping, cadence.housekeeping_every),
    ]
    for name, job, every in jobs:  # each first runs at once, then every so often
        scheduler.add_job(
            _one_line_on_failure(name, job),
            "interval",
            seconds=every.total_seconds(),
            id=name,
            next_run_time=now,
        )
    scheduler.start()
    try:
        stop.wait()
    finally:
        echo("stopping: waiting for running jobs to finish")
        scheduler.shutdown(wait=True)
        if not failures:
            lock.release()
        echo("stopped")
    if failures:
        raise failures[0]


@dataclass(frozen=True)
class OnceSummary:
    """What ``takedown run --once`` did."""

    crawl: dict[str, Any]
    """The crawl's own summary (``python -m crawler``'s JSON: revisited, outcomes, finish reason)."""
    notices: dict[str, int]
    """Notices composed, by level."""
    delivered: dict[str, int]
    """Outbox deliveries, by outcome."""
    needs_analyst: list[int]
    """Cases the chase gave up on this round."""
    stopped: bool = False
    """Asked to stop after the crawl: the notice round waits for the next run."""
    unsigned: str | None = None
    """Why no notice was composed: they cannot be signed (the key or certificate)."""
    forgotten: dict[str, int] = field(default_factory=dict)
    """Expired registry answers forgotten, by kind (networks, registrations)."""


def run_once(
    settings: Settings, store: Store, clock: Clock, *, stale_after: timedelta = DEFAULT_STALE_AFTER
) -> OnceSummary:
    """One crawl, one notice round and the housekeeping under the lock, then exit: for cron, or a
    first look."""
    lock = _take_the_lock(settings, store, clock, stale_after, log.info)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        _stop_on_signals(stop, log.info)
    try:
        crawl = crawl_job(settings, clock.now(), stop=stop)
        if stop.is_set():  # asked to stop: the notice round waits for the next run
            return OnceSummary(crawl=crawl, notices={}, delivered={}, needs_analyst=[], stopped=True)
        notified = notify_job(settings, store, clock, sender_id=lock.owner)
        forgotten = housekeeping_job(store, clock)
    finally:
        lock.release()
    return OnceSummary(
        crawl=crawl,
        notices=dict(notified.rounds.notices),
        delivered=dict(notified.delivery.counts),
        needs_analyst=list(notified.rounds.needs_analyst),
        unsigned=notified.unsigned,
        forgotten={"networks": forgotten.networks, "registrations": forgotten.registrations},
    )


def _take_the_lock(
    settings: Settings, store: Store, clock: Clock, stale_after: timedelta, echo: Callable[[str], None]
) -> StoreLock:
    """The store's scheduler lock, with what a dead predecessor left half-sent settled at once."""
    lock = StoreLock(store, clock, stale_after=stale_after)
    acquired = lock.acquire()
    echo(f"scheduler {acquired.owner} running against the store")
    if acquired.previous_owner is not None:
        dead = frozenset({acquired.previous_owner})
        recovered = Outbox(store, settings, clock, dead_senders=dead).recover()
        echo(
            f"took over from {acquired.previous_owner}, which had stopped answering;"
            f" settled its notices: {recovered}"
        )
    return lock


def _one_line_on_failure(name: str, job: Callable[[], None]) -> Callable[[], None]:
    """``job``, logging its failure as one line that says why (the traceback only at debug level):
    the next run tries again, and an operator reads the cause, not a page of stack."""

    def guarded() -> None:
        try:
            job()
        except Exception as exc:
            log.error("%s job failed: %s", name, exc)
            log.debug("%s job failed", name, exc_info=exc)

    return guarded


def _stop_on_signals(stop: threading.Event, echo: Callable[[str], None]) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        echo(f"received {signal.Signals(signum).name}")
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
