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

A sender claims a chunk of notices in one commit and records their answers in one more, so a
notice costs about one commit of its own (the one that opens its DATA window); a crash between an
answer and that record leaves the answered notices of the chunk ``transmitting``, hence ``uncertain``.

Never sending twice is bought with that rare, visible "maybe". The alternative, re-sending
whatever was not recorded as sent, would spam providers every time a sender crashed mid-send.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, or_, select, update

from notices.delivery import Attempt, DeliveryOutcome, SMTPTransport
from notices.message import sender_address
from takedown.case_moves import event_row
from takedown.cases import mark_notified
from takedown.clock import Clock
from takedown.models import Event, Notice, NoticeCase
from takedown.settings import Settings
from takedown.sql_writes import insert_rows, insert_rows_with_ids, writing
from takedown.store import Store
from takedown.vocabulary import NoticeStatus

if TYPE_CHECKING:
    from takedown.sql_writes import WriteTarget

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
CHUNK = 16
"""Notices one connection claims at once: one commit claims them all and one records their answers,
so a notice costs about one commit of its own (opening its DATA window), not three. What a crash
leaves of a chunk is settled as for one notice: claims wait out the lease and go back to
``retry``; notices answered but not yet recorded become ``uncertain``."""


@dataclass
class DeliverySummary:
    counts: dict[str, int] = field(default_factory=dict)
    recovered: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1


@dataclass(frozen=True)
class _Claimed:
    """A notice this sender holds: what sending and recording it need, read in the claim."""

    id: int
    recipient: str
    level: str
    message: str
    attempts: int
    case_ids: tuple[int, ...]


