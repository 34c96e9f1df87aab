"""A registry is a server we do not control: one bad answer affects only the cases it concerns.

The sandbox's RDAP server plays the hostile registry (nested 400 KB answers, answers of several
megabytes, redirects to loopback, private and non-HTTP addresses, answers that never finish), and a
notice round over cases on every such network must still notify the cases on healthy networks,
and put the others off with the reason, to be tried again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hosting.errors import MalformedResponse, RegistryUnavailable
from hosting.factory import resolver_from_settings
from hosting.rdap.client import MAX_ANSWER_BYTES, MAX_DEPTH, RDAPClient, _decode
from notices.compose import Composer
from notices.render import NoticeRenderer
from sandbox import Network, Sandbox
from sandbox.rdap_server import RawAnswer, RDAPServer
from schedules.chase import notice_round
from takedown.clock import ManualClock
from takedown.models import Case, Event, Hosting, Notice
from takedown.netpolicy import AddressPolicy
from takedown.policy import ChasePolicy
from takedown.settings import Settings
from takedown.store import Store
from tests.closing import closed_after_test
from tests.worlds import make_live

HOSTS = {
    "good.test": "127.0.60.1",
    "nested.test": "127.0.61.1",
    "huge.test": "127.0.62.1",
    "to-loopback.test": "127.0.63.1",
    "to-private.test": "127.0.64.1",
    "to-file.test": "127.0.65.1",
    "slow.test": "127.0.66.1",
    "moved.test": "127.0.67.1",
    "garbage.test": "127.0.68.1",
}
NETWORKS = [
    Network(f"{address.rsplit('.', 1)[0]}.0/24", "ripe", f"{host} hosting", "NL", abuse=f"abuse@{host}")
    for host, address in HOSTS.items()
] + [Network("127.0.69.0/24", "arin", "Where It Moved Inc", "US", abuse="abuse@moved-to.test")]


def _net(host: str) -> str:
    return f"{HOSTS[host].rsplit('.', 1)[0]}.0/24"


def play_hostile(rdap: RDAPServer) -> None:
    """Every network but good.test's and moved.test's answers as a hostile registry would."""
    rdap.serve_raw("ip", _net("nested.test"), RawAnswer(b"[" * 400_000 + b"]" * 400_000))
    rdap.serve_raw(
        "ip",
        _net("huge.test"),
        RawAnswer.of({"objectClassName": "ip network", "remarks": ["x" * 1000] * 3000}),
    )
    rdap.serve_raw(
        "ip",
        _net("to-loopback.test"),
        RawAnswer(b"", 302, (("Location", f"{rdap.base_url}/arin/ip/127.0.69.1"),)),
    )
    rdap.serve_raw(
        "ip", _net("to-private.test"), RawAnswer(b"", 302, (("Location", "http://10.0.0.1/ip/1"),))
    )
    rdap.serve_raw("ip", _net("to-file.test"), RawAnswer(b"", 301, (("Location", "file:///etc/passwd"),)))
    rdap.serve_raw("ip", _net("slow.test"), RawAnswer.of({}, delay=3.0))
    rdap.serve_raw("ip", _net("garbage.test"), RawAnswer(b"\xff\xfe not json at all"))


@pytest.fixture(scope="module")
def hostile() -> Iterator[Sandbox]:
    with Sandbox(HOSTS, networks=NETWORKS) as sandbox:
        play_hostile(sandbox.rdap)
        yield sandbox


def settings_for(world: Sandbox, tmp_path: Path, **extra: str) -> Settings:
    """Two seconds an RDAP query: the slow registry (3 s) still times out, while the well-behaved
    ones, resolved side by side with threads parsing the hostile answers in this same process as
    the sandbox's servers, keep their headroom (at 1 s, one round in two saw one of them time out)."""
    return Settings.from_env(
        {**world.environment(), "TAKEDOWN_HOME": str(tmp_path), "TAKEDOWN_RDAP_TIMEOUT": "2", **extra}
    )


def client(world: Sandbox, *allowed: str) -> RDAPClient:
    return closed_after_test(
        RDAPClient(world.rdap.bootstrap_url, timeout=1.0, address_policy=AddressPolicy.from_strings(allowed))
    )


def test_a_nested_answer_is_refused_not_a_recursion_error(hostile: Sandbox) -> None:
    with pytest.raises(MalformedResponse, match="nested"):
        client(hostile).network("127.0.61.1")
    deep = json.dumps({"entities": [{"entities": []}]})
    for _ in range(MAX_DEPTH):
        deep = '{"entities": [' + deep + "]}"
    with pytest.raises(MalformedResponse, match="nested deeper"):
        _decode(deep.encode(), "http://x/")


