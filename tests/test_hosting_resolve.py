"""Hosting resolution against the sandbox's DNS, IP-to-ASN zone and RDAP registries (real servers)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from faces.cli import App, cli
from hosting.errors import RateLimited
from hosting.factory import resolver_from_settings
from hosting.rdap.client import RDAPClient
from hosting.resolve import HostingResolver, Resolution
from sandbox import Autnum, Network, Registration, Sandbox
from sandbox.registry_shapes import DOMAIN_REGISTRY
from takedown import exitcodes
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.models import Hosting
from takedown.reports import Report, validate_report
from takedown.revisits import Fetch, record_fetches
from takedown.settings import Settings
from takedown.store import Store
from tests.closing import closed_after_test

# One host per registry shape, each on its own address and network, plus the awkward cases.
HOSTS = {
    "arin-host.test": "127.0.1.1",
    "ripe-host.test": "127.0.2.1",
    "apnic-host.test": "127.0.3.1",
    "lacnic-host.test": "127.0.4.1",
    "afrinic-host.test": "127.0.5.1",
    "no-abuse-apnic.test": "127.0.6.1",
    "no-roles-afrinic.test": "127.0.7.1",
    "no-contact.test": "127.0.8.1",
    "edge.sandcdn.test": "127.0.9.1",
    "cdn-by-asn.test": "127.0.10.1",
    "in-allocation.test": "127.11.0.1",
    "neighbour.test": "127.11.0.2",
}
NETWORKS = [
    Network("127.0.1.0/24", "arin", "Arin Hosting LLC", "US", abuse="abuse@arin-host.test", asn=64501),
    Network("127.0.2.0/24", "ripe", "Ripe Hosting B.V.", "NL", abuse="abuse@ripe-host.test", asn=64502),
    Network("127.0.3.0/24", "apnic", "Apnic Hosting Pty", "AU", abuse="abuse@apnic-host.test", asn=64503),
    Network("127.0.4.0/24", "lacnic", "Lacnic Hosting SA", "UY", abuse="abuse@lacnic-host.test", asn=64504),
    Network(
        "127.0.5.0/24", "afrinic", "Afrinic Hosting Ltd", "MU", abuse="abuse@afrinic-host.test", asn=64505
    ),
    Network("127.0.6.0/24", "apnic", "National Registry", "JP", technical="hostmaster@nir.test", asn=64506),
    Network("127.0.7.0/24", "afrinic", "Quiet Hosting", "KE", technical="noc@quiet.test", asn=64507),
    Network("127.0.8.0/24", "ripe", "Silent Hosting", "DE", asn=64508),
    Network("127.0.9.0/24", "apnic", "SandCDN Pty Ltd", "AU", abuse="abuse@sandcdn.test", asn=64499),
    Network("127.0.10.0/24", "apnic", "SandCDN Pty Ltd", "AU", abuse="abuse@sandcdn.test", asn=64499),
    Network(
        "127.11.0.0/16", "ripe", "Big Provider", "FR", abuse="abuse@big.test", asn=64509, kind="ALLOCATED PA"
    ),
]
AUTNUMS = [
    Autnum(
        64501, "arin", "ARIN-HOST", "Arin Hosting LLC", "US", "abuse@arin-host.test", peers=(64510, 64511)
    ),
    Autnum(64502, "ripe", "RIPE-HOST", "Ripe Hosting B.V.", "NL", "abuse@ripe-host.test", peers=(64510,)),
    Autnum(64510, "ripe", "TRANSIT-ONE", "Transit One plc", "GB", "abuse@transit-one.test"),
    Autnum(64511, "lacnic", "TRANSIT-TWO", "Transit Two SA", "BR", None),
]
REGISTRATIONS = [
    Registration("arin-host.test", "Example Registrar, Inc.", "9991", "abuse@registrar.test"),
    Registration("ripe-host.test", "Quiet Registrar", "9993", None),
]


@pytest.fixture(scope="module")
def world() -> Iterator[Sandbox]:
    with Sandbox(
        HOSTS,
        extra_records={"cdn-fronted.test": {"CNAME": ["edge.sandcdn.test"]}},
        networks=NETWORKS,
        autnums=AUTNUMS,
        registrations=REGISTRATIONS,
    ) as sandbox:
        yield sandbox


def make_resolver(world: Sandbox, clock: ManualClock, store: Store | None = None) -> HostingResolver:
    """Wired as ``takedown resolve`` wires it, from the environment the sandbox gives."""
    settings = Settings.from_env({**world.environment(), "TAKEDOWN_DATABASE_URL": "sqlite://"})
    return closed_after_test(resolver_from_settings(settings, store=store, clock=clock))


@pytest.fixture
def resolver(world: Sandbox, clock: ManualClock) -> HostingResolver:
    return make_resolver(world, clock)


@pytest.mark.parametrize(
    ("host", "organisation", "email", "country"),
    [
        ("arin-host.test", "Arin Hosting LLC", "abuse@arin-host.test", "US"),  # nested in registrant
        ("ripe-host.test", "Ripe Hosting B.V.", "abuse@ripe-host.test", "NL"),
        ("apnic-host.test", "Apnic Hosting Pty", "abuse@apnic-host.test", "AU"),  # IRT object
        (
            "lacnic-host.test",
            "Lacnic Hosting SA",
            "abuse@lacnic-host.test",
            "UY",
        ),  # nested, upper-case domain
        ("afrinic-host.test", "Afrinic Hosting Ltd", "abuse@afrinic-host.test", "MU"),
    ],
)
def test_every_registry_shape_gives_the_hosting_abuse_contact(
    world: Sandbox, resolver: HostingResolver, host: str, organisation: str, email: str, country: str
) -> None:
    result = resolver.resolve(world.url(host, "/x.jpg"))
    hosting = result.party("hosting")
    assert hosting is not None
    assert (hosting.name, hosting.emails, hosting.contact_source, hosting.country) == (
        organisation,
        (email,),
        "abuse",
        country,
    )
    assert result.network is not None and result.network.cidrs == [f"{HOSTS[host].rsplit('.', 1)[0]}.0/24"]
    assert result.route is not None and result.route.origin_asns == (hosting.asn,)


def test_arin_abuse_contact_is_found_although_nested_under_the_registrant(
    world: Sandbox, resolver: HostingResolver
) -> None:
    document = world.rdap.answer("/arin/ip/127.0.1.1")[1]
    assert all("abuse" not in entity["roles"] for entity in document["entities"])  # not at the top
    result = resolver.resolve(world.url("arin-host.test", "/"))
    assert result.network is not None and result.network.abuse.emails == ("abuse@arin-host.test",)


def test_without_an_abuse_role_the_technical_contact_is_used_and_marked_so(
    world: Sandbox, resolver: HostingResolver
) -> None:
    apnic = resolver.resolve(world.url("no-abuse-apnic.test", "/")).party("hosting")
    assert apnic is not None and apnic.emails == ("hostmaster@nir.test",)
    assert apnic.contact_source == "fallback:technical"
    afrinic = resolver.resolve(world.url("no-roles-afrinic.test", "/")).party("hosting")
    assert afrinic is not None and afrinic.emails == ("noc@quiet.test",)
    assert afrinic.contact_source == "fallback:unlabelled"


def test_a_network_without_any_mailbox_is_reported_as_such_and_the_rest_still_resolves(
    world: Sandbox, resolver: HostingResolver
) -> None:
    result = resolver.resolve(world.url("no-contact.test", "/"))
    hosting = result.party("hosting")
    assert hosting is not None and hosting.emails == () and hosting.contact_source == "none"
    assert hosting.name == "Silent Hosting"


def test_registrar_and_its_abuse_contact_come_from_domain_rdap(
    world: Sandbox, resolver: HostingResolver
) -> None:
    result = resolver.resolve(world.url("www.arin-host.test", "/a"), connected_ip="127.0.1.1")
    assert result.registered_domain == "arin-host.test"
    registrar = result.party("registrar")
    assert registrar is not None
    assert (registrar.name, registrar.emails) == ("Example Registrar, Inc.", ("abuse@registrar.test",))
    assert result.domain is not None and result.domain.registrar_iana_id == "9991"
    quiet = resolver.resolve(world.url("ripe-host.test", "/")).party("registrar")
    assert quiet is not None and quiet.emails == () and quiet.contact_source == "none"


def test_upstreams_are_the_escalation_contacts(world: Sandbox, resolver: HostingResolver) -> None:
    result = resolver.resolve(world.url("arin-host.test", "/"))
    upstreams = [p for p in result.parties if p.role == "upstream"]
    assert [(p.asn, p.name, p.emails) for p in upstreams] == [
        (64510, "Transit One plc", ("abuse@transit-one.test",)),
        (64511, "Transit Two SA", ()),
    ]


def test_a_cdn_fronted_host_names_the_cdn_as_recipient_not_a_host(
    world: Sandbox, resolver: HostingResolver
) -> None:
    result = resolver.resolve(world.url("cdn-fronted.test", "/v/clip.mp4"))
    assert result.cname_chain == ("edge.sandcdn.test",)
    assert result.cdn is not None and result.cdn.cdn.name == "SandCDN"
    assert result.cdn.evidence == "CNAME edge.sandcdn.test"
    roles = [p.role for p in result.parties]
    assert "cdn" in roles and "hosting" not in roles and "upstream" not in roles
    cdn = result.party("cdn")
    assert cdn is not None and cdn.emails == ("abuse@sandcdn.test",)


def test_a_cdn_is_also_recognised_by_its_origin_as(world: Sandbox, resolver: HostingResolver) -> None:
    result = resolver.resolve(world.url("cdn-by-asn.test", "/"))
    assert result.cname_chain == ()
    assert result.cdn is not None and result.cdn.evidence == "AS64499"


def test_the_connected_address_is_what_gets_resolved(world: Sandbox, resolver: HostingResolver) -> None:
    """A check that connected to another address than DNS gives now (the host moved) resolves that one."""
    result = resolver.resolve(world.url("ripe-host.test", "/"), connected_ip="127.0.2.200")
    assert result.address == "127.0.2.200"
    assert result.network is not None and result.network.organisation == "Ripe Hosting B.V."


def test_an_unregistered_address_and_an_unknown_tld_are_problems_not_failures(
    world: Sandbox, resolver: HostingResolver
) -> None:
    result = resolver.resolve("http://unlisted.example/", connected_ip="127.0.99.1")
    kinds = {(p.step, p.kind) for p in result.problems}
    assert ("network", "Unsupported") in kinds  # no registry holds 127.0.99.1 in the bootstrap
    assert ("registrar", "Unsupported") in kinds  # no RDAP service for .example
    assert not result.complete


def test_rate_limiting_is_respected_without_waiting_and_resolution_resumes(
    world: Sandbox, clock: ManualClock
) -> None:
    resolver = make_resolver(world, clock)
    world.rdap.throttle("ripe", after=0, retry_after=120)
    try:
        before = world.rdap.requests[("ripe", "ip")]
        first = resolver.resolve(world.url("ripe-host.test", "/"))
        problem = next(p for p in first.problems if p.step == "network")
        assert problem.kind == "RateLimited"
        assert problem.retry_at == clock.now() + timedelta(seconds=120)
        assert first.retry_at == problem.retry_at
        assert first.party("registrar") is not None  # the other registries still answered
        assert world.rdap.requests[("ripe", "ip")] == before + 1
        again = resolver.resolve(world.url("no-contact.test", "/"))  # also RIPE: not asked while cooling
        assert any(p.kind == "RateLimited" for p in again.problems)
        assert world.rdap.requests[("ripe", "ip")] == before + 1
    finally:
        world.rdap.release("ripe")
    clock.advance(timedelta(seconds=121))
    later = resolver.resolve(world.url("ripe-host.test", "/"))
    assert later.network is not None and later.party("hosting") is not None
    assert not [p for p in later.problems if p.step == "network"]


def test_our_own_per_registry_cap_defers_lookups_without_sending_them(
    world: Sandbox, clock: ManualClock
) -> None:
    client = closed_after_test(RDAPClient(world.rdap.bootstrap_url, clock=clock, max_per_minute=2))
    before = world.rdap.requests[("arin", "ip")]
    client.network("127.0.1.1")
    clock.advance(timedelta(seconds=10))
    client.network("127.0.1.2")
    with pytest.raises(RateLimited) as refused:
        client.network("127.0.1.3")
    assert refused.value.retry_at == clock.now() + timedelta(seconds=50)  # when the first query ages out
    assert world.rdap.requests[("arin", "ip")] == before + 2
    client.network("127.0.2.1")  # another registry has its own minute
    clock.advance(timedelta(seconds=51))
    client.network("127.0.1.3")
    assert world.rdap.requests[("arin", "ip")] == before + 3


def test_ten_thousand_urls_on_two_hundred_networks_make_at_most_two_hundred_network_queries(
    clock: ManualClock,
) -> None:
    registries = ["arin", "ripe", "apnic", "lacnic", "afrinic"]
    networks = [
        Network(
            f"127.{100 + n // 100}.{n % 100}.0/24",
            registries[n % 5],
            f"Provider {n}",
            abuse=f"abuse@p{n}.test",
        )
        for n in range(200)
    ]
    # Two host names per network, on different addresses: the second is answered from the range.
    # (bench/bench_resolve.py runs the same with a host name per URL.)
    hosts = {}
    for h in range(400):
        n = h % 200
        hosts[f"h{h}.test"] = f"127.{100 + n // 100}.{n % 100}.{1 + h // 200}"
    records = {name: {"A": [a]} for name, a in hosts.items()}
    with Sandbox({"web.test": "127.0.0.2"}, extra_records=records, networks=networks) as world:
        resolver = make_resolver(world, clock)
        urls = [(f"http://h{u % 400}.test/item/{u}", None) for u in range(10_000)]
        results = list(resolver.resolve_many(urls))
        queries = sum(count for (registry, kind), count in world.rdap.requests.items() if kind == "ip")
        assert len(results) == 10_000
        assert all(r.party("hosting") is not None for r in results)
        assert queries == 200, queries
        first = results[0].party("hosting")
        assert first is not None and first.emails == ("abuse@p0.test",)


def test_the_range_cache_survives_in_the_store_and_expires(
    world: Sandbox, clock: ManualClock, store: Store
) -> None:
    make_resolver(world, clock, store).resolve(world.url("ripe-host.test", "/"))
    asked = world.rdap.requests[("ripe", "ip")]
    fresh_process = make_resolver(world, clock, store)  # new memory, same store
    result = fresh_process.resolve("http://other.ripe-host.test/", connected_ip="127.0.2.77")
    assert result.network is not None and result.network.organisation == "Ripe Hosting B.V."
    assert world.rdap.requests[("ripe", "ip")] == asked  # answered from the stored range
    clock.advance(timedelta(days=8))
    make_resolver(world, clock, store).resolve(world.url("ripe-host.test", "/"))
    assert world.rdap.requests[("ripe", "ip")] == asked + 1


@contextmanager
def heard(store: Store, name: str) -> Iterator[list[tuple[object, ...]]]:
    """The arguments of every ``name`` event the store's engine fires meanwhile."""
    from sqlalchemy import event

    seen: list[tuple[object, ...]] = []

    def hear(*args: object) -> None:
        seen.append(args)

    event.listen(store.engine, name, hear)
    try:
        yield seen
    finally:
        event.remove(store.engine, name, hear)