@dataclass(frozen=True)
class _Answer:
    """How one attempt went, waiting to be written with the rest of its chunk's answers."""

    notice: _Claimed
    attempt: Attempt
    at: datetime


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
        chunk: int = CHUNK,
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
        self.chunk = max(1, chunk)

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
        connections = min(self.connections, len(ids))
        if connections <= 1:
            try:
                for outcome in self._send_chunks(_chunks(ids, self.chunk), self.transport):
                    summary.add(outcome)
            finally:
                self.transport.close()
            return summary
        size = min(self.chunk, -(-len(ids) // connections))
        self._deliver_side_by_side(_chunks(ids, size), connections, summary)
        return summary

    def _deliver_side_by_side(
        self, chunks: Iterator[list[int]], connections: int, summary: DeliverySummary
    ) -> None:
        """Each of ``connections`` threads takes the next chunk and sends it over its own SMTP
        connection, through the same claim/transmit/record steps as one connection. If one thread
        fails, the others give back what they had claimed and not started, and stop; the
        failure is raised here."""
        lock = threading.Lock()
        stop = threading.Event()

        def next_chunk() -> list[int] | None:
            with lock:
                return None if stop.is_set() else next(chunks, None)

        def work() -> None:
            transport = SMTPTransport(self._settings)
            try:
                for outcome in self._send_chunks(iter(next_chunk, None), transport, stop=stop):
                    with lock:
                        summary.add(outcome)
            except BaseException:
                stop.set()
                raise
            finally:
                transport.close()

        with ThreadPoolExecutor(max_workers=connections, thread_name_prefix="smtp") as pool:
            futures = [pool.submit(work) for _ in range(connections)]
        for future in futures:
            future.result()

    def _send_chunks(
        self,
        chunks: Iterator[list[int]],
        transport: SMTPTransport,
        *,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        """Claim each chunk in one commit and send its notices in turn; the outcome of each."""
        for ids in chunks:
            claimed = self._claim(ids)
            if not claimed:
                continue
            self.checkpoint("claimed")
            answers: list[_Answer] = []
            for position, notice in enumerate(claimed):
                if stop is not None and stop.is_set():
                    yield from self._record_answers(answers)
                    self._give_back(claimed[position:])
                    return
                attempt = transport.send(
                    self.sender,
                    notice.recipient,
                    notice.message.encode("utf-8"),
                    before_data=functools.partial(self._open_window, notice),
                )
                self.checkpoint("answered")
                if attempt.outcome is DeliveryOutcome.ABANDONED:
                    log.warning("notice %d: %s", notice.id, attempt.detail)
                    continue
                answers.append(_Answer(notice, attempt, self.clock.now()))
            yield from self._record_answers(answers)

    def _claim(self, ids: list[int]) -> list[_Claimed]:
        """Take those of ``ids`` still waiting and due, in one commit; in the order given."""
        now = self.clock.now()
        with self.store.session() as session:
            rows = session.execute(
                update(Notice)
                .where(
                    Notice.id.in_(ids),
                    Notice.status.in_((NoticeStatus.PENDING.value, NoticeStatus.RETRY.value)),
                    Notice.next_attempt_at <= now,
                )
                .values(
                    status=NoticeStatus.SENDING.value,
                    claimed_at=now,
                    claimed_by=self.sender_id,
                    attempts=Notice.attempts + 1,
                )
                .returning(Notice.id, Notice.recipient, Notice.level, Notice.message, Notice.attempts)
                .execution_options(synchronize_session=False)
            ).all()
            cases = _case_ids(session, [row.id for row in rows])
        by_id = {
            row.id: _Claimed(
                row.id, row.recipient, row.level, row.message or "", row.attempts, cases.get(row.id, ())
            )
            for row in rows
        }
        return [by_id[i] for i in ids if i in by_id]

    def _open_window(self, notice: _Claimed) -> bool:
        """Just before DATA: mark ``notice`` transmitting if it is still ours. A sender presumed
        dead may find its claim settled by its successor: it must then send nothing."""
        with self.store.engine.begin() as connection:  # Core: this commit is once per notice
            marked = connection.execute(_OPEN_WINDOW, {"notice": notice.id, "sender": self.sender_id})
        self.checkpoint("transmitting")
        return getattr(marked, "rowcount", 0) == 1

    def _record_answers(self, answers: list[_Answer]) -> list[str]:
        """Write a chunk's answers in one commit. Until then its notices stay ``transmitting``:
        a crash before this commit leaves up to a chunk of them ``uncertain``, never resent."""
        if not answers:
            return []
        with self.store.session() as session:
            return self._write_answers(session, answers)

    def _give_back(self, notices: list[_Claimed]) -> None:
        """Claims this sender will not use after all: waiting again, the attempt not counted."""
        with self.store.session() as session:
            for notice in notices:
                session.execute(
                    update(Notice)
                    .where(
                        Notice.id == notice.id,
                        Notice.status == NoticeStatus.SENDING.value,
                        Notice.claimed_by == self.sender_id,
                    )
                    .values(
                        status=NoticeStatus.RETRY.value
                        if notice.attempts > 1
                        else NoticeStatus.PENDING.value,
                        attempts=notice.attempts - 1,
                        claimed_at=None,
                        claimed_by=None,
                    )
                    .execution_options(synchronize_session=False)
                )

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
            rows = session.execute(
                select(Notice.id, Notice.recipient, Notice.level, Notice.attempts).where(
                    Notice.status == NoticeStatus.TRANSMITTING.value, abandoned
                )
            ).all()
            cases = _case_ids(session, [row.id for row in rows])
            lost = Attempt(DeliveryOutcome.UNCERTAIN, "sender stopped during transmission")
            self._write_answers(
                session,
                [
                    _Answer(
                        _Claimed(r.id, r.recipient, r.level, "", r.attempts, cases.get(r.id, ())), lost, now
                    )
                    for r in rows
                ],
            )
            recovered[NoticeStatus.UNCERTAIN.value] = len(rows)
        if any(recovered.values()):
            log.warning("outbox recovery: %s", recovered)
        return recovered

    def _write_answers(self, session: Any, answers: list[_Answer]) -> list[str]:
        """Write how each attempt went, in the caller's transaction: the notice's status, the
        cases' first notice, a refused mailbox barred, one event per case; the outcomes."""
        if not answers:
            return []
        updates: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        notified: list[int] = []
        outcomes: list[str] = []
        for answer in answers:
            notice, attempt, now = answer.notice, answer.attempt, answer.at
            outcome = attempt.outcome
            if outcome is DeliveryOutcome.RETRY and notice.attempts >= MAX_ATTEMPTS:
                outcome = DeliveryOutcome.FAILED
            sent_at = next_attempt_at = None
            if outcome in (DeliveryOutcome.SENT, DeliveryOutcome.UNCERTAIN):
                sent_at = now
                notified.extend(notice.case_ids)
            elif outcome is DeliveryOutcome.RETRY:
                next_attempt_at = now + RETRY_DELAYS[min(notice.attempts, len(RETRY_DELAYS)) - 1]
            elif attempt.outcome is DeliveryOutcome.FAILED:  # refused, not our retries run out
                from hosting.contact_writes import mark_mailbox_bad  # the contact book: only on a bounce

                mark_mailbox_bad(session, notice.recipient, attempt.detail, now=now, actor=self.actor)
            updates.append(
                {
                    "id": notice.id,
                    "status": outcome.value,
                    "last_error": None if outcome is DeliveryOutcome.SENT else attempt.detail[:500],
                    "sent_at": sent_at,
                    "next_attempt_at": next_attempt_at,
                }
            )
            detail = {
                "notice": notice.id,
                "to": notice.recipient,
                "level": notice.level,
                "result": attempt.detail[:300],
            }
            action = _EVENT_FOR.get(outcome, "notice_deferred")
            events.extend(event_row(cid, now, self.actor, action, detail) for cid in notice.case_ids)
            outcomes.append(outcome.value)
            log.info(
                "notice %d to %s: %s (%s)", notice.id, notice.recipient, outcome.value, attempt.detail[:200]
            )
        session.execute(update(Notice), updates)
        if notified:
            mark_notified(session, notified, now=answers[-1].at)
        if events:
            session.execute(insert(Event), events)
        return outcomes


_OPEN_WINDOW = (
    update(Notice)
    .where(
        Notice.id == bindparam("notice"),
        Notice.status == NoticeStatus.SENDING.value,
        Notice.claimed_by == bindparam("sender"),
    )
    .values(status=NoticeStatus.TRANSMITTING.value)
)

_EVENT_FOR = {
    DeliveryOutcome.SENT: "notice_sent",
    DeliveryOutcome.UNCERTAIN: "notice_uncertain",
    DeliveryOutcome.FAILED: "notice_failed",
}


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    return (ids[start : start + size] for start in range(0, len(ids), size))


def _case_ids(session: Any, notice_ids: list[int]) -> dict[int, tuple[int, ...]]:
    """The cases each of ``notice_ids`` is about."""
    found: dict[int, list[int]] = {}
    if notice_ids:
        rows = session.execute(
            select(NoticeCase.notice_id, NoticeCase.case_id).where(NoticeCase.notice_id.in_(notice_ids))
        )
        for notice_id, case_id in rows:
            found.setdefault(notice_id, []).append(case_id)
    return {notice_id: tuple(cases) for notice_id, cases in found.items()}


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


def enqueue(target: WriteTarget, notice: OutgoingNotice, *, now: datetime) -> int:
    """Write ``notice`` to the outbox as pending, due now, in the caller's transaction; its id."""
    return enqueue_many(target, [notice], now=now)[0]


def enqueue_many(target: WriteTarget, notices: Sequence[OutgoingNotice], *, now: datetime) -> list[int]:
    """Write ``notices`` to the outbox as pending, due now, in the caller's transaction (the
    composer's round: the notices and the cases' next round are one commit); their ids, in order.
    Plain SQL, two statements for them all, where the ORM took two per notice."""
    with writing(target) as writes:
        ids = insert_rows_with_ids(
            writes,
            "notice",
            [
                {
                    "recipient": notice.recipient,
                    "level": notice.level,
                    "message_id": notice.message_id,
                    "subject": notice.subject[:500],
                    "status": NoticeStatus.PENDING.value,
                    "attempts": 0,
                    "created_at": now,
                    "next_attempt_at": now,
                    "role": notice.role,
                    "party": (notice.party or "")[:300] or None,
                    "language": notice.language,
                    "message": notice.message,
                }
                for notice in notices
            ],
            times=("created_at", "next_attempt_at"),
        )
        insert_rows(
            writes,
            "notice_case",
            [
                {"notice_id": notice_id, "case_id": case_id}
                for notice_id, notice in zip(ids, notices, strict=True)
                for case_id in notice.case_ids
            ],
        )
    return ids


def default_sender_id(clock: Clock) -> str:
    """``host:pid:start``: unique to this process, readable in ``notices list``."""
    return f"{socket.gethostname()}:{os.getpid()}:{clock.now():%Y%m%dT%H%M%S}"[:200]
