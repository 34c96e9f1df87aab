"""The outbox: notices are written before they are sent, and each is sent at most once.

A notice moves ``pending`` -> ``sending`` (claimed, committed) -> ``transmitting`` (committed just
before SMTP DATA) -> ``sent``; or to ``retry`` (temporary failure, with a growing delay),
``failed`` (refused for good: the mailbox is marked bad in the contact book and analysts see it) or
``uncertain``. What a crash leaves behind is recovered by the next run:

- a claim that is still ``sending`` after the lease: nothing reached the server's DATA, so the
  notice goes back to ``retry`` and is sent once;
- one still ``transmitting``: the server may have taken it. It becomes ``uncertain``: presumed
  delivered (it counts in the cases' notice history and is not sent again), listed for an analyst
  by ``takedown notices list --status uncertain``.

Never sending twice is bought with that one rare, visible "maybe". The alternative, re-sending
whatever was not recorded as sent, would spam providers every time a sender crashed mid-send.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update

from hosting.contacts import mark_mailbox_bad
from notices.delivery import Attempt, DeliveryOutcome, SMTPTransport
from notices.message import sender_address
from takedown.cases import event_row, mark_notified
from takedown.clock import Clock
from takedown.models import Event, Notice, NoticeCase
from takedown.settings import Settings
from takedown.store import Store
from takedown.vocabulary import NoticeStatus

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)
"""Longer than any SMTP exchange may take (the timeout is a minute): a claim this old is dead."""
RETRY_DELAYS = (
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
)
MAX_ATTEMPTS = 8


@dataclass
class DeliverySummary:
    counts: dict[str, int] = field(default_factory=dict)
    recovered: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1


class Outbox:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Clock,
        *,
        transport: SMTPTransport | None = None,
        actor: str = "notifier",
        checkpoint: Callable[[str], None] = lambda point: None,
        sender_id: str | None = None,
        dead_senders: frozenset[str] = frozenset(),
    ) -> None:
        """``checkpoint`` is called at the points where a crash is worth testing ("claimed",
        "transmitting", "answered"); tests make it raise there."""
        self.store = store
        self.clock = clock
        self.transport = transport or SMTPTransport(settings)
        self.connections = 1 if transport is not None else max(1, settings.smtp_connections)
        """Given a transport (tests), one connection: that one; otherwise this many SMTP
        connections send at once, each its own transport."""
        self._settings = settings
        self.sender = sender_address(settings.notice_from)[1]
        self.actor = actor
        self.checkpoint = checkpoint
        self.sender_id = sender_id or default_sender_id(clock)
        self.dead_senders = dead_senders
        """Senders known to have died (a scheduler whose lock was taken over): their claims are
        settled at once instead of after the lease."""

    def deliver_due(self, *, limit: int | None = None) -> DeliverySummary:
        summary = DeliverySummary(recovered=self.recover())
        now = self.clock.now()
        with self.store.session() as session:
            query = (
                select(Notice.id)
                .where(
                    Notice.status.in_((NoticeStatus.PENDING.value, NoticeStatus.RETRY.value)),
                    Notice.next_attempt_at <= now,
                )
                .order_by(Notice.next_attempt_at, Notice.id)
            )
            ids = list(session.scalars(query.limit(limit) if limit else query))
        if self.connections == 1 or len(ids) < 2:
            try:
                for notice_id in ids:
                    outcome = self.deliver(notice_id)
                    if outcome is not None:
                        summary.add(outcome)
            finally:
                self.transport.close()
            return summary
        self._deliver_side_by_side(ids, summary)
        return summary

    def _deliver_side_by_side(self, ids: list[int], summary: DeliverySummary) -> None:
        """Each of ``self.connections`` threads takes the next notice and sends it over its own
        SMTP connection, through the same claim/transmit/record steps as one connection: every
        notice is still claimed before it is sent and recorded after. If one thread fails, the
        others finish the notice in hand and take no more; the failure is raised here."""
        pending = iter(ids)
        lock = threading.Lock()
        stop = threading.Event()

        def work() -> None:
            transport = SMTPTransport(self._settings)
            try:
                while not stop.is_set():
                    with lock:
                        notice_id = next(pending, None)
                    if notice_id is None:
                        return
                    try:
                        outcome = self.deliver(notice_id, transport=transport)
                    except BaseException:
                        stop.set()
                        raise
                    if outcome is not None:
                        with lock:
                            summary.add(outcome)
            finally:
                transport.close()

        with ThreadPoolExecutor(
            max_workers=min(self.connections, len(ids)), thread_name_prefix="smtp"
        ) as pool:
            futures = [pool.submit(work) for _ in range(min(self.connections, len(ids)))]
        for future in futures:
            future.result()

    def recover(self) -> dict[str, int]:
        """Settle claims a crashed sender left behind (see the module's docstring)."""
        now = self.clock.now()
        stale = now - LEASE
        abandoned = or_(Notice.claimed_at < stale, Notice.claimed_by.in_(sorted(self.dead_senders)))
        recovered: dict[str, int] = {}
        with self.store.session() as session:
            back = session.execute(
                update(Notice)
                .where(Notice.status == NoticeStatus.SENDING.value, abandoned)
                .values(
                    status=NoticeStatus.RETRY.value,
                    next_attempt_at=now,
                    last_error="sender stopped before transmitting",
                )
                .execution_options(synchronize_session=False)
            )
            recovered[NoticeStatus.RETRY.value] = int(getattr(back, "rowcount", 0) or 0)
            uncertain = list(
                session.scalars(
                    select(Notice.id).where(Notice.status == NoticeStatus.TRANSMITTING.value, abandoned)
                )
            )
            for notice_id in uncertain:
                self._record(
                    session,
                    notice_id,
                    Attempt(DeliveryOutcome.UNCERTAIN, "sender stopped during transmission"),
                    now,
                )
            recovered[NoticeStatus.UNCERTAIN.value] = len(uncertain)
        if any(recovered.values()):
            log.warning("outbox recovery: %s", recovered)
        return recovered

    def deliver(self, notice_id: int, *, transport: SMTPTransport | None = None) -> str | None:
        """Send one notice if it is still waiting; its outcome, or ``None`` if someone else took it."""
        transport = transport or self.transport
        now = self.clock.now()
        with self.store.session() as session:
            claimed = session.execute(
                update(Notice)
                .where(
                    Notice.id == notice_id,
                    Notice.status.in_((NoticeStatus.PENDING.value, NoticeStatus.RETRY.value)),
                )
                .values(
                    status=NoticeStatus.SENDING.value,
                    claimed_at=now,
                    claimed_by=self.sender_id,
                    attempts=Notice.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return None
            recipient, message = session.execute(
                select(Notice.recipient, Notice.message).where(Notice.id == notice_id)
            ).one()
        self.checkpoint("claimed")

        def transmitting() -> bool:
            """Still ours? Then mark the DATA window open. A scheduler presumed dead may find its
            claim settled by its successor: it must then send nothing."""
            with self.store.session() as inner:
                marked = inner.execute(
                    update(Notice)
                    .where(
                        Notice.id == notice_id,
                        Notice.status == NoticeStatus.SENDING.value,
                        Notice.claimed_by == self.sender_id,
                    )
                    .values(status=NoticeStatus.TRANSMITTING.value)
                    .execution_options(synchronize_session=False)
                )
            self.checkpoint("transmitting")
            return getattr(marked, "rowcount", 0) == 1

        attempt = transport.send(
            self.sender, recipient, (message or "").encode("utf-8"), before_data=transmitting
        )
        self.checkpoint("answered")
        if attempt.outcome is DeliveryOutcome.ABANDONED:
            log.warning("notice %d: %s", notice_id, attempt.detail)
            return None
        with self.store.session() as session:
            return self._record(session, notice_id, attempt, self.clock.now())

    def _record(self, session: Any, notice_id: int, attempt: Attempt, now: datetime) -> str:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        outcome = attempt.outcome
        if outcome is DeliveryOutcome.RETRY and notice.attempts >= MAX_ATTEMPTS:
            outcome = DeliveryOutcome.FAILED
        notice.status = outcome.value
        notice.last_error = None if outcome is DeliveryOutcome.SENT else attempt.detail[:500]
        case_ids = list(session.scalars(select(NoticeCase.case_id).where(NoticeCase.notice_id == notice_id)))
        if outcome in (DeliveryOutcome.SENT, DeliveryOutcome.UNCERTAIN):
            notice.sent_at = now
            notice.next_attempt_at = None
            mark_notified(session, case_ids, now=now)
        elif outcome is DeliveryOutcome.RETRY:
            notice.next_attempt_at = now + RETRY_DELAYS[min(notice.attempts, len(RETRY_DELAYS)) - 1]
        else:
            notice.next_attempt_at = None
            if (
                attempt.outcome is DeliveryOutcome.FAILED
            ):  # the recipient was refused, not our retries run out
                mark_mailbox_bad(session, notice.recipient, attempt.detail, now=now, actor=self.actor)
        detail = {
            "notice": notice_id,
            "to": notice.recipient,
            "level": notice.level,
            "result": attempt.detail[:300],
        }
        action = {"sent": "notice_sent", "uncertain": "notice_uncertain", "failed": "notice_failed"}.get(
            outcome.value, "notice_deferred"
        )
        if case_ids:
            session.execute(
                insert(Event), [event_row(cid, now, self.actor, action, detail) for cid in case_ids]
            )
        log.info("notice %d to %s: %s (%s)", notice_id, notice.recipient, outcome.value, attempt.detail[:200])
        return outcome.value


@dataclass(frozen=True)
class OutgoingNotice:
    """A rendered notice to write to the outbox, and the cases it is about."""

    recipient: str
    level: str
    message_id: str
    subject: str
    role: str | None
    party: str | None
    language: str | None
    message: str
    case_ids: tuple[int, ...]


def enqueue(session: Any, notice: OutgoingNotice, *, now: datetime) -> int:
    """Write ``notice`` to the outbox as pending, due now, in the caller's transaction (the
    composer's round: the notices and the cases' next round are one commit); its id."""
    notice_id = session.scalar(
        insert(Notice)
        .values(
            recipient=notice.recipient,
            level=notice.level,
            message_id=notice.message_id,
            subject=notice.subject[:500],
            status=NoticeStatus.PENDING.value,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
            role=notice.role,
            party=(notice.party or "")[:300] or None,
            language=notice.language,
            message=notice.message,
        )
        .returning(Notice.id)
    )
    assert notice_id is not None
    session.execute(insert(NoticeCase), [{"notice_id": notice_id, "case_id": cid} for cid in notice.case_ids])
    return int(notice_id)


@dataclass(frozen=True)
class NoticeListing:
    """One notice as ``notices list`` shows it: who, what, how delivery went, never the message."""

    id: int
    recipient: str
    role: str | None
    level: str
    status: str
    cases: int
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    subject: str
    message_id: str


def list_notices(store: Store, *, status: str | None = None, limit: int = 100) -> list[NoticeListing]:
    """The outbox, newest first (``status``: only those with it), with how many cases each covers."""
    query = (
        select(Notice, func.count(NoticeCase.case_id))
        .join(NoticeCase, NoticeCase.notice_id == Notice.id, isouter=True)
        .group_by(Notice.id)
        .order_by(Notice.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(Notice.status == status)
    with store.session() as session:
        return [
            NoticeListing(
                n.id,
                n.recipient,
                n.role,
                n.level,
                n.status,
                count,
                n.attempts,
                n.created_at,
                n.sent_at,
                n.next_attempt_at,
                n.last_error,
                n.subject,
                n.message_id,
            )
            for n, count in session.execute(query)
        ]


def default_sender_id(clock: Clock) -> str:
    """``host:pid:start``: unique to this process, readable in ``notices list``."""
    return f"{socket.gethostname()}:{os.getpid()}:{clock.now():%Y%m%dT%H%M%S}"[:200]
