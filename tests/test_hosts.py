"""Numeric hosts read as a browser reads them (WHATWG URL host parser): addresses, never DNS names."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from takedown.canonical import canonical_parts
from takedown.errors import InvalidReport
from takedown.hosts import InvalidHost, browser_host, ends_in_a_number, fetchable_url
from takedown.reports import Report, validate_report

addresses = st.integers(min_value=0, max_value=2**32 - 1)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706531", "127.0.0.99"),
        ("0x7f000063", "127.0.0.99"),
        ("017700000143", "127.0.0.99"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0x7F.0X0.0.0X1", "127.0.0.1"),
        ("0", "0.0.0.0"),
    ],
)
def test_numeric_hosts_in_every_notation(host: str, address: str) -> None:
    assert browser_host(host) == address


@pytest.mark.parametrize("host", ["1.300.1.1", "4294967296", "08.1.1.1", "1.2.3.4.5", "a.1", "x.0x"])
def test_a_host_ending_in_a_number_that_is_no_address_is_refused(host: str) -> None:
    assert ends_in_a_number(host)
    with pytest.raises(InvalidHost):
        browser_host(host)
    with pytest.raises(InvalidReport, match="no browser can open it"):
        validate_report(Report(f"http://{host}/x.jpg"))


@pytest.mark.parametrize("host", ["example.com", "1.example", "example.1a", "xn--nxasmq6b.com", "0x1g"])
def test_names_stay_names(host: str) -> None:
    assert browser_host(host) == host


@given(addresses)
def test_one_number_is_the_whole_address(value: int) -> None:
    expected = str(ipaddress.IPv4Address(value))
    assert browser_host(str(value)) == expected
    assert browser_host(hex(value)) == expected
    assert browser_host("0" + oct(value)[2:]) == expected


@given(addresses, st.integers(min_value=1, max_value=3), st.sampled_from(["dec", "hex", "oct"]))
def test_short_forms_agree_with_the_address_and_with_safe_browsing(value: int, parts: int, base: str) -> None:
    octets = ipaddress.IPv4Address(value).packed
    leading = list(octets[: parts - 1])
    last = int.from_bytes(octets[parts - 1 :], "big")
    spell = {"dec": str, "hex": hex, "oct": lambda n: "0" + oct(n)[2:]}[base]
    host = ".".join(spell(n) for n in [*leading, last])
    expected = str(ipaddress.IPv4Address(value))
    assert browser_host(host) == expected
    assert canonical_parts(f"http://{host}/").host == expected  # one dedup key for every spelling
    assert validate_report(Report(f"http://{host}/x")).host == expected


def test_the_fetched_url_keeps_everything_but_the_host_spelling() -> None:
    assert (
        fetchable_url("http://user:pw@2130706531:8080/a/b?c=d#e")
        == "http://user:pw@127.0.0.99:8080/a/b?c=d#e"
    )
    assert fetchable_url("https://Example.COM/x") == "https://Example.COM/x"  # untouched: not numeric
    assert fetchable_url("http://[::1]/x") == "http://[::1]/x"
