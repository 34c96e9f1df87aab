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
import functools
import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, tuple_
from sqlalchemy.orm import Session

from hosting.later_writes import LaterWrites, StoredCache
from hosting.rdap.parse import IPAddress, NetworkRecord
from takedown.clock import Clock
from takedown.models import RdapNetwork
from takedown.sql_reads import reading, stored_json, stored_time
from takedown.sql_writes import time_to_store
from takedown.store import Store

DEFAULT_TTL = timedelta(days=7)

WRITE_CHUNK = 300
"""Ranges per ``IN`` list when replacing stored ones (three parameters each)."""
WINDOWS_PER_QUERY = 500
"""Windows (an address and a span size, two values each) per query when a round's addresses are
read ahead."""
ADDRESS_BITS = {4: 32, 6: 128}
"""The largest span a range can have, in bits, per IP version."""

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
    return _key(address.version, int(address))


def _key(version: int, value: int) -> str:
    return f"{value:0{8 if version == 4 else 32}x}"


def span_bits(start: int, end: int) -> int:
    """Bits in a range's span (``end - start``). A range of ``b`` bits that holds an address starts
    less than ``2 ** b`` below it, so for each span size only the ranges starting in that window
    need reading: finding the range that holds an address is bounded, however many are stored."""
    return (end - start).bit_length()


def _lowest_start(value: int, bits: int) -> int:
    """The lowest start a range of ``bits`` span bits holding the address ``value`` can have."""
    return max(0, value - (1 << bits) + 1)


@dataclass(frozen=True)
class _Entry:
    start: int
    end: int
    expires_at: datetime
    record: NetworkRecord

    def rank(self) -> tuple[int, int]:
        """Higher is more specific: the latest start, then the earliest end (registries' ranges
        nest; of two that start together, the narrower is the inner one)."""
        return self.start, -self.end


class _Ranges:
    """One IP version's remembered ranges, by span size, each size's sorted by start: finding the
    range holding an address is a few binary searches, where a scan of every range starting below
    it grew with the ranges a long-running resolver had met."""

    def __init__(self) -> None:
        self._by_span: dict[int, list[_Entry]] = {}

    def add(self, entry: _Entry) -> None:
        """Remember ``entry``, in place of what was remembered for the same range."""
        entries = self._by_span.setdefault(span_bits(entry.start, entry.end), [])
        low = bisect.bisect_left(entries, entry.start, key=_start)
        high = bisect.bisect_right(entries, entry.start, key=_start)
        for index in range(low, high):
            if entries[index].end == entry.end:
                entries[index] = entry
                return
        entries.insert(high, entry)

    def holding(self, value: int, now: datetime) -> _Entry | None:
        """The most specific unexpired range holding the address ``value``."""
        best: _Entry | None = None
        for bits, entries in self._by_span.items():
            low = bisect.bisect_left(entries, _lowest_start(value, bits), key=_start)
            high = bisect.bisect_right(entries, value, key=_start)
            for index in range(low, high):
                entry = entries[index]
                if (
                    entry.end >= value
                    and entry.expires_at > now
                    and (best is None or entry.rank() > best.rank())
                ):
                    best = entry
        return best


