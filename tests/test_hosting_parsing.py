"""RDAP, vCard, IP-to-ASN and bootstrap parsing: registries' quirks, and never a crash on odd input."""

from __future__ import annotations

import contextlib
import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hosting.asn import parse_line, query_name
from hosting.cache import coverage
from hosting.cdn import CDNCatalogue
from hosting.domains import registered_domain
from hosting.errors import MalformedResponse, Unsupported
from hosting.rdap.bootstrap import Bootstrap
from hosting.rdap.client import _retry_after
from hosting.rdap.parse import parse_autnum, parse_domain, parse_network
from hosting.rdap.vcard import normalise_email, read_card
from sandbox.registry_shapes import RENDER_NETWORK, Network, render_arin, render_ripe

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)
rdap_keys = st.sampled_from(
    [
        "objectClassName",
        "handle",
        "startAddress",
        "endAddress",
        "entities",
        "roles",
        "vcardArray",
        "cidr0_cidrs",
        "country",
        "name",
        "type",
        "ldhName",
        "publicIds",
        "startAutnum",
    ]
)
rdap_like = st.recursive(
    st.none() | st.text(max_size=30) | st.integers(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(rdap_keys, children, max_size=8),
    max_leaves=60,
)


@pytest.mark.parametrize("registry", sorted(RENDER_NETWORK))
def test_each_registry_shape_parses_to_the_same_facts(registry: str) -> None:
    network = Network("203.0.113.0/24", registry, "Example Org", "NL", abuse="abuse@example.net", asn=64500)
    record = parse_network(RENDER_NETWORK[registry](network, "http://x/"), registry)
    assert record.cidrs == ["203.0.113.0/24"]
    assert record.abuse.emails == ("abuse@example.net",) and record.abuse.source == "abuse"
    assert record.organisation == "Example Org"
    assert record.country == (None if registry == "arin" else "NL")  # ARIN gives no country


def test_ipv6_exploded_addresses_and_slash_tails_are_read() -> None:
    arin = parse_network(render_arin(Network("2001:db8:10::/48", "arin", "V6 Org"), "http://x/"), "arin")
    assert arin.cidrs == ["2001:db8:10::/48"]
    ripe = parse_network(render_ripe(Network("2001:db8:20::/48", "ripe", "V6 Org"), "http://x/"), "ripe")
    assert ripe.start == ipaddress.ip_address("2001:db8:20::")


def test_a_range_is_taken_from_cidr0_or_the_handle_when_addresses_are_missing() -> None:
    only_cidr0 = {
        "objectClassName": "ip network",
        "cidr0_cidrs": [{"v4prefix": "198.51.100.0", "length": 23}],
    }
    assert parse_network(only_cidr0, "x").cidrs == ["198.51.100.0/23"]
    only_handle = {"objectClassName": "ip network", "handle": "2001:0db8:0300::/40"}
    assert parse_network(only_handle, "x").cidrs == ["2001:db8:300::/40"]
    with pytest.raises(MalformedResponse, match="without a usable address range"):
        parse_network({"objectClassName": "ip network", "handle": "NET-1"}, "x")
    with pytest.raises(MalformedResponse, match="expected an ip network object"):
        parse_network({"objectClassName": "domain"}, "x")


def test_lacnic_style_shared_entity_with_several_roles_and_upper_case_domain() -> None:
    data = {
        "objectClassName": "ip network",
        "startAddress": "200.57.141.161",
        "endAddress": "200.57.141.161",
        "entities": [
            {
                "handle": "RYT2",
                "roles": ["administrative", "technical", "abuse"],
                "vcardArray": [
                    "vcard",
                    [["version", {}, "text", "4.0"], ["email", {}, "text", "Ops.Net@EXAMPLE.MX"]],
                ],
            }
        ],
    }
    record = parse_network(data, "lacnic")
    assert record.abuse.emails == ("Ops.Net@example.mx",)  # domain lower-cased, local part kept


def test_domain_registrar_abuse_is_nested_in_the_registrar_entity() -> None:
    card = ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Registrar Inc."]]]
    abuse_card = ["vcard", [["version", {}, "text", "4.0"], ["email", {}, "text", "abuse@registrar.example"]]]
    data = {
        "objectClassName": "domain",
        "ldhName": "EXAMPLE.COM",
        "entities": [
            {
                "roles": ["registrar"],
                "vcardArray": card,
                "publicIds": [{"type": "IANA Registrar ID", "identifier": "292"}],
                "entities": [{"roles": ["abuse"], "vcardArray": abuse_card}],
            }
        ],
        "nameservers": [{"ldhName": "NS1.EXAMPLE.COM"}],
    }
    record = parse_domain(data)
    assert (record.name, record.registrar, record.registrar_iana_id) == (
        "example.com",
        "Registrar Inc.",
        "292",
    )
    assert record.registrar_abuse.emails == ("abuse@registrar.example",)
    assert record.nameservers == ("ns1.example.com",)


def test_autnum_number_from_start_or_handle() -> None:
    assert parse_autnum({"objectClassName": "autnum", "handle": "AS64500"}, "ripe").asn == 64500
    with pytest.raises(MalformedResponse):
        parse_autnum({"objectClassName": "autnum", "handle": "nothing"}, "ripe")


@given(rdap_like)
def test_network_parsing_never_fails_but_with_malformed_response(data: Any) -> None:
    with contextlib.suppress(MalformedResponse):
        parse_network(data, "x")


@given(rdap_like)
def test_domain_and_autnum_parsing_never_fail_but_with_malformed_response(data: Any) -> None:
    for parse in (lambda d: parse_domain(d), lambda d: parse_autnum(d, "x")):
        with contextlib.suppress(MalformedResponse):
            parse(data)


@given(json_values)
def test_vcard_reading_never_raises(data: Any) -> None:
    card = read_card(["vcard", data])
    assert all("@" in email for email in card.emails)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("abuse@Example.NET", "abuse@example.net"),
        ("mailto:Abuse@example.net", "Abuse@example.net"),
        (" abuse@example.net ", "abuse@example.net"),
        ("abuse at example.net", None),
        ("abuse@localhost", None),
        ("<abuse@example.net>", None),
        (42, None),
    ],
)
def test_email_normalisation(raw: Any, expected: str | None) -> None:
    assert normalise_email(raw) == expected


