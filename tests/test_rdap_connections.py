"""RDAP queries share kept-alive connections (hosting/rdap/connections.py), against the sandbox's
registry speaking HTTP/1.1: a round's queries to a registry do not each pay for a new connection
(with a far registry, the TCP and TLS handshakes are most of a query's time), and a connection the
server closed, one left mid-answer or one to a stopped server never loses or garbles a query. Over
HTTPS too, as every real registry answers: verified, and a redirect's connection checked as well."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import pytest
import trustme

from hosting.errors import RegistryUnavailable
from hosting.factory import resolver_from_settings
from hosting.rdap.client import MAX_ANSWER_BYTES, RDAPClient
from hosting.rdap.connections import ConnectionPool
from sandbox import Network, Sandbox
from sandbox.rdap_server import RawAnswer, RDAPServer
from takedown.clock import ManualClock
from takedown.netpolicy import AddressPolicy
from takedown.settings import Settings
from tests.closing import closed_after_test
from tests.conftest import serving_tls

REGISTRIES = ["arin", "ripe", "apnic", "lacnic", "afrinic"]
NETWORKS = [
    Network(f"127.{100 + n}.0.0/24", REGISTRIES[n % 5], f"Provider {n}", abuse=f"abuse@p{n}.test")
    for n in range(40)
]

ARIN = [n for n, network in enumerate(NETWORKS) if network.registry == "arin"]
"""The networks one registry holds: queries to them share its connections."""


def address(n: int) -> str:
    return f"127.{100 + n}.0.1"


@pytest.fixture(scope="module")
def registries() -> Iterator[Sandbox]:
    records = {f"h{n}.test": {"A": [address(n)]} for n in range(len(NETWORKS))}
    with Sandbox({"web.test": "127.0.0.2"}, extra_records=records, networks=NETWORKS) as world:
        yield world


def test_queries_one_after_another_share_one_connection(registries: Sandbox) -> None:
    rdap = registries.rdap
    client = closed_after_test(RDAPClient(rdap.bootstrap_url))
    opened = rdap.connections
    for n in ARIN:
        assert client.network(address(n)).abuse.emails == (f"abuse@p{n}.test",)
    assert rdap.connections - opened == 1  # the bootstrap files and all eight queries
    assert client.connections_opened == 1
    client.close()


def test_resolving_side_by_side_opens_a_connection_per_host_resolved_at_once(
    registries: Sandbox, clock: ManualClock
) -> None:
    rdap = registries.rdap
    settings = Settings.from_env(
        {
            **registries.environment(),
            "TAKEDOWN_DATABASE_URL": "sqlite://",
            "TAKEDOWN_RESOLVE_CONCURRENCY": "4",
        }
    )
    resolver = closed_after_test(resolver_from_settings(settings, clock=clock))
    opened, bootstraps = rdap.connections, rdap.requests[("iana", "bootstrap")]
    results = list(resolver.resolve_many([(f"http://h{n}.test/", None) for n in range(len(NETWORKS))]))
    assert [r.party("hosting").emails for r in results] == [  # type: ignore[union-attr]
        (f"abuse@p{n}.test",) for n in range(len(NETWORKS))
    ]
    assert rdap.connections - opened <= 4
    # The first four threads all needed the bootstrap at once: its four files were asked for once.
    assert rdap.requests[("iana", "bootstrap")] - bootstraps == 4
    resolver.rdap.close()


def test_a_connection_the_registry_closed_while_it_waited_is_replaced_and_the_query_answered(
    registries: Sandbox,
) -> None:
    rdap = registries.rdap
    rdap.requests_per_connection = 1  # closed after every answer, without telling the client
    try:
        client = closed_after_test(RDAPClient(rdap.bootstrap_url))
        opened = rdap.connections
        for n in range(10):
            assert client.network(address(n)).abuse.emails == (f"abuse@p{n}.test",)
        assert rdap.connections - opened == 4 + 10  # one for each bootstrap file and query
    finally:
        rdap.requests_per_connection = 0


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (RawAnswer(b"{" + b" " * (3 * 1024 * 1024) + b"}"), "larger than"),
        (RawAnswer.of({}, delay=1.5), "timed out|longer than"),
    ],
    ids=["too large", "too slow"],
)
def test_an_answer_left_unread_does_not_reach_the_next_query(
    registries: Sandbox, answer: RawAnswer, why: str
) -> None:
    rdap = registries.rdap
    client = closed_after_test(RDAPClient(rdap.bootstrap_url, timeout=1.0))
    client.network(address(ARIN[0]))
    rdap.serve_raw("ip", NETWORKS[ARIN[1]].cidr, answer)
    try:
        with pytest.raises(RegistryUnavailable, match=why):
            client.network(address(ARIN[1]))
    finally:
        rdap.serve_raw("ip", NETWORKS[ARIN[1]].cidr, None)
    # the same registry, at once: answered whole, not from the rest of the answer left unread
    assert client.network(address(ARIN[2])).abuse.emails == (f"abuse@p{ARIN[2]}.test",)
    assert client.network(address(ARIN[1])).abuse.emails == (f"abuse@p{ARIN[1]}.test",)


def test_a_stopped_registry_answers_nothing_on_a_connection_kept_from_before() -> None:
    registry = RDAPServer(networks=NETWORKS[:2]).start()
    client = closed_after_test(RDAPClient(registry.bootstrap_url, timeout=2.0))
    assert client.network(address(0)).abuse.emails == ("abuse@p0.test",)
    registry.stop()
    with pytest.raises(RegistryUnavailable):
        client.network(address(0))


def test_a_connection_idle_longer_than_servers_keep_one_is_not_used_again(registries: Sandbox) -> None:
    now = [0.0]
    pool = ConnectionPool(timeout=2.0, idle_seconds=20.0, monotonic=lambda: now[0])
    url = registries.rdap.bootstrap_url + "ipv4.json"

    def ask() -> None:
        assert pool.get(url, {}, deadline=time.monotonic() + 2, limit=MAX_ANSWER_BYTES).status == 200

    ask()
    now[0] += 19.0
    ask()
    assert pool.opened == 1
    now[0] += 21.0  # a server would have closed it by now: a new one, not a failed first try
    ask()
    assert pool.opened == 2
    pool.close()


@pytest.fixture(scope="module")
def https_registry(authority: trustme.CA) -> Iterator[RDAPServer]:
    """The sandbox's registry over HTTPS, as every real one is, with a certificate for 127.0.0.1."""
    registry = RDAPServer(networks=NETWORKS, tls_context=serving_tls(authority)).start()
    yield registry
    registry.stop()


