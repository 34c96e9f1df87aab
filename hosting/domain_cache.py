"""Domain registrations cached by registered domain.

The registrar of a domain changes with a transfer, which is rare and slow; its registry's answer
does not change between two notice rounds an hour apart. Without this cache every round asked the
registry again for every domain with a case due in it, so a site chased for weeks cost its registry
hundreds of identical queries, and each round waited on them. An answer is kept for a day by
default (``TAKEDOWN_RDAP_DOMAIN_CACHE_HOURS``): a transfer or a registrar's new abuse desk is seen
by the next day's rounds.

Final failures are kept too: "no such domain" (RDAP 404) and "no RDAP service for this TLD" would
be answered the same way again. Passing failures (rate limiting, a registry down) never are.

Two layers, as for networks (:mod:`hosting.cache`): the process's own dictionary and, when a store
is given, the ``rdap_domain`` table, shared by every worker on the database.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hosting.errors import NotFound, Unsupported
from hosting.later_writes import LaterWrites
from hosting.rdap.parse import DomainRecord
from takedown.clock import Clock, SystemClock
from takedown.models import RdapDomain
from takedown.store import Store

DEFAULT_TTL = timedelta(days=1)

Answer = DomainRecord | NotFound | Unsupported
"""What a registry said about a domain that is worth keeping."""
FAILURES: dict[str, type[NotFound | Unsupported]] = {"NotFound": NotFound, "Unsupported": Unsupported}
MESSAGE_LIMIT = 500
DOMAIN_LIMIT = 253
"""The column's width, a DNS name's longest: a longer one is kept in memory only."""


class DomainCache:
    def __init__(
        self,
        store: Store | None = None,
        *,
        clock: Clock | None = None,
        ttl: timedelta = DEFAULT_TTL,
        writes: LaterWrites | None = None,
    ) -> None:
        """``writes`` gathers the store writes of a round (shared with the network cache: one
        transaction for both)."""
        self.store = store
        self.clock = clock or SystemClock()
        self.ttl = ttl
        self.writes = writes or (LaterWrites(store) if store is not None else None)
        self._lock = threading.Lock()
        self._memory: dict[str, tuple[datetime, Answer]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, domain: str) -> Answer | None:
        """The unexpired answer for ``domain`` (a registration or a final failure), or ``None``."""
        now = self.clock.now()
        with self._lock:
            kept = self._memory.get(domain)
        answer = kept[1] if kept is not None and kept[0] > now else None
        if answer is None and self.store is not None:
            answer = self._from_store(domain, now)
        with self._lock:
            if answer is None:
                self.misses += 1
            else:
                self.hits += 1
        return answer

    def put(self, domain: str, answer: Answer) -> None:
        now = self.clock.now()
        with self._lock:
            self._memory[domain] = (now + self.ttl, answer)
        if self.writes is not None and len(domain) <= DOMAIN_LIMIT:
            self.writes.write("registration", lambda session: self._write(session, domain, answer, now))

    def _write(self, session: Session, domain: str, answer: Answer, now: datetime) -> None:
        """Store the answer, replacing an older one for the same domain."""
        session.execute(delete(RdapDomain).where(RdapDomain.domain == domain))
        record = answer if isinstance(answer, DomainRecord) else None
        session.add(
            RdapDomain(
                domain=domain,
                record=record.to_dict() if record is not None else None,
                failure=type(answer).__name__ if record is None else None,
                message=str(answer)[:MESSAGE_LIMIT] if record is None else None,
                fetched_at=now,
                expires_at=now + self.ttl,
            )
        )

    def _from_store(self, domain: str, now: datetime) -> Answer | None:
        assert self.store is not None
        with self.store.reading() as session:
            row = session.execute(
                select(
                    RdapDomain.record, RdapDomain.failure, RdapDomain.message, RdapDomain.expires_at
                ).where(RdapDomain.domain == domain, RdapDomain.expires_at > now)
            ).first()
        if row is None:
            return None
        answer: Answer
        if row.failure is not None:
            failure = FAILURES.get(row.failure)
            if failure is None:  # written by a newer version that keeps more kinds: ask again
                return None
            answer = failure(row.message or f"{domain}: {row.failure}")
        elif row.record is not None:
            answer = DomainRecord.from_dict(row.record)
        else:
            return None
        with self._lock:
            self._memory[domain] = (row.expires_at, answer)
        return answer
