"""The store's RDAP caches (networks by range, registrations by domain), on each database."""

from __future__ import annotations

import dataclasses
import ipaddress
from datetime import timedelta

from sqlalchemy import event

from hosting.cache import NetworkCache
from hosting.domain_cache import DomainCache
from hosting.errors import NotFound
from hosting.later_writes import LaterWrites
from hosting.rdap.parse import AbuseContacts, DomainRecord, NetworkRecord
from takedown.clock import ManualClock
from takedown.store import Store


def network(abuse: str) -> NetworkRecord:
    return NetworkRecord(
        registry="ripe",
        handle="10.1.0.0 - 10.1.0.255",
        name="EXAMPLE-NET",
        start=ipaddress.ip_address("10.1.0.0"),
        end=ipaddress.ip_address("10.1.0.255"),
        organisation="Example Hosting",
        country="NL",
        abuse=AbuseContacts((abuse,), "abuse"),
        network_type="ASSIGNED PA",
    )


def registration(abuse: str) -> DomainRecord:
    return DomainRecord("example.test", "Example Registrar", "9999", AbuseContacts((abuse,), "abuse"))


def test_a_round_that_hears_twice_about_one_range_or_domain_keeps_the_later_answer(
    store: Store, clock: ManualClock
) -> None:
    """Two threads of a round can each ask about the same range or domain: the round's writes go
    in one bulk statement each, which must not hold the same key twice (the unique key would refuse
    the whole round), and the later answer is the one kept."""
    writes = LaterWrites(store)
    networks = NetworkCache(store, clock=clock, writes=writes)
    domains = DomainCache(store, clock=clock, writes=writes)
    with writes.holding():
        networks.put(network("old@example.test"), "10.1.0.1")
        domains.put("example.test", registration("old@registrar.test"))
        domains.put("gone.test", NotFound("gone.test: no such domain"))
        networks.put(network("new@example.test"), "10.1.0.2")
        domains.put("example.test", registration("new@registrar.test"))
    fresh_networks, fresh_domains = NetworkCache(store, clock=clock), DomainCache(store, clock=clock)
    assert fresh_networks.get("10.1.0.77") == network("new@example.test")
    assert fresh_domains.get("example.test") == registration("new@registrar.test")
    gone = fresh_domains.get("gone.test")
    assert isinstance(gone, NotFound) and str(gone) == "gone.test: no such domain"


def test_a_registration_kept_in_memory_expires_too(clock: ManualClock) -> None:
    """A long-lived resolver (``takedown resolve`` in a loop, a test) must not keep a registrar for
    longer than a process that reads the store would."""
    domains = DomainCache(clock=clock, ttl=timedelta(hours=24))
    domains.put("example.test", registration("abuse@registrar.test"))
    clock.advance(timedelta(hours=23, minutes=59))
    assert domains.get("example.test") == registration("abuse@registrar.test")
    clock.advance(timedelta(minutes=2))
    assert domains.get("example.test") is None


def block(n: int) -> NetworkRecord:
    """Network 10.n.0.0/24, its own abuse desk."""
    start, end = ipaddress.ip_address(f"10.{n}.0.0"), ipaddress.ip_address(f"10.{n}.0.255")
    return dataclasses.replace(network(f"n{n}@example.test"), start=start, end=end)


def test_expired_answers_are_forgotten_and_the_live_ones_still_answer(
    store: Store, clock: ManualClock
) -> None:
    """An answer never asked for again would stay in the store for good: housekeeping deletes the
    expired networks and registrations (in chunks, each its own transaction), and nothing else."""
    from sqlalchemy import func, select

    from hosting.expired_answers import ForgottenAnswers, forget_expired_answers
    from takedown.models import RdapDomain, RdapNetwork

    writes = LaterWrites(store)
    networks = NetworkCache(store, clock=clock, ttl=timedelta(days=7), writes=writes)
    domains = DomainCache(store, clock=clock, ttl=timedelta(days=1), writes=writes)
    with writes.holding():
        for n in range(5):
            networks.put(block(n), f"10.{n}.0.1")
            domains.put(f"old{n}.test", registration(f"r{n}@registrar.test"))
        domains.put("gone.test", NotFound("gone.test: no such domain"))
    clock.advance(timedelta(days=2))  # every registration has expired; every network is live
    with writes.holding():
        domains.put("example.test", registration("live@registrar.test"))

    assert forget_expired_answers(store, now=clock.now(), chunk=2) == ForgottenAnswers(0, 6)
    fresh_networks, fresh_domains = NetworkCache(store, clock=clock), DomainCache(store, clock=clock)
    assert fresh_domains.get("example.test") == registration("live@registrar.test")
    assert fresh_networks.get("10.3.0.200") == block(3)
    clock.advance(timedelta(days=6))  # now the networks have expired too, and the live registration
    forgotten = forget_expired_answers(store, now=clock.now())
    assert forgotten == ForgottenAnswers(5, 1) and forgotten
    assert not forget_expired_answers(store, now=clock.now())
    with store.reading() as session:
        assert session.scalar(select(func.count()).select_from(RdapNetwork)) == 0
        assert session.scalar(select(func.count()).select_from(RdapDomain)) == 0


def test_a_rounds_preloaded_networks_answer_as_the_store_would(store: Store, clock: ManualClock) -> None:
    """Read ahead for a round's addresses, the networks answer as one query per address would: the
    narrowest of the ranges holding an address (here two start together), the wider one for its
    other addresses, and nothing, without asking the store again, where none holds it."""
    wide = dataclasses.replace(
        network("abuse@wide.test"),
        start=ipaddress.ip_address("10.1.0.0"),
        end=ipaddress.ip_address("10.1.255.255"),
        organisation="Wide",
    )
    narrow = dataclasses.replace(network("abuse@narrow.test"), organisation="Narrow")
    writes = LaterWrites(store)
    with writes.holding():
        cache = NetworkCache(store, clock=clock, writes=writes)
        cache.put(narrow, "10.1.0.1")
        cache.put(wide, "10.1.9.1")
    asked_one_by_one = NetworkCache(store, clock=clock)
    addresses = ("10.1.0.7", "10.1.9.9", "10.1.255.255", "10.2.0.1", "::1")
    expected = [asked_one_by_one.get(address) for address in addresses]
    assert [found.organisation if found else None for found in expected] == [
        "Narrow",
        "Wide",
        "Wide",
        None,
        None,
    ]
    preloaded = NetworkCache(store, clock=clock)
    asked: list[str] = []
    with preloaded.preloaded([*addresses, "not an address"]):
        event.listen(store.engine, "before_cursor_execute", lambda *args: asked.append(str(args[2])))
        found = [preloaded.get(address) for address in addresses]
    assert found == expected
    assert asked == []  # within the round, the store is not asked again
    at_the_edge = NetworkCache(store, clock=clock)  # the widest range's last address, alone
    with at_the_edge.preloaded(["10.1.255.255"]):
        assert at_the_edge.get("10.1.255.255") == wide