def test_a_batch_stores_the_networks_and_registrations_it_learnt_in_one_transaction(
    world: Sandbox, clock: ManualClock, store: Store
) -> None:
    """A round takes the store's write lock once for the networks and registrations it learnt,
    not once per answer (on SQLite each was a commit every crawler and the portal waited for), and
    what it learnt is there for the next process all the same."""
    hosts = ["arin-host.test", "ripe-host.test", "apnic-host.test", "lacnic-host.test", "afrinic-host.test"]
    batch = [(world.url(host, "/a.jpg"), None) for host in hosts]
    with heard(store, "commit") as commits:
        results = list(make_resolver(world, clock, store).resolve_many(batch))
    assert all(r.network is not None for r in results)
    assert len(commits) == 1
    asked = sum(count for (_registry, kind), count in world.rdap.requests.items() if kind == "ip")
    registrations = domain_queries(world)
    again = list(make_resolver(world, clock, store).resolve_many(batch))  # new memory, same store
    assert [(r.network, r.domain) for r in again] == [(r.network, r.domain) for r in results]
    assert sum(count for (_registry, kind), count in world.rdap.requests.items() if kind == "ip") == asked
    assert domain_queries(world) == registrations


def test_a_store_that_refuses_the_networks_slows_the_next_round_but_fails_none(
    world: Sandbox, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The stored ranges are only a cache: when they cannot be written (here a trigger refuses
    them, as a full disk would), every URL is still resolved, the operator is told, and the next
    round asks the registry again."""
    from sqlalchemy import text

    store = Store.open(f"sqlite:///{tmp_path / 'refusing.db'}")
    with store.session() as session:
        session.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON rdap_network"
                " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )
        )
    batch = [(world.url(host, "/a.jpg"), None) for host in ("arin-host.test", "ripe-host.test")]
    with caplog.at_level("WARNING", logger="hosting.later_writes"):
        results = list(make_resolver(world, clock, store).resolve_many(batch))
    assert all(r.network is not None and r.domain is not None and not r.problems for r in results)
    assert "not kept in the store: 2 networks, 2 registrations" in caplog.text
    asked = sum(count for (_registry, kind), count in world.rdap.requests.items() if kind == "ip")
    registrations = domain_queries(world)
    list(make_resolver(world, clock, store).resolve_many(batch))
    assert sum(count for (_registry, kind), count in world.rdap.requests.items() if kind == "ip") == asked + 2
    assert domain_queries(world) == registrations + 2


def domain_queries(world: Sandbox) -> int:
    """Queries the sandbox's domain registry has answered (or refused)."""
    return world.rdap.requests[(DOMAIN_REGISTRY, "domain")]


def test_a_registration_is_asked_for_once_a_day_not_once_a_round(
    world: Sandbox, clock: ManualClock, store: Store
) -> None:
    """The daemon builds a new resolver for every hourly round: a site chased for weeks cost its
    registry a query an hour. The registrar, its abuse desk, and a final "no such domain" now come
    from the store until they are a day old, and say exactly what the registry said."""
    batch = [
        (world.url("arin-host.test", "/a.jpg"), None),  # a registrar with an abuse desk
        (world.url("ripe-host.test", "/b.jpg"), None),  # a registrar without one
        (world.url("lacnic-host.test", "/c.jpg"), None),  # no registration: NotFound
    ]

    def registrars(results: list[Resolution]) -> list[object]:
        return [
            (r.domain, r.party("registrar"), [p for p in r.problems if p.step == "registrar"])
            for r in results
        ]

    before = domain_queries(world)
    first = list(make_resolver(world, clock, store).resolve_many(batch))
    assert domain_queries(world) == before + 3
    assert first[0].party("registrar").emails == ("abuse@registrar.test",)  # type: ignore[union-attr]
    assert [p.kind for p in first[2].problems if p.step == "registrar"] == ["NotFound"]
    clock.advance(timedelta(hours=23))
    again = list(make_resolver(world, clock, store).resolve_many(batch))  # new memory, same store
    assert domain_queries(world) == before + 3
    assert registrars(again) == registrars(first)
    clock.advance(timedelta(hours=2))
    list(make_resolver(world, clock, store).resolve_many(batch))
    assert domain_queries(world) == before + 6


def test_a_round_reads_its_stored_registrations_in_one_query(
    world: Sandbox, clock: ManualClock, store: Store
) -> None:
    """A round knows its domains before it resolves anything: reading them one query at a time
    cost a notice round more CPU than the registries' answers."""
    hosts = ["arin-host.test", "ripe-host.test", "apnic-host.test", "lacnic-host.test", "unlisted.example"]
    batch = [(world.url(host, f"/{n}.jpg"), None) for n in range(3) for host in hosts]
    first = list(make_resolver(world, clock, store).resolve_many(batch))
    with heard(store, "before_cursor_execute") as executed:
        again = list(make_resolver(world, clock, store).resolve_many(batch))
    statements = [str(args[2]) for args in executed if "rdap_domain" in str(args[2])]
    assert len(statements) == 1, statements
    assert [(r.domain, r.problems) for r in again] == [(r.domain, r.problems) for r in first]


def test_a_round_reads_the_stored_networks_of_its_known_addresses_in_two_queries(
    world: Sandbox, clock: ManualClock, store: Store
) -> None:
    """Where each case was last seen live is known before a round resolves anything: the networks
    stored for those addresses are read together (the span sizes stored first, which bound the
    search for each address), not one query and session per network on the round's threads. The
    answers are the same; an allocation still answers only for the address it was asked about, and
    an address the store knows nothing of still goes to the registry."""
    hosts = ["arin-host.test", "ripe-host.test", "apnic-host.test", "in-allocation.test"]
    batch = [(world.url(host, f"/{n}.jpg"), HOSTS[host]) for n in range(3) for host in hosts]
    first = list(make_resolver(world, clock, store).resolve_many(batch))
    asked = network_queries(world)
    later = [*batch, (world.url("neighbour.test", "/n.jpg"), HOSTS["neighbour.test"])]
    with heard(store, "before_cursor_execute") as executed:
        again = list(make_resolver(world, clock, store).resolve_many(later))
    reads = [
        str(args[2])
        for args in executed
        if str(args[2]).startswith(("SELECT", "WITH")) and "rdap_network" in str(args[2])
    ]
    assert len(reads) == 2, reads
    assert network_queries(world) == asked + 1  # the neighbour, inside the allocation
    assert [(r.network, r.party("hosting")) for r in again[:-1]] == [
        (r.network, r.party("hosting")) for r in first
    ]
    allocation = again[-1].network
    assert allocation is not None and allocation.organisation == "Big Provider"


def network_queries(world: Sandbox) -> int:
    return sum(count for (_registry, kind), count in world.rdap.requests.items() if kind == "ip")


def test_a_registry_that_is_rate_limiting_is_asked_again_next_round(
    world: Sandbox, clock: ManualClock, store: Store
) -> None:
    """Only final answers are kept: a 429 says nothing about the domain."""
    url = world.url("arin-host.test", "/a.jpg")
    resolver = make_resolver(world, clock, store)
    world.rdap.throttle(DOMAIN_REGISTRY, after=0, retry_after=60)
    try:
        refused = resolver.resolve(url)
    finally:
        world.rdap.release(DOMAIN_REGISTRY)
    assert [p.kind for p in refused.problems if p.step == "registrar"] == ["RateLimited"]
    clock.advance(timedelta(minutes=61))
    for later in (resolver, make_resolver(world, clock, store)):  # the same process, and the next
        answered = later.resolve(url)
        assert answered.party("registrar").emails == ("abuse@registrar.test",)  # type: ignore[union-attr]
        assert not answered.problems


def test_an_allocation_is_not_reused_for_its_neighbours(world: Sandbox, resolver: HostingResolver) -> None:
    """A provider's allocation may hold customers' assignments with their own contacts: the answer
    for one address must not be taken as the answer for the next."""
    before = world.rdap.requests[("ripe", "ip")]
    resolver.resolve(world.url("in-allocation.test", "/"))
    resolver.resolve(world.url("in-allocation.test", "/other"))
    resolver.resolve(world.url("neighbour.test", "/"))
    assert world.rdap.requests[("ripe", "ip")] == before + 2


def test_resolve_command_prints_parties_and_json(world: Sandbox, tmp_path: object) -> None:
    env = {**world.environment(), "TAKEDOWN_HOME": str(tmp_path)}
    app = App(settings=Settings.from_env(env), clock=ManualClock())
    runner = CliRunner()
    text = runner.invoke(cli, ["resolve", world.url("arin-host.test", "/a.jpg")], obj=app)
    assert text.exit_code == 0, text.output
    assert "hosting    Arin Hosting LLC: abuse@arin-host.test  [abuse]" in text.output
    assert "(US, arin " in text.output  # ARIN's answer names no country: the route's, as stats say
    assert "upstream   Transit One plc (AS64510): abuse@transit-one.test" in text.output
    as_json = runner.invoke(
        cli, ["resolve", "--json", world.url("ripe-host.test", "/"), "http://nowhere.test/"], obj=app
    )
    assert as_json.exit_code == exitcodes.PARTIAL, as_json.output
    first, second = (json.loads(line) for line in as_json.output.splitlines())
    assert first["parties"][0]["emails"] == ["abuse@ripe-host.test"] and first["complete"] is True
    assert first["resolved_at"].endswith("Z") and "+00:00" not in as_json.output  # one time format
    assert second["complete"] is False and second["problems"][0]["step"] == "dns"
    refused = runner.invoke(cli, ["resolve", "ftp://x.test/"], obj=app)
    assert refused.exit_code == exitcodes.DATA_ERROR


def test_resolve_command_looks_up_its_urls_side_by_side_and_prints_them_in_order(
    world: Sandbox, tmp_path: object
) -> None:
    env = {**world.environment(), "TAKEDOWN_HOME": str(tmp_path), "TAKEDOWN_RESOLVE_CONCURRENCY": "4"}
    app = App(settings=Settings.from_env(env), clock=ManualClock())
    hosts = ["arin-host.test", "ripe-host.test", "apnic-host.test", "lacnic-host.test"]
    urls = [world.url(host, "/x.jpg") for host in hosts]
    world.rdap.latency = 0.1  # far registries: what resolving side by side hides
    try:
        world.rdap.reset_peak()
        result = CliRunner().invoke(cli, ["resolve", "--json", urls[0], "ftp://x.test/", *urls[1:]], obj=app)
        assert world.rdap.peak_in_flight >= 2, f"{world.rdap.peak_in_flight} queries at once"
    finally:
        world.rdap.latency = 0.0
    assert result.exit_code == exitcodes.PARTIAL, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line.get("url") for line in lines] == [urls[0], "ftp://x.test/", *urls[1:]]
    assert "error" in lines[1]
    assert [line["parties"][0]["emails"] for line in lines[:1] + lines[2:]] == [
        [f"abuse@{host}"] for host in hosts
    ]


