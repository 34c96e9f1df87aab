"""Finding the stored network that holds an address: the same answer from memory, from the store and
from a round's read-ahead, for any ranges (nested, overlapping, expired, replaced), and with work
that does not grow with the networks stored."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, text

from hosting.cache import NetworkCache, span_bits
from hosting.later_writes import LaterWrites
from hosting.rdap.parse import AbuseContacts, IPAddress, NetworkRecord
from takedown.clock import ManualClock
from takedown.models import RdapNetwork
from takedown.sql_writes import time_to_store
from takedown.store import Store

V4_BASE = int(ipaddress.IPv4Address("10.0.0.0"))
V6_BASE = int(ipaddress.IPv6Address("2001:db8::"))
TTL = timedelta(days=7)


def assignment(version: int, start: int, end: int, name: str) -> NetworkRecord:
    """An assignment: nothing more specific inside, so it answers for its whole range."""
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return NetworkRecord(
        registry="ripe",
        handle=name,
        name=name,
        start=make(start),
        end=make(end),
        organisation=name,
        country="NL",
        abuse=AbuseContacts((f"abuse@{name.lower()}.test",), "abuse"),
        network_type="ASSIGNED PA",
    )


def v4_ranges(universe: int = 4096) -> st.SearchStrategy[tuple[int, int, int]]:
    return st.integers(0, universe - 1).flatmap(
        lambda start: st.tuples(
            st.just(4),
            st.just(V4_BASE + start),
            st.integers(0, universe - 1 - start).map(lambda span: V4_BASE + start + span),
        )
    )


def v6_ranges() -> st.SearchStrategy[tuple[int, int, int]]:
    """Spans of up to 70 bits: beyond anything an IPv4 range can have."""
    return st.tuples(st.integers(0, 1 << 70), st.integers(0, 1 << 70)).map(
        lambda pair: (6, V6_BASE + pair[0], V6_BASE + pair[0] + pair[1])
    )


def address(version: int, value: int) -> IPAddress:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


@contextmanager
def emptied(store: Store) -> Iterator[None]:
    with store.session() as session:
        session.execute(delete(RdapNetwork))
    yield


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    older=st.lists(st.one_of(v4_ranges(), v6_ranges()), max_size=8),
    newer=st.lists(st.one_of(v4_ranges(), v6_ranges()), max_size=8),
    probes=st.lists(
        st.one_of(
            st.integers(0, 4200).map(lambda offset: (4, V4_BASE + offset)),
            st.integers(0, 1 << 71).map(lambda offset: (6, V6_BASE + offset)),
        ),
        max_size=12,
    ),
    extra=st.lists(st.sampled_from([0, 1, -1]), max_size=1),
)
def test_memory_the_store_and_the_read_ahead_find_the_most_specific_unexpired_range(
    store: Store,
    older: list[tuple[int, int, int]],
    newer: list[tuple[int, int, int]],
    probes: list[tuple[int, int]],
    extra: list[int],
) -> None:
    """Ranges stored a week apart (the older ones expired, unless stored again since), then each
    address asked three ways; every way gives the range a full scan would: of the unexpired ranges
    holding it, the latest start, then the earliest end."""
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    with emptied(store):
        expires: dict[tuple[int, int, int], datetime] = {}
        remembered = NetworkCache(store, clock=clock, ttl=TTL, writes=(writes := LaterWrites(store)))
        for batch in (older, newer):
            with writes.holding():
                for version, start, end in batch:
                    remembered.put(
                        assignment(version, start, end, f"N{version}-{start}-{end}"), address(version, start)
                    )
                    expires[(version, start, end)] = clock.now() + TTL
            clock.advance(timedelta(days=5))
        # the probes include every range's edges, and just outside them
        edges = [(v, edge + d) for (v, s, e) in expires for edge in (s, e) for d in (0, *extra)]
        asked = [address(v, value) for v, value in [*probes, *edges] if value >= 0]

        def by_scan(ip: IPAddress) -> str | None:
            holding = [
                (start, -end, f"N{version}-{start}-{end}")
                for (version, start, end), until in expires.items()
                if version == ip.version and start <= int(ip) <= end and until > clock.now()
            ]
            return max(holding)[2] if holding else None

        expected = [by_scan(ip) for ip in asked]
        from_memory = [found.name if (found := remembered.get(ip)) else None for ip in asked]
        from_store = [
            found.name if (found := NetworkCache(store, clock=clock).get(ip)) else None for ip in asked
        ]
        ahead = NetworkCache(store, clock=clock)
        with ahead.preloaded([str(ip) for ip in asked]):
            read_ahead = [found.name if (found := ahead.get(ip)) else None for ip in asked]
        assert from_memory == expected
        assert from_store == expected
        assert read_ahead == expected


def test_span_bits_bound_where_a_range_can_start() -> None:
    assert [span_bits(0, end) for end in (0, 1, 2, 3, 255, 256)] == [0, 1, 2, 2, 8, 9]
    assert span_bits(0, (1 << 128) - 1) == 128


def _stored_slash24s(store: Store, clock: ManualClock, count: int) -> None:
    writes = LaterWrites(store)
    cache = NetworkCache(store, clock=clock, writes=writes)
    with writes.holding():
        for n in range(count):
            start = V4_BASE + (n << 9)  # every other /24, so that the probes below fall between them
            cache.put(assignment(4, start, start + 255, f"NET-{n}"), address(4, start))


def _sqlite_steps(store: Store, ask: Any) -> int:
    """SQLite's virtual machine steps for the queries ``ask`` makes: the work of reading, counted
    rather than timed."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    def started(conn: Any, *args: Any) -> None:
        conn.connection.driver_connection.set_progress_handler(count, 1)

    def ended(conn: Any, *args: Any) -> None:
        conn.connection.driver_connection.set_progress_handler(None, 1)

    event.listen(store.engine, "before_cursor_execute", started)
    event.listen(store.engine, "after_cursor_execute", ended)
    try:
        ask()
    finally:
        event.remove(store.engine, "before_cursor_execute", started)
        event.remove(store.engine, "after_cursor_execute", ended)
    return steps[0]


