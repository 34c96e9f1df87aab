"""Only one scheduler per store: a lock row in the database, kept alive by a heartbeat.

The lock is taken in one transaction (insert, or take over a row whose heartbeat is older than
``stale_after``: its holder died without letting go). The holder refreshes the heartbeat
periodically and gives the row up on a clean shutdown. A second scheduler finds the row fresh
and stops with a message naming the holder. A scheduler that took the lock over from a dead one
knows that one's name, which lets it settle the dead one's half-sent notices at once.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from takedown.clock import Clock
from takedown.errors import TakedownError
from takedown.models import SchedulerLock
from takedown.store import Store

LOCK_NAME = "scheduler"
DEFAULT_STALE_AFTER = timedelta(minutes=2)


class SchedulerAlreadyRunning(TakedownError):
    """Another scheduler holds the lock and is alive."""


class LockLost(TakedownError):
    """Our lock was taken over (we were presumed dead): stop at once, someone else is in charge."""


@dataclass
class Acquired:
    owner: str
    previous_owner: str | None
    """The dead scheduler whose lock was taken over, if any."""


class StoreLock:
    def __init__(self, store: Store, clock: Clock, *, stale_after: timedelta = DEFAULT_STALE_AFTER) -> None:
        self.store = store
        self.clock = clock
        self.stale_after = stale_after
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{clock.now():%Y%m%dT%H%M%S}"[:200]

    def acquire(self) -> Acquired:
        now = self.clock.now()
        with self.store.session() as session:
            row = session.get(SchedulerLock, LOCK_NAME)
            if row is None:
                session.add(
                    SchedulerLock(name=LOCK_NAME, owner=self.owner, acquired_at=now, heartbeat_at=now)
                )
                try:
                    session.flush()
                except IntegrityError:
                    raise SchedulerAlreadyRunning(
                        "another scheduler took the lock at the same moment"
                    ) from None
                return Acquired(self.owner, None)
            if row.heartbeat_at > now - self.stale_after:
                raise SchedulerAlreadyRunning(
                    f"a scheduler is already running against this store: {row.owner}, alive at "
                    f"{row.heartbeat_at:%Y-%m-%dT%H:%M:%SZ}; stop it first"
                    f" (or wait {self.stale_after} if it died)"
                )
            previous, seen = row.owner, row.heartbeat_at
            taken = session.execute(
                update(SchedulerLock)
                .where(
                    SchedulerLock.name == LOCK_NAME,
                    SchedulerLock.owner == previous,
                    SchedulerLock.heartbeat_at == seen,
                )
                .values(owner=self.owner, acquired_at=now, heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(taken, "rowcount", 0) != 1:
                raise SchedulerAlreadyRunning("another scheduler took the stale lock at the same moment")
            return Acquired(self.owner, previous)

    def heartbeat(self) -> None:
        with self.store.session() as session:
            beat = session.execute(
                update(SchedulerLock)
                .where(SchedulerLock.name == LOCK_NAME, SchedulerLock.owner == self.owner)
                .values(heartbeat_at=self.clock.now())
                .execution_options(synchronize_session=False)
            )
            if getattr(beat, "rowcount", 0) != 1:
                raise LockLost(f"the scheduler lock is no longer held by {self.owner}")

    def report(self, problem: str | None) -> None:
        """Say what keeps this scheduler from its work (``None``: nothing), for the dashboard."""
        with self.store.session() as session:
            session.execute(
                update(SchedulerLock)
                .where(SchedulerLock.name == LOCK_NAME, SchedulerLock.owner == self.owner)
                .values(problem=problem[:500] if problem else None)
                .execution_options(synchronize_session=False)
            )

    def release(self) -> None:
        with self.store.session() as session:
            session.execute(
                delete(SchedulerLock).where(
                    SchedulerLock.name == LOCK_NAME, SchedulerLock.owner == self.owner
                )
            )

    def holder(self) -> tuple[str, datetime] | None:
        with self.store.reading() as session:
            row = session.execute(
                select(SchedulerLock.owner, SchedulerLock.heartbeat_at).where(SchedulerLock.name == LOCK_NAME)
            ).first()
        return None if row is None else (row.owner, row.heartbeat_at)