def test_a_numeric_host_is_resolved_as_the_address_a_browser_reads_in_it(resolver: HostingResolver) -> None:
    result = resolver.resolve(f"http://{int(ipaddress.IPv4Address('127.0.1.1'))}/x.jpg")
    assert (result.hostname, result.address) == ("127.0.1.1", "127.0.1.1")
    hosting = result.party("hosting")
    assert hosting is not None and hosting.emails == ("abuse@arin-host.test",)
    assert not [p for p in result.problems if p.step == "dns"]


def test_resolving_an_open_cases_url_records_it_for_the_statistics(
    world: Sandbox, store: Store, tmp_path: object
) -> None:
    url = world.url("arin-host.test", "/live.jpg")
    clock = ManualClock()
    with store.session() as session:
        [queued] = queue_batch(session, [validate_report(Report(url))], actor="analyst:t", now=clock.now())
        record_fetches(
            session, [Fetch(queued.case_id, clock.now(), http_status=200, connected_ip="127.0.1.1")]
        )
    env = {**world.environment(), "TAKEDOWN_HOME": str(tmp_path)}
    app = App(settings=Settings.from_env(env), clock=clock, _store=store)
    runner = CliRunner()
    before = json.loads(runner.invoke(cli, ["stats", "--by", "network", "--json"], obj=app).output)
    assert [g["group"] for g in before["groups"]] == ["unresolved", "all"]  # no notice round yet
    assert runner.invoke(cli, ["resolve", url], obj=app).exit_code == 0
    after = json.loads(runner.invoke(cli, ["stats", "--by", "network", "--json"], obj=app).output)
    assert [g["group"] for g in after["groups"]] == ["127.0.1.0/24 Arin Hosting LLC", "all"]
    runner.invoke(cli, ["resolve", world.url("arin-host.test", "/not-a-case.jpg")], obj=app)
    with store.session() as session:  # a URL that is no case is resolved, not recorded
        assert session.query(Hosting).count() == 1


