"""What the console's dashboard shows: the cases by state, the work waiting, whether the scheduler is
alive, and how fast content came down lately. Each figure is one query the store answers itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from takedown.models import Case, CheckMatch, Contact, HashList, Notice, SchedulerLock
from takedown.states import OPEN_STATES, CaseState
from takedown.tallies import case_counts
from takedown.vocabulary import NoticeStatus

WINDOWS_DAYS = (30, 90)
BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("1 h", 3600.0),
    ("6 h", 6 * 3600.0),
    ("1 day", 86400.0),
    ("3 days", 3 * 86400.0),
    ("7 days", 7 * 86400.0),
    ("14 days", 14 * 86400.0),
    ("30 days", 30 * 86400.0),
    ("longer", None),
)
"""The time-to-removal chart's bars: removed within each bound (and after the one before)."""


@dataclass(frozen=True, slots=True)
class SchedulerHeartbeat:
    owner: str
    acquired_at: datetime
    heartbeat_at: datetime
    silent_for: timedelta
    problem: str | None = None
    """What keeps it from its work, as it last said."""


@dataclass(frozen=True, slots=True)
class RemovalWindow:
    """Removals confirmed in the last ``days`` days, and how long they took."""

    days: int
    removed: int
    median_hours: float | None
    histogram: tuple[int, ...] = ()
    """Removals in each of :data:`BUCKETS`, in order."""


@dataclass(frozen=True, slots=True)
class Dashboard:
    by_state: dict[CaseState, int]
    due_now: int
    due_more: bool
    """More cases are due than were counted (``due_now``)."""
    needs_analyst: int
    scheduler: SchedulerHeartbeat | None
    uncertain_notices: int = 0
    """Notices a crash left in doubt: presumed delivered until an analyst looks."""
    bad_mailboxes: int = 0
    """Mailboxes a permanent refusal marked bad: not written to until someone vouches for them."""
    hash_list_entries: int = 0
    """Entries on the hash lists in use, that every revisit is matched against."""
    list_matches: int = 0
    """Revisits whose body matched a list entry, ever."""

    @property
    def open_cases(self) -> int:
        return sum(count for state, count in self.by_state.items() if state in OPEN_STATES)


DUE_COUNTED_UP_TO = 10_000
"""The dashboard counts due cases up to this many and then says "more": a backlog of a million is
one figure to a person, and counting it would be a walk of a million index entries."""


def dashboard(session: Session, *, now: datetime) -> Dashboard:
    counts = case_counts(session)
    by_state = {state: counts[(state, False)] + counts[(state, True)] for state in CaseState}
    # Closed cases have no next check, so the due range of the index holds open cases only.
    due = select(Case.id).where(Case.next_check_at <= now).limit(DUE_COUNTED_UP_TO + 1).subquery()
    due_now = int(session.scalar(select(func.count()).select_from(due)) or 0)
    lock = session.scalar(select(SchedulerLock).order_by(SchedulerLock.heartbeat_at.desc()).limit(1))
    scheduler = (
        SchedulerHeartbeat(
            lock.owner, lock.acquired_at, lock.heartbeat_at, now - lock.heartbeat_at, lock.problem
        )
        if lock is not None
        else None
    )
    uncertain = select(func.count(Notice.id)).where(Notice.status == NoticeStatus.UNCERTAIN.value)
    bad = select(func.count(Contact.id)).where(Contact.bad_since.is_not(None))
    entries = select(func.coalesce(func.sum(HashList.entries), 0)).where(HashList.state == "active")
    return Dashboard(
        by_state=by_state,
        due_now=due_now,
        due_more=due_now > DUE_COUNTED_UP_TO,
        needs_analyst=sum(counts[(state, True)] for state in OPEN_STATES),
        scheduler=scheduler,
        uncertain_notices=int(session.scalar(uncertain) or 0),
        bad_mailboxes=int(session.scalar(bad) or 0),
        hash_list_entries=int(session.scalar(entries) or 0),
        list_matches=int(session.scalar(select(func.count(CheckMatch.id))) or 0),
    )


def recent_removals(session: Session, *, now: datetime) -> tuple[RemovalWindow, ...]:
    """Removals confirmed in each of the last :data:`WINDOWS_DAYS` days, with their median time.

    Exact, so it reads every removal in the window (60,000 of a million cases: 0.10-0.15 s on
    SQLite): a face shows it from a copy it refreshes now and then, not per request."""
    return tuple(_removals(session, days, now) for days in WINDOWS_DAYS)


def _removals(session: Session, days: int, now: datetime) -> RemovalWindow:
    window = (Case.removal_seconds.is_not(None), Case.removed_at >= now - timedelta(days=days))
    bucket = case(
        *[(Case.removal_seconds <= bound, index) for index, (_, bound) in enumerate(BUCKETS) if bound],
        else_=len(BUCKETS) - 1,
    )
    grouped = session.execute(select(bucket, func.count()).where(*window).group_by(bucket))
    counted = {int(index): int(count) for index, count in grouped}
    histogram = tuple(counted.get(index, 0) for index in range(len(BUCKETS)))
    removed = sum(histogram)  # every removal in the window falls in one bar: no count of its own
    if not removed:
        return RemovalWindow(days, 0, None)
    # On SQLite, sorted by an expression, not the column: with LIMIT and OFFSET bound, SQLite takes
    # the limit for small and walks the index on removal_seconds in order, looking up every
    # removal's row to test its date (0.3 s on a million cases); the index on the removal date
    # holds both, and reading the window from it and sorting that is eight times faster. PostgreSQL
    # chooses that by itself, and sorts the bare column in less memory.
    seconds = Case.removal_seconds
    ordered = seconds + 0 if session.get_bind().dialect.name == "sqlite" else seconds
    ranked = select(seconds).where(*window).order_by(ordered)
    middle = session.scalar(ranked.offset(removed // 2).limit(1))
    return RemovalWindow(days, removed, None if middle is None else round(middle / 3600, 1), histogram)