def test_a_huge_answer_is_not_read(hostile: Sandbox) -> None:
    with pytest.raises(RegistryUnavailable, match=f"larger than {MAX_ANSWER_BYTES}"):
        client(hostile).network("127.0.62.1")


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.63.1", "loopback"),  # the sandbox registry itself, on 127.0.0.1: not an allowed address
        ("127.0.64.1", "private"),
        ("127.0.65.1", "only http"),
    ],
)
def test_redirects_go_only_where_the_ssrf_policy_allows(hostile: Sandbox, address: str, why: str) -> None:
    with pytest.raises(RegistryUnavailable, match=why):
        client(hostile).network(address)


def test_a_registry_redirect_that_is_allowed_is_followed_and_recorded(hostile: Sandbox) -> None:
    # RFC 7480: a registry may send the client to the one that holds the object
    record = client(hostile, "127.0.0.1/32").network("127.0.63.1")
    assert record.abuse.emails == ("abuse@moved-to.test",)
    assert record.via == (f"{hostile.rdap.base_url}/ripe/ip/127.0.63.1",)
    assert record.source_url == f"{hostile.rdap.base_url}/arin/ip/127.0.69.1"


def test_a_redirect_loop_ends(hostile: Sandbox) -> None:
    loop = f"{hostile.rdap.base_url}/ripe/ip/127.0.67.1"
    hostile.rdap.serve_raw("ip", _net("moved.test"), RawAnswer(b"", 302, (("Location", loop),)))
    try:
        with pytest.raises(RegistryUnavailable, match=r"loop|redirects"):
            client(hostile, "127.0.0.1/32").network("127.0.67.1")
    finally:
        hostile.rdap.serve_raw("ip", _net("moved.test"), None)


def test_a_slow_answer_times_out(hostile: Sandbox) -> None:
    with pytest.raises(RegistryUnavailable):
        client(hostile).network("127.0.66.1")


def test_a_hostile_registry_affects_only_its_own_cases_in_a_notice_round(
    hostile: Sandbox, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    settings = settings_for(hostile, tmp_path)
    urls = {hostile.url(host, "/img.jpg"): address for host, address in HOSTS.items()}
    ids = make_live(store, clock, urls)
    resolver = closed_after_test(resolver_from_settings(settings, store=store, clock=clock))
    composer = Composer(store, resolver, settings, NoticeRenderer())
    summary = notice_round(composer, ChasePolicy(), now=clock.now())

    notified = {"good.test", "moved.test"}
    with store.session() as session:
        recipients = set(session.scalars(select(Notice.recipient)))
        assert recipients == {f"abuse@{host}" for host in notified}
        deferred_ids = {ids[hostile.url(h, "/img.jpg")] for h in HOSTS if h not in notified}
        assert set(summary.deferred) == deferred_ids
        for case_id in deferred_ids:
            case = session.get(Case, case_id)
            assert case is not None
            assert case.notice_rounds == 0  # not counted: nobody was found missing, the lookup failed
            assert case.next_notice_at is not None and case.next_notice_at > clock.now()
            event = session.scalars(
                select(Event).where(Event.case_id == case_id, Event.action == "notice_deferred")
            ).one()
            assert event.detail is not None and event.detail["reason"]
            assert session.scalars(select(Hosting).where(Hosting.case_id == case_id)).first() is not None
    reason = {h: summary.deferred[ids[hostile.url(h, "/img.jpg")]].reason for h in HOSTS if h not in notified}
    assert "nested" in reason["nested.test"]
    assert "larger than" in reason["huge.test"]
    assert "refused" in reason["to-private.test"] and "refused" in reason["to-loopback.test"]
    assert "not JSON" in reason["garbage.test"]

    # once the registries behave, the deferred cases are notified in the round after the delay
    clock.advance(timedelta(hours=2))
    for host in HOSTS:
        hostile.rdap.serve_raw("ip", _net(host), None)
    try:
        resolver = closed_after_test(resolver_from_settings(settings, store=store, clock=clock))
        composer = Composer(store, resolver, settings, NoticeRenderer())
        later = notice_round(composer, ChasePolicy(), now=clock.now())
        assert not later.deferred
        assert later.notices == {"initial": len(HOSTS) - len(notified)}
    finally:
        play_hostile(hostile.rdap)  # the sandbox is the module's