def test_a_batch_resolves_its_hosts_side_by_side_with_the_answers_of_one_by_one(
    world: Sandbox, clock: ManualClock
) -> None:
    """Registries are far away: a round resolves its host names several at once (the sandbox's
    registries take 100 ms a query here and count how many they answer at once), and every URL
    gets exactly the resolution it gets when the hosts are resolved one after another."""
    import dataclasses

    from takedown.plain import plain

    settings = Settings.from_env(
        {**world.environment(), "TAKEDOWN_DATABASE_URL": "sqlite://", "TAKEDOWN_RESOLVE_CONCURRENCY": "4"}
    )
    batch = [(world.url(host, f"/{n}.jpg"), None) for n in range(3) for host in sorted(HOSTS)]
    batch += [(world.url("cdn-fronted.test", "/x.jpg"), "127.0.9.1"), ("http:///nohost", None)]
    one_by_one = closed_after_test(
        resolver_from_settings(dataclasses.replace(settings, resolve_concurrency=1), clock=clock)
    )
    side_by_side = closed_after_test(resolver_from_settings(settings, clock=clock))
    world.rdap.latency = 0.1  # long enough to overlap on a loaded machine (0.05 s did not, once)
    try:
        world.rdap.reset_peak()
        expected = [plain(r) for r in one_by_one.resolve_many(batch)]
        assert world.rdap.peak_in_flight == 1
        world.rdap.reset_peak()
        found = [plain(r) for r in side_by_side.resolve_many(batch)]
        assert 2 <= world.rdap.peak_in_flight <= 4, f"{world.rdap.peak_in_flight} queries at once"
    finally:
        world.rdap.latency = 0.0
    assert found == expected
    assert [r["url"] for r in found] == [url for url, _ in batch]
    # Each host name is looked up once; two hosts that share a lookup (in-allocation and neighbour
    # share a network, the ARIN and RIPE hosts an upstream AS) may both ask before either has it.
    assert sum(one_by_one.rdap.queries.values()) <= sum(side_by_side.rdap.queries.values())
    assert sum(side_by_side.rdap.queries.values()) <= sum(one_by_one.rdap.queries.values()) + 2
