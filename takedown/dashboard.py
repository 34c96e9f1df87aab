"""What the console's dashboard shows: the cases by state, the work waiting, whether the scheduler is
alive, and how fast content came down lately. Each figure is one query the store answers itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from takedown.models import Case, SchedulerLock
from takedown.states import OPEN_STATES, CaseState

WINDOWS_DAYS = (30, 90)


@dataclass(frozen=True, slots=True)
class SchedulerHeartbeat:
    owner: str
    acquired_at: datetime
    heartbeat_at: datetime
    silent_for: timedelta


@dataclass(frozen=True, slots=True)
class RemovalWindow:
    """Removals confirmed in the last ``days`` days, and how long they took."""

    days: int
    removed: int
    median_hours: float | None


@dataclass(frozen=True, slots=True)
class Dashboard:
    by_state: dict[CaseState, int]
    due_now: int
    needs_analyst: int
    scheduler: SchedulerHeartbeat | None
    removals: tuple[RemovalWindow, ...]

    @property
    def open_cases(self) -> int:
        return sum(count for state, count in self.by_state.items() if state in OPEN_STATES)


def dashboard(session: Session, *, now: datetime) -> Dashboard:
    counted = {
        state: count
        for state, count in session.execute(select(Case.state, func.count()).group_by(Case.state))
    }
    by_state = {state: int(counted.get(state.value, 0)) for state in CaseState}
    open_values = [state.value for state in OPEN_STATES]
    due_now = session.scalar(
        select(func.count()).select_from(Case).where(Case.next_check_at <= now, Case.state.in_(open_values))
    )
    needs_analyst = session.scalar(
        select(func.count())
        .select_from(Case)
        .where(Case.needs_analyst.is_(True), Case.state.in_(open_values))
    )
    lock = session.scalar(select(SchedulerLock).order_by(SchedulerLock.heartbeat_at.desc()).limit(1))
    scheduler = (
        SchedulerHeartbeat(lock.owner, lock.acquired_at, lock.heartbeat_at, now - lock.heartbeat_at)
        if lock is not None
        else None
    )
    return Dashboard(
        by_state=by_state,
        due_now=int(due_now or 0),
        needs_analyst=int(needs_analyst or 0),
        scheduler=scheduler,
        removals=tuple(_removals(session, days, now) for days in WINDOWS_DAYS),
    )


def _removals(session: Session, days: int, now: datetime) -> RemovalWindow:
    window = (
        Case.state.in_([CaseState.REMOVED.value]),
        Case.removed_at >= now - timedelta(days=days),
        Case.removal_seconds.is_not(None),
    )
    removed = int(session.scalar(select(func.count()).select_from(Case).where(*window)) or 0)
    if not removed:
        return RemovalWindow(days, 0, None)
    middle = session.scalar(
        select(Case.removal_seconds)
        .where(*window)
        .order_by(Case.removal_seconds)
        .offset(removed // 2)
        .limit(1)
    )
    return RemovalWindow(days, removed, None if middle is None else round(middle / 3600, 1))