def test_email_preference_orders_addresses() -> None:
    card = read_card(
        [
            "vcard",
            [["email", {}, "text", "second@x.example"], ["email", {"pref": "1"}, "text", "first@x.example"]],
        ]
    )
    assert card.emails == ("first@x.example", "second@x.example")


def test_cymru_lines_are_parsed() -> None:
    assert parse_line("64500 64501 | 127.0.1.0/24 | NL | ripencc | 2019-03-01") == (
        (64500, 64501),
        "127.0.1.0/24",
        "NL",
        "ripencc",
    )
    assert parse_line("NA | 127.0.1.0/24 | NL") is None
    assert parse_line("garbage") is None


@given(st.text(max_size=80))
def test_cymru_parsing_never_raises(text: str) -> None:
    parsed = parse_line(text)
    assert parsed is None or all(0 < asn < 2**32 for asn in parsed[0])


@given(
    st.lists(st.integers(1, 2**32 - 1), min_size=1, max_size=4), st.integers(0, 2**32 - 1), st.integers(8, 32)
)
def test_cymru_lines_round_trip(asns: list[int], address: int, length: int) -> None:
    network = ipaddress.ip_network((address, length), strict=False)
    line = f"{' '.join(map(str, asns))} | {network} | GB | ripencc | 2001-01-01"
    assert parse_line(line) == (tuple(asns), str(network), "GB", "ripencc")


def test_query_names_reverse_the_address() -> None:
    assert query_name("192.0.2.10", "origin", "asn.cymru.com") == "10.2.0.192.origin.asn.cymru.com"
    assert query_name("2001:db8::1", "origin", "z").endswith(".8.b.d.0.1.0.0.2.origin6.z")


def test_the_shipped_bootstrap_knows_the_five_registries() -> None:
    bootstrap = Bootstrap.load()
    assert bootstrap.for_address(ipaddress.ip_address("8.8.8.8")).registry == "arin"
    assert bootstrap.for_address(ipaddress.ip_address("193.0.6.139")).registry == "ripe"
    assert bootstrap.for_address(ipaddress.ip_address("1.1.1.1")).registry == "apnic"
    assert bootstrap.for_address(ipaddress.ip_address("200.3.12.1")).registry == "lacnic"
    assert bootstrap.for_address(ipaddress.ip_address("196.216.2.1")).registry == "afrinic"
    assert bootstrap.for_address(ipaddress.ip_address("2a00:1450::1")).registry == "ripe"
    assert bootstrap.for_asn(3333).registry == "ripe"
    assert bootstrap.for_domain("shop.example.com").base_url == "https://rdap.verisign.com/com/v1/"
    with pytest.raises(Unsupported, match=r"\.zz"):
        bootstrap.for_domain("example.zz")
    with pytest.raises(Unsupported, match=r"Private-Use Networks, RFC 1918"):
        bootstrap.for_address(ipaddress.ip_address("10.0.0.1"))