def _start(entry: _Entry) -> int:
    return entry.start


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
        self._memory = {4: _Ranges(), 6: _Ranges()}
        """Per IP version."""
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
        by_version: dict[int, list[int]] = {4: [], 6: []}
        for version, value in wanted:
            by_version[version].append(value)
        found: dict[tuple[int, str, str], tuple[Any, Any]] = {}
        with reading(self.store) as reads:
            stored_now = time_to_store(reads.dialect)(now)
            # Only the span sizes stored are searched: a few windows an address, not one per size.
            # (Reading them walks the index once a round, in the database: 10,000 ranges took
            # less than the rest of the read-ahead.)
            spans: dict[int, list[int]] = {4: [], 6: []}
            for version, bits in reads.stream("SELECT DISTINCT ip_version, span_bits FROM rdap_network"):
                spans[version].append(bits)
            for version, values in by_version.items():
                if not spans[version] or not values:
                    continue
                per_query = max(1, WINDOWS_PER_QUERY // len(spans[version]))
                for first in range(0, len(values), per_query):
                    chunk = values[first : first + per_query]
                    sql = _holding_sql(reads.dialect, version, spans[version] * len(chunk))
                    parameters = [p for value in chunk for p in _windows(version, value, spans[version])]
                    for row in reads.stream(sql, [*parameters, stored_now]):
                        found[(row[0], row[2], row[3])] = (row[1], row[4])
        for (version, start_key, end_key), (record, expires_at) in found.items():
            low, high = (_from_key(version, key) for key in (start_key, end_key))
            self._remember(NetworkRecord.from_dict(stored_json(record)), low, high, stored_time(expires_at))
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
                "span_bits": span_bits(int(low), int(high)),
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
        with self._lock:
            self._memory[record.start.version].add(_Entry(int(low), int(high), expires_at, record))

    def _from_memory(self, ip: IPAddress, now: datetime) -> NetworkRecord | None:
        with self._lock:
            entry = self._memory[ip.version].holding(int(ip), now)
        return entry.record if entry is not None else None

    def _from_store(self, ip: IPAddress, now: datetime) -> NetworkRecord | None:
        assert self.store is not None
        every_span = range(ADDRESS_BITS[ip.version] + 1)
        with reading(self.store) as reads:
            sql = _any_span_sql(reads.dialect, ip.version)
            parameters = [*_windows(ip.version, int(ip), every_span), time_to_store(reads.dialect)(now)]
            # of the ranges holding it, the most specific (chosen here: asked of the database, that
            # order tempted its planner into reading every range in start order)
            holding = [(int(row[2], 16), -int(row[3], 16), row) for row in reads.stream(sql, parameters)]
        if not holding:
            return None
        row = max(holding, key=lambda ranked: ranked[:2])[2]
        record = NetworkRecord.from_dict(stored_json(row[1]))
        low, high = (_from_key(ip.version, key) for key in (row[2], row[3]))
        self._remember(record, low, high, stored_time(row[4]))
        return record


def _holding_sql(dialect: str, version: int, spans: Sequence[int]) -> str:
    """The unexpired ranges holding an address, from a window below it for each span size in
    ``spans`` (two values each, :func:`_windows`, then the time now): one probe of
    ``ix_rdap_network_span`` a window.

    The windows are a table of values joined to the ranges; on PostgreSQL laterally, behind
    ``OFFSET 0``, or its planner may hash the whole table instead (12 ms against 1 ms a lookup
    with 10,000 networks stored). Written as ``OR``ed terms, SQLite searched by IP version alone
    (every range of it), an IPv6 lookup on PostgreSQL took three times as long (15 against 5 ms,
    planning 129 of them), and SQLAlchemy took 40 ms to build them. The version and the sizes are
    written in: numbers of ours, not input."""
    bound = "?" if dialect == "sqlite" else "%s"
    windows = ", ".join(f"({bits}, {bound}, {bound})" for bits in spans)
    holds = (
        f"n.ip_version = {version} AND n.span_bits = w.bits AND n.start_key >= w.low "
        f"AND n.start_key <= w.address AND n.end_key >= w.address AND n.expires_at > {bound}"
    )
    if dialect == "postgresql":
        return (
            f"SELECT n.{', n.'.join(_COLUMNS)} FROM (VALUES {windows}) AS w (bits, low, address) "
            f"CROSS JOIN LATERAL (SELECT * FROM rdap_network n WHERE {holds} OFFSET 0) AS n"
        )
    return (
        f"WITH w (bits, low, address) AS (VALUES {windows}) "
        f"SELECT n.{', n.'.join(_COLUMNS)} FROM w JOIN rdap_network n ON {holds}"
    )


_COLUMNS = ("ip_version", "record", "start_key", "end_key", "expires_at")


def _windows(version: int, value: int, spans: Iterable[int]) -> list[str]:
    """For each span size, where a range of that size holding the address ``value`` must start:
    its lowest possible start, and the address."""
    key = _key(version, value)
    return [part for bits in spans for part in (_key(version, _lowest_start(value, bits)), key)]


@functools.cache
def _any_span_sql(dialect: str, version: int) -> str:
    return _holding_sql(dialect, version, range(ADDRESS_BITS[version] + 1))


def _from_key(version: int, key: str) -> IPAddress:
    value = int(key, 16)
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)
