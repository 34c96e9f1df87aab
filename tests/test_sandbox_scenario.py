"""Scenarios: the sandbox changes as events happen, as a test or the demo scripts it."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hosting.dns import DNSClient, LookupStatus
from sandbox import Sandbox, Scenario
from sandbox.scenario import ScenarioError
from sandbox.web import content_bytes

BASIC = Path(__file__).resolve().parent.parent / "sandbox" / "scenarios" / "basic.json"


def fetch(sandbox: Sandbox, host: str, path: str) -> tuple[int, bytes, str | None]:
    address = {**sandbox.hosts, **sandbox.forbidden}.get(host) or sandbox.hosts["host-a.test"]
    request = urllib.request.Request(f"http://{address}:{sandbox.port}{path}", headers={"Host": host})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=5) as response:
            return response.status, response.read(), response.headers.get("Location")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Location")


@pytest.fixture
def basic() -> Sandbox:
    with Sandbox.from_scenario(Scenario.load(BASIC)) as sandbox:
        yield sandbox  # type: ignore[misc]


def test_a_host_removes_content_after_the_second_notice(basic: Sandbox) -> None:
    assert fetch(basic, "host-b.test", "/x.jpg")[:2] == (200, content_bytes("img-2", 20_000))
    basic.event("notice:abuse@host-b.test")
    assert fetch(basic, "host-b.test", "/x.jpg")[0] == 200, "one notice is not enough for host B"
    basic.event("notice:abuse@host-b.test")
    assert fetch(basic, "host-b.test", "/x.jpg")[0] == 404
    basic.event("notice:abuse@host-b.test")
    assert fetch(basic, "host-b.test", "/x.jpg")[0] == 404


def test_a_registrar_suspends_a_domain_and_it_stops_resolving(basic: Sandbox) -> None:
    client = DNSClient(basic.dns_server)
    assert client.addresses("gone-soon.test").addresses == ("127.0.0.4",)
    basic.event("notice:abuse@registrar.test")
    assert client.addresses("gone-soon.test").status is LookupStatus.NXDOMAIN


def test_redirect_targets_learn_the_port_and_cnames_resolve(basic: Sandbox) -> None:
    status, _, location = fetch(basic, "host-a.test", "/old")
    assert (status, location) == (302, f"http://host-a.test:{basic.port}/gallery/1.jpg")
    assert DNSClient(basic.dns_server).addresses("cdn-fronted.test").addresses == ("127.0.0.5",)
    assert fetch(basic, "cdn-fronted.test", "/v/clip.mp4")[0] == 200


def test_fetches_are_events_too(basic: Sandbox) -> None:
    basic.events.changes.append(
        Scenario.from_dict(
            {
                "hosts": {"h.test": "127.0.0.2"},
                "changes": [
                    {
                        "after": "fetch:host-a.test/gallery/1.jpg",
                        "count": 2,
                        "host": "host-a.test",
                        "path": "/gallery/1.jpg",
                        "then": {"status": 410},
                    }
                ],
            }
        ).changes[0]
    )
    assert [fetch(basic, "host-a.test", "/gallery/1.jpg")[0] for _ in range(3)] == [200, 200, 410]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "needs a 'hosts' object"),
        ({"hosts": {"a.test": "127.0.0.2"}, "colour": 1}, "unknown key(s) colour"),
        (
            {"hosts": {"a.test": "127.0.0.2"}, "paths": {"a.test": {"/x": {"teleport": 1}}}},
            "paths.a.test./x: unknown behaviour",
        ),
        (
            {"hosts": {"a.test": "127.0.0.2"}, "paths": {"a.test": {"/x": {"status": "gone"}}}},
            "paths.a.test./x: invalid literal",
        ),
        ({"hosts": {"a.test": "127.0.0.2"}, "changes": [{"count": 2}]}, "changes[0]: a change needs 'after'"),
        (
            {"hosts": {"a.test": "127.0.0.2"}, "changes": [{"after": "x", "count": 0, "name": "a.test"}]},
            "'count' must be",
        ),
        (
            {"hosts": {"a.test": "127.0.0.2"}, "changes": [{"after": "x"}]},
            "needs 'host' and 'path', or 'name'",
        ),
    ],
)
def test_scenario_mistakes_are_named(data: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ScenarioError, match=re.escape(message)):
        Scenario.from_dict(data)


def test_web_hosts_outside_loopback_are_refused() -> None:
    with pytest.raises(ValueError, match="must be on loopback"):
        Sandbox({"a.test": "10.0.0.2"})


def test_scenario_registry_entries_are_checked_with_their_location() -> None:
    base = {"hosts": {"a.test": "127.0.0.2"}}
    with pytest.raises(ScenarioError, match=r"networks\[0\]: registry must be one of"):
        Scenario.from_dict(
            {**base, "networks": [{"cidr": "127.0.0.2/32", "registry": "iana", "organisation": "X"}]}
        )
    with pytest.raises(ScenarioError, match=r"networks\[0\]: needs cidr"):
        Scenario.from_dict(
            {**base, "networks": [{"cidr": "not-a-network", "registry": "ripe", "organisation": "X"}]}
        )
    with pytest.raises(ScenarioError, match=r"domains\[0\]: needs domain and registrar"):
        Scenario.from_dict({**base, "domains": [{"domain": "a.test"}]})