def test_retry_after_in_seconds_or_as_a_date_and_capped() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert _retry_after("30", now) == timedelta(seconds=30)
    assert _retry_after("Sat, 28 Nov 2026 12:02:00 GMT", now) == timedelta(minutes=2)
    assert _retry_after("999999", now) == timedelta(hours=1)
    assert _retry_after("soon", now) is None
    assert _retry_after(None, now) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("www.example.co.uk", "example.co.uk"),
        ("a.b.host-a.test", "host-a.test"),
        ("Example.COM.", "example.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("192.0.2.1", None),
        ("[2001:db8::1]", None),
        ("co.uk", None),
    ],
)
def test_registered_domain_from_the_bundled_suffix_list(host: str, expected: str | None) -> None:
    assert registered_domain(host) == expected


def test_cdn_catalogue_matches_by_cname_asn_and_range() -> None:
    catalogue = CDNCatalogue.load()
    by_cname = catalogue.match(cname_chain=["www.example.com.edgekey.net", "e1.a.akamaiedge.net"])
    assert by_cname is not None and by_cname.cdn.name == "Akamai"
    by_asn = catalogue.match(asns=[54113])
    assert by_asn is not None and by_asn.cdn.name == "Fastly"
    by_range = catalogue.match(address="104.16.1.1")
    assert by_range is not None and by_range.cdn.name == "Cloudflare"
    assert catalogue.match(cname_chain=["www.example.org"], address="192.0.2.1", asns=[64500]) is None


def test_only_assignments_and_small_networks_answer_for_their_whole_range() -> None:
    def record(cidr: str, kind: str) -> Any:
        return parse_network(render_ripe(Network(cidr, "ripe", "Org", kind=kind), "http://x/"), "ripe")

    inside = ipaddress.ip_address("10.1.2.3")
    assigned = record("10.0.0.0/8", "ASSIGNED PA")
    assert coverage(assigned, inside) == (assigned.start, assigned.end)
    allocated = record("10.0.0.0/8", "ALLOCATED PA")
    assert coverage(allocated, inside) == (inside, inside)
    small = record("10.1.2.0/24", "ALLOCATED PA")
    assert coverage(small, inside) == (small.start, small.end)


def test_line_breaks_in_a_registrys_names_never_reach_a_notice_as_extra_lines() -> None:
    network = Network("203.0.113.0/24", "ripe", "Evil\r\nBcc: x@y.test\tHosting", "NL", abuse="abuse@e.test")
    record = parse_network(RENDER_NETWORK["ripe"](network, "http://x/"), "ripe")
    assert record.organisation == "Evil Bcc: x@y.test Hosting"
    card = read_card(["vcard", [["fn", {}, "text", "Line one\nline two"], ["org", {}, "text", "A\r\nB"]]])
    assert (card.name, card.organisation) == ("Line one line two", "A B")


_RACE = """
import sys, threading
import tldextract.tldextract as suffixes
builds = []
original = suffixes.Trie.create
suffixes.Trie.create = lambda *args, **kwargs: builds.append(1) or original(*args, **kwargs)
from hosting.domains import registered_domain
threads = int(sys.argv[1])
start = threading.Barrier(threads)
found = {}
def look_up(n):
    start.wait()
    found[n] = registered_domain(f"www.shop{n}.co.uk")
workers = [threading.Thread(target=look_up, args=(n,)) for n in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
assert found == {n: f"shop{n}.co.uk" for n in range(threads)}, found
print(len(builds))
"""


def test_threads_starting_together_build_the_suffix_list_once() -> None:
    """A round's resolver threads all start at once: the Public Suffix List's trie is built once
    for them all, as for a single thread (each used to build its own)."""
    import subprocess
    import sys

    def builds(threads: int) -> int:
        ran = subprocess.run(
            [sys.executable, "-c", _RACE, str(threads)], capture_output=True, text=True, check=True
        )
        return int(ran.stdout.strip())

    assert builds(8) == builds(1) > 0