def trusting(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


def test_queries_over_https_share_one_verified_connection(
    https_registry: RDAPServer, authority: trustme.CA
) -> None:
    assert https_registry.bootstrap_url.startswith("https://")
    client = closed_after_test(RDAPClient(https_registry.bootstrap_url, tls_context=trusting(authority)))
    opened = https_registry.connections
    for n in range(5):
        record = client.network(address(n))
        assert record.abuse.emails == (f"abuse@p{n}.test",)
        assert record.source_url.startswith("https://")
    assert https_registry.connections - opened == 1
    client.close()


def test_a_registry_whose_certificate_cannot_be_verified_is_not_believed(
    https_registry: RDAPServer,
) -> None:
    # The system's authorities only.
    client = closed_after_test(RDAPClient(https_registry.bootstrap_url, timeout=2.0))
    with pytest.raises(RegistryUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        client.network(address(0))


def test_an_https_redirect_is_followed_on_a_checked_and_verified_connection(
    https_registry: RDAPServer, authority: trustme.CA
) -> None:
    moved = f"{https_registry.base_url}/arin/ip/{address(5)}"
    https_registry.serve_raw("ip", NETWORKS[1].cidr, RawAnswer(b"", 302, (("Location", moved),)))
    try:
        refused = closed_after_test(RDAPClient(https_registry.bootstrap_url, tls_context=trusting(authority)))
        with pytest.raises(RegistryUnavailable, match="loopback"):
            refused.network(address(1))  # the policy allows no loopback address
        allowed = closed_after_test(
            RDAPClient(
                https_registry.bootstrap_url,
                tls_context=trusting(authority),
                address_policy=AddressPolicy.from_strings(["127.0.0.1/32"]),
            )
        )
        record = allowed.network(address(1))
        assert record.abuse.emails == ("abuse@p5.test",)
        assert record.via == (f"{https_registry.base_url}/ripe/ip/{address(1)}",)
    finally:
        https_registry.serve_raw("ip", NETWORKS[1].cidr, None)