def test_looking_for_an_address_no_stored_range_holds_reads_the_same_however_many_are_stored(
    tmp_path: Any, clock: ManualClock
) -> None:
    """The work of a lookup that misses (a round's new host) stays flat from 20 to 2,000 stored
    networks; reading back through every range that starts below the address, it grew a
    hundredfold."""
    from takedown.settings import sqlite_url

    work = []
    for count in (20, 2000):
        store = Store.open(sqlite_url(tmp_path / f"{count}.db"))
        try:
            _stored_slash24s(store, clock, count)
            beyond = V4_BASE + ((count + 5) << 9) + 300  # above every stored range, held by none
            between = V4_BASE + ((count // 2) << 9) + 300  # in the gap after a range halfway up
            fresh = NetworkCache(store, clock=clock)
            misses = [address(4, beyond), address(4, between)]
            work.append(_sqlite_steps(store, lambda: [fresh.get(ip) for ip in misses]))  # noqa: B023
            assert fresh.get(address(4, V4_BASE + 7)).name == "NET-0"  # type: ignore[union-attr]
        finally:
            store.dispose()
    few, many = work
    assert many < 2 * few, work


def test_an_upgraded_store_keeps_its_networks_and_finds_them_by_span(
    database_url: str, clock: ManualClock
) -> None:
    """Migration 0033 computes the span of every range already stored: the cache survives the
    upgrade, and each stored network still answers for the addresses it holds."""
    from alembic import command

    from takedown.store import alembic_config

    store = Store.open(database_url)
    try:
        config = alembic_config()
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0032")
        wide = assignment(4, V4_BASE, V4_BASE + (1 << 16) - 1, "WIDE")
        narrow = assignment(4, V4_BASE + 512, V4_BASE + 767, "NARROW")
        # an allocation, kept for the one address asked about (customers' assignments lie inside it)
        single = dataclasses.replace(
            assignment(4, V4_BASE + 8192, V4_BASE + 12287, "ONE"), network_type="ALLOCATED PA"
        )
        rows = [(wide, wide.start, wide.end), (narrow, narrow.start, narrow.end)]
        rows.append((single, address(4, V4_BASE + 9000), address(4, V4_BASE + 9000)))
        stored_time = time_to_store(store.engine.dialect.name)
        with store.engine.begin() as connection:
            for n, (record, low, high) in enumerate(rows):
                connection.execute(
                    text(
                        "INSERT INTO rdap_network (id, registry, handle, ip_version, start_key, end_key, "
                        "record, fetched_at, expires_at) VALUES (:id, 'ripe', :handle, 4, :start, :end, "
                        ":record, :fetched, :expires)"
                    ),
                    {
                        "id": n + 1,
                        "handle": record.handle,
                        "start": f"{int(low):08x}",
                        "end": f"{int(high):08x}",
                        "record": json.dumps(record.to_dict()),
                        "fetched": stored_time(clock.now()),
                        "expires": stored_time(clock.now() + TTL),
                    },
                )
        store.upgrade()
        with store.reading() as session:
            spans = sorted(session.execute(text("SELECT handle, span_bits FROM rdap_network")).all())
        assert spans == [("NARROW", 8), ("ONE", 0), ("WIDE", 16)]
        names = [NetworkCache(store, clock=clock).get(address(4, V4_BASE + n)) for n in (600, 5, 9000, 9001)]
        assert [found.name if found else None for found in names] == ["NARROW", "WIDE", "ONE", "WIDE"]
    finally:
        store.dispose()
