"""The sandbox DNS server answers like an authoritative server, and changes take effect at once."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from hosting.dns import DNSClient, LookupStatus, parse_server
from sandbox import Sandbox
from takedown.errors import ConfigurationError


def ask(sandbox: Sandbox, name: str, rdtype: str, tcp: bool = False) -> dns.message.Message:
    host, port = sandbox.dns.address
    query = dns.message.make_query(name, rdtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, host, port=port, timeout=2)


def test_answers_are_authoritative_over_udp_and_tcp(sandbox: Sandbox) -> None:
    for tcp in (False, True):
        answer = ask(sandbox, "host-a.test", "A", tcp=tcp)
        assert answer.flags & dns.flags.AA
        assert [rr.to_text() for rr in answer.answer[0]] == ["127.0.0.2"]


def test_unknown_names_are_nxdomain_and_other_zones_refused(sandbox: Sandbox) -> None:
    assert ask(sandbox, "nothing-here.test", "A").rcode() == dns.rcode.NXDOMAIN
    assert ask(sandbox, "example.com", "A").rcode() == dns.rcode.REFUSED


def test_a_type_the_name_lacks_is_nodata(sandbox: Sandbox) -> None:
    answer = ask(sandbox, "host-a.test", "AAAA")
    assert (answer.rcode(), answer.answer) == (dns.rcode.NOERROR, [])
    assert DNSClient(sandbox.dns_server).addresses("host-a.test").addresses == ("127.0.0.2",)


def test_records_can_change_while_it_runs(sandbox: Sandbox) -> None:
    client = DNSClient(sandbox.dns_server)
    sandbox.dns.set_records("moving.test", {"A": ["127.0.0.3"]})
    assert client.addresses("moving.test").addresses == ("127.0.0.3",)
    sandbox.dns.set_records("moving.test", None)
    assert client.addresses("moving.test").status is LookupStatus.NXDOMAIN
    with pytest.raises(ValueError, match="none of the zones"):
        sandbox.dns.set_records("outside.example", {"A": ["127.0.0.3"]})


def test_cname_chains_are_followed_and_reported(sandbox: Sandbox) -> None:
    lookup = DNSClient(sandbox.dns_server).addresses("alias.test")
    assert (lookup.addresses, lookup.cname_chain) == (("127.0.0.2",), ("host-a.test",))


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("127.0.0.1:5353", ("127.0.0.1", 5353)), ("127.0.0.1", ("127.0.0.1", 53)), ("[::1]:54", ("::1", 54))],
)
def test_dns_server_setting_forms(text: str, parsed: tuple[str, int]) -> None:
    assert parse_server(text) == parsed


@pytest.mark.parametrize("text", ["dns.example:53", "127.0.0.1:0", "127.0.0.1:x"])
def test_bad_dns_server_settings_are_configuration_errors(text: str) -> None:
    with pytest.raises(ConfigurationError, match="TAKEDOWN_DNS_SERVER"):
        parse_server(text)
