"""RDAP networks cached by address range.

A hosting company's network holds thousands of reported URLs; asking the registry once per network
instead of once per URL is what keeps a hotline within the registries' rate limits. A network found
for one address answers for every address inside it until it expires (a week by default: networks
change hands, but rarely within days).

Two layers: the process's own list (no query at all) and, when a store is given, the ``rdap_network``
table, which survives restarts and is shared by every worker on the same database. A round's new
answers are written together at its end (:mod:`hosting.later_writes`).
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, tuple_
from sqlalchemy.orm import Session

from hosting.later_writes import LaterWrites, StoredCache
from hosting.rdap.parse import IPAddress, NetworkRecord
from takedown.clock import Clock
from takedown.models import RdapNetwork
from takedown.store import Store

DEFAULT_TTL = timedelta(days=7)

WRITE_CHUNK = 300
"""Ranges per ``IN`` list when replacing stored ones (three parameters each)."""
PRELOAD_CHUNK = 100
"""Addresses per query when a round's are read ahead (three parameters each)."""

LEAF_PREFIX = {4: 24, 6: 48}
"""A network this small is taken to have no smaller one inside, whatever its type says."""


def coverage(record: NetworkRecord, queried: IPAddress) -> tuple[IPAddress, IPAddress]:
    """The addresses this answer may be reused for.

    RDAP answers with the most specific network holding the queried address. An *assignment*
    (``ASSIGNED PA``, ``DIRECT ASSIGNMENT``, ``REASSIGNED``...) or a small network has nothing more
    specific inside, so it answers for its whole range. An *allocation* to a provider usually has
    customers' assignments inside it, with their own abuse contacts: reusing it for a neighbouring
    address could send a notice to the provider instead of the customer who hosts the content, so
    it is reused only for the address that was asked about.
    """
    kind = (record.network_type or "").upper()
    size = record.end.max_prefixlen - (int(record.end) - int(record.start) + 1).bit_length() + 1
    if ("ASSIGN" in kind and "ALLOC" not in kind) or size >= LEAF_PREFIX[record.start.version]:
        return record.start, record.end
    return queried, queried


def address_key(address: IPAddress) -> str:
    """Fixed-width hex of an address: string order is address order within one IP version."""
    return f"{int(address):0{8 if address.version == 4 else 32}x}"


@dataclass(frozen=True)
class _Entry:
    start: int
    end: int
    expires_at: datetime
    record: NetworkRecord


