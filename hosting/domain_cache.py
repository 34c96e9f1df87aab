"""Domain registrations cached by registered domain.

The registrar of a domain changes with a transfer, which is rare and slow; its registry's answer
does not change between two notice rounds an hour apart. Without this cache every round asked the
registry again for every domain with a case due in it (the daemon builds a new resolver for each
round), so a site chased for weeks cost its registry a query in every round it was due in, and
each round waited on them. An answer is kept for a day by
default (``TAKEDOWN_RDAP_DOMAIN_CACHE_HOURS``): a transfer or a registrar's new abuse desk is seen
by the next day's rounds.

Final failures are kept too: "no such domain" (RDAP 404) and "no RDAP service for this TLD" would
be answered the same way again. Passing failures (rate limiting, a registry down) never are.

Two layers, as for networks (:mod:`hosting.cache`): the process's own dictionary and, when a store
is given, the ``rdap_domain`` table, shared by every worker on the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, insert, select
from sqlalchemy.orm import Session

from hosting.errors import NotFound, Unsupported
from hosting.later_writes import LaterWrites, StoredCache
from hosting.rdap.parse import DomainRecord
from takedown.clock import Clock
from takedown.models import RdapDomain
from takedown.store import Store

DEFAULT_TTL = timedelta(days=1)

Answer = DomainRecord | NotFound | Unsupported
"""What a registry said about a domain that is worth keeping."""
FAILURES: dict[str, type[NotFound | Unsupported]] = {"NotFound": NotFound, "Unsupported": Unsupported}
MESSAGE_LIMIT = 500
PRELOAD_CHUNK = 500
"""Domains per ``IN`` list (reading or replacing): well inside SQLite's and PostgreSQL's parameter
limits."""
DOMAIN_LIMIT = 253
"""The column's width, a DNS name's longest: a longer one is kept in memory only."""


class DomainCache(StoredCache):
    def __init__(
        self,
        store: Store | None = None,
        *,
        clock: Clock | None = None,
        ttl: timedelta = DEFAULT_TTL,
        writes: LaterWrites | None = None,
    ) -> None:
        super().__init__(store, clock=clock, ttl=ttl, writes=writes)
        self._memory: dict[str, tuple[datetime, Answer]] = {}
        self._not_stored: set[str] = set()
        """While :meth:`preloaded` holds: domains the store had no answer for when it was read."""

    def get(self, domain: str) -> Answer | None:
        """The unexpired answer for ``domain`` (a registration or a final failure), or ``None``."""
        now = self.clock.now()
        with self._lock:
            kept = self._memory.get(domain)
            skip_store = domain in self._not_stored
        answer = kept[1] if kept is not None and kept[0] > now else None
        if answer is None and self.store is not None and not skip_store:
            answer = self._from_store(domain, now)
        self._counted(answer is not None)
        return answer

    @contextmanager
    def preloaded(self, domains: Iterable[str]) -> Iterator[None]:
        """Read the stored answers for a round's domains in a few queries, not one per domain.

        A round knows its domains before it resolves anything: one ``IN`` query per
        :data:`PRELOAD_CHUNK` domains replaces a query and a session per domain (most of a
        millisecond each, on a round's thread). Domains the store had nothing for are not looked
        up in it again until the end of the round."""
        now = self.clock.now()
        with self._lock:
            wanted = sorted({d for d in domains if (kept := self._memory.get(d)) is None or kept[0] <= now})
        if self.store is None or not wanted:
            yield
            return
        found: set[str] = set()
        with self.store.reading() as session:
            for start in range(0, len(wanted), PRELOAD_CHUNK):
                chunk = wanted[start : start + PRELOAD_CHUNK]
                for row in session.execute(
                    select(*COLUMNS).where(RdapDomain.domain.in_(chunk), RdapDomain.expires_at > now)
                ):
                    answer = _answer(row)
                    if answer is not None:
                        found.add(row.domain)
                        with self._lock:
                            self._memory[row.domain] = (row.expires_at, answer)
        with self._lock:
            self._not_stored = set(wanted) - found
        try:
            yield
        finally:
            with self._lock:
                self._not_stored = set()

    def put(self, domain: str, answer: Answer) -> None:
        now = self.clock.now()
        with self._lock:
            self._memory[domain] = (now + self.ttl, answer)
        if self.writes is not None and len(domain) <= DOMAIN_LIMIT:
            self.writes.write("registration", self._write_all, (domain, answer, now))

    def _write_all(self, session: Session, answers: Sequence[tuple[str, Answer, datetime]]) -> None:
        """Store the answers, replacing older ones for the same domains (the latest of a round's
        answers for one domain wins)."""
        latest = {}
        for domain, answer, fetched_at in answers:
            record = answer if isinstance(answer, DomainRecord) else None
            latest[domain] = {
                "domain": domain,
                "record": record.to_dict() if record is not None else None,
                "failure": type(answer).__name__ if record is None else None,
                "message": str(answer)[:MESSAGE_LIMIT] if record is None else None,
                "fetched_at": fetched_at,
                "expires_at": fetched_at + self.ttl,
            }
        domains = list(latest)
        for start in range(0, len(domains), PRELOAD_CHUNK):
            session.execute(
                delete(RdapDomain).where(RdapDomain.domain.in_(domains[start : start + PRELOAD_CHUNK]))
            )
        session.execute(insert(RdapDomain), list(latest.values()))

    def _from_store(self, domain: str, now: datetime) -> Answer | None:
        assert self.store is not None
        with self.store.reading() as session:
            row = session.execute(
                select(*COLUMNS).where(RdapDomain.domain == domain, RdapDomain.expires_at > now)
            ).first()
        if row is None:
            return None
        answer = _answer(row)
        if answer is not None:
            with self._lock:
                self._memory[domain] = (row.expires_at, answer)
        return answer


COLUMNS = (
    RdapDomain.domain,
    RdapDomain.record,
    RdapDomain.failure,
    RdapDomain.message,
    RdapDomain.expires_at,
)


def _answer(row: Row[Any]) -> Answer | None:
    """A stored row as the answer it records; ``None`` for a kind this version does not know
    (written by a newer one): the registry is asked again."""
    if row.failure is not None:
        failure = FAILURES.get(row.failure)
        return failure(row.message or f"{row.domain}: {row.failure}") if failure is not None else None
    return DomainRecord.from_dict(row.record) if row.record is not None else None
