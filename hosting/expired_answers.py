"""Forgetting the registry answers whose time is up.

The registry caches (:mod:`hosting.cache`, :mod:`hosting.domain_cache`) never read an expired
answer: a lookup past ``expires_at`` asks the registry again, and the new answer replaces the old
row. An answer that is never asked for again stays, though: every network and registered domain
ever resolved, one row each, for as long as the store lives. The daemon forgets them a few times a
day (:func:`schedules.jobs.housekeeping_job`), so both tables hold only what is still of use.

Rows go in chunks, each its own short transaction: on SQLite the write lock every crawler and the
portal wait for is never held for a whole table's worth of deletions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import InstrumentedAttribute

from takedown.models import RdapDomain, RdapNetwork
from takedown.store import Store

CHUNK = 5000
"""Rows deleted per transaction."""


@dataclass(frozen=True, slots=True)
class ForgottenAnswers:
    networks: int = 0
    registrations: int = 0

    def __bool__(self) -> bool:
        return bool(self.networks or self.registrations)


def forget_expired_answers(store: Store, *, now: datetime, chunk: int = CHUNK) -> ForgottenAnswers:
    """Delete the networks and registrations that expired before ``now``; how many of each."""
    return ForgottenAnswers(
        networks=_forget(store, RdapNetwork.id, RdapNetwork.expires_at, now, chunk),
        registrations=_forget(store, RdapDomain.id, RdapDomain.expires_at, now, chunk),
    )


def _forget(
    store: Store,
    key: InstrumentedAttribute[int],
    expires_at: InstrumentedAttribute[datetime],
    now: datetime,
    chunk: int,
) -> int:
    table = key.class_
    forgotten = 0
    while True:
        with store.session() as session:
            ids = list(session.scalars(select(key).where(expires_at <= now).order_by(key).limit(chunk)))
            deleted = session.execute(delete(table).where(key.in_(ids), expires_at <= now)) if ids else None
        removed = int(getattr(deleted, "rowcount", 0) or 0)
        forgotten += removed
        if len(ids) < chunk or not removed:  # the last chunk; or none went, and none would next time
            return forgotten