class NetworkCache(StoredCache):
    def __init__(
        self,
        store: Store | None = None,
        *,
        clock: Clock | None = None,
        ttl: timedelta = DEFAULT_TTL,
        writes: LaterWrites | None = None,
    ) -> None:
        super().__init__(store, clock=clock, ttl=ttl, writes=writes)
        self._memory: dict[int, list[_Entry]] = {4: [], 6: []}
        """Per IP version, sorted by start address."""
        self._not_stored: set[tuple[int, int]] = set()
        """While a round's addresses are preloaded: those the store held no network for."""

    def get(self, address: str | IPAddress) -> NetworkRecord | None:
        """The most specific unexpired network holding ``address``, or ``None``."""
        ip = ipaddress.ip_address(address)
        now = self.clock.now()
        record = self._from_memory(ip, now)
        if record is None and self.store is not None:
            with self._lock:
                skip_store = (ip.version, int(ip)) in self._not_stored
            if not skip_store:
                record = self._from_store(ip, now)
        self._counted(record is not None)
        return record

    @contextmanager
    def preloaded(self, addresses: Iterable[str]) -> Iterator[None]:
        """Read the stored networks holding a round's known addresses (where its cases were last
        seen live) in a few queries, instead of a query and a session for each network's first
        address on the round's threads. An address the store has nothing for is not looked up in
        it again until the end of the round: the registry is asked, as it would have been."""
        now = self.clock.now()
        wanted: dict[tuple[int, int], IPAddress] = {}
        for text in addresses:
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                continue
            if self._from_memory(ip, now) is None:
                wanted[(ip.version, int(ip))] = ip
        if self.store is None or not wanted:
            yield
            return
        asked = list(wanted.values())
        found: dict[tuple[int, str, str], tuple[Any, datetime]] = {}
        with self.store.reading() as session:
            # A range holding an address starts at most the widest range's span below it: with that
            # bound, each address reads only the few ranges starting just below it, not every one.
            widest = {4: -1, 6: -1}
            for version, start_key, end_key in session.execute(
                select(RdapNetwork.ip_version, RdapNetwork.start_key, RdapNetwork.end_key).where(
                    RdapNetwork.expires_at > now
                )
            ):
                widest[version] = max(widest[version], int(end_key, 16) - int(start_key, 16))
            asked = [ip for ip in asked if widest[ip.version] >= 0]  # none stored for its version
            for start in range(0, len(asked), PRELOAD_CHUNK):
                holding = [
                    and_(
                        RdapNetwork.ip_version == ip.version,
                        RdapNetwork.start_key
                        >= address_key(_from_int(ip.version, int(ip) - widest[ip.version])),
                        RdapNetwork.start_key <= address_key(ip),
                        RdapNetwork.end_key >= address_key(ip),
                    )
                    for ip in asked[start : start + PRELOAD_CHUNK]
                ]
                for row in session.execute(
                    select(*_STORED).where(or_(*holding), RdapNetwork.expires_at > now)
                ):
                    found[(row.ip_version, row.start_key, row.end_key)] = (row.record, row.expires_at)
        # Remembered widest first among ranges that start together, so that memory prefers the
        # narrowest, as a query of the store does (the latest start, then the earliest end).
        ordered = sorted(found.items(), key=lambda item: item[0][2], reverse=True)
        ordered.sort(key=lambda item: item[0][:2])  # stable: the widest stays first in a tie
        for (version, start_key, end_key), (record, expires_at) in ordered:
            low, high = (_from_key(version, key) for key in (start_key, end_key))
            self._remember(NetworkRecord.from_dict(record), low, high, expires_at)
        missing = {key for key, ip in wanted.items() if self._from_memory(ip, now) is None}
        with self._lock:
            self._not_stored = missing
        try:
            yield
        finally:
            with self._lock:
                self._not_stored = set()

    def put(self, record: NetworkRecord, queried: str | IPAddress) -> None:
        """Remember ``record``, the answer for ``queried``, for as much as :func:`coverage` allows."""
        now = self.clock.now()
        low, high = coverage(record, ipaddress.ip_address(queried))
        self._remember(record, low, high, now + self.ttl)
        if self.writes is not None:
            self.writes.write("network", self._write_all, (record, low, high, now))

    def _write_all(
        self, session: Session, answers: Sequence[tuple[NetworkRecord, IPAddress, IPAddress, datetime]]
    ) -> None:
        """Store each answer for its range, replacing an older answer for the same range (the
        latest of a round's answers for one range wins)."""
        latest = {}
        for record, low, high, fetched_at in answers:
            key = (record.start.version, address_key(low), address_key(high))
            latest[key] = {
                "registry_name": record.registry,
                "handle": record.handle[:255],
                "ip_version": key[0],
                "start_key": key[1],
                "end_key": key[2],
                "record": record.to_dict(),
                "fetched_at": fetched_at,
                "expires_at": fetched_at + self.ttl,
            }
        keys = list(latest)
        for start in range(0, len(keys), WRITE_CHUNK):
            session.execute(
                delete(RdapNetwork).where(
                    tuple_(RdapNetwork.ip_version, RdapNetwork.start_key, RdapNetwork.end_key).in_(
                        keys[start : start + WRITE_CHUNK]
                    )
                )
            )
        session.execute(insert(RdapNetwork), list(latest.values()))

    def _remember(self, record: NetworkRecord, low: IPAddress, high: IPAddress, expires_at: datetime) -> None:
        entry = _Entry(int(low), int(high), expires_at, record)
        with self._lock:
            entries = self._memory[record.start.version]
            entries[:] = [e for e in entries if (e.start, e.end) != (entry.start, entry.end)]
            bisect.insort(entries, entry, key=lambda e: e.start)

    def _from_memory(self, ip: IPAddress, now: datetime) -> NetworkRecord | None:
        value = int(ip)
        with self._lock:
            entries = self._memory[ip.version]
            # Every entry starting at or before the address is a candidate; the latest start that
            # still covers it is the most specific (registries' ranges nest, they do not overlap).
            index = bisect.bisect_right(entries, value, key=lambda e: e.start)
            for entry in reversed(entries[:index]):
                if entry.end >= value and entry.expires_at > now:
                    return entry.record
        return None

    def _from_store(self, ip: IPAddress, now: datetime) -> NetworkRecord | None:
        assert self.store is not None
        key = address_key(ip)
        with self.store.reading() as session:
            row = session.execute(
                select(*_STORED)
                .where(
                    RdapNetwork.ip_version == ip.version,
                    RdapNetwork.start_key <= key,
                    RdapNetwork.end_key >= key,
                    RdapNetwork.expires_at > now,
                )
                .order_by(RdapNetwork.start_key.desc(), RdapNetwork.end_key.asc())
                .limit(1)
            ).first()
        if row is None:
            return None
        record = NetworkRecord.from_dict(row.record)
        low, high = (_from_key(ip.version, key) for key in (row.start_key, row.end_key))
        self._remember(record, low, high, row.expires_at)
        return record


_STORED = (
    RdapNetwork.ip_version,
    RdapNetwork.record,
    RdapNetwork.start_key,
    RdapNetwork.end_key,
    RdapNetwork.expires_at,
)


def _from_int(version: int, value: int) -> IPAddress:
    """The address ``value``, or the lowest of its version when ``value`` is below it."""
    return ipaddress.IPv4Address(max(0, value)) if version == 4 else ipaddress.IPv6Address(max(0, value))


def _from_key(version: int, key: str) -> IPAddress:
    value = int(key, 16)
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)
