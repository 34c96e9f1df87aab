"""The SSRF policy on its own: every special-purpose range refused, configured networks let through."""

from __future__ import annotations

import pytest

from takedown.errors import ConfigurationError
from takedown.netpolicy import AddressPolicy

DEFAULT = AddressPolicy()


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("100.64.0.1", "non-global"),  # carrier-grade NAT
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "private"),  # TEST-NET-1
        ("198.18.0.1", "private"),  # benchmarking
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
        ("fe80::1%eth0", "link-local"),
    ],
)
def test_special_purpose_addresses_are_refused_with_the_reason(address: str, kind: str) -> None:
    reason = DEFAULT.refusal(address)
    assert reason is not None and kind in reason


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::ffff:8.8.8.8"]
)
def test_public_unicast_addresses_are_allowed(address: str) -> None:
    assert DEFAULT.allows(address)


def test_configured_networks_are_let_through_and_nothing_else() -> None:
    policy = AddressPolicy.from_strings(["127.0.0.2/32", " 127.0.0.3 ", ""])
    assert policy.allows("127.0.0.2") and policy.allows("127.0.0.3")
    assert not policy.allows("127.0.0.1")
    assert not policy.allows("127.0.0.4")
    assert not policy.allows("10.0.0.1")


def test_not_an_address_is_refused_not_crashed() -> None:
    assert "not an IP address" in (DEFAULT.refusal("example.com") or "")


def test_a_malformed_allowed_network_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"TAKEDOWN_ALLOW_NETWORKS: '10\.0\.0\.0/33'"):
        AddressPolicy.from_strings(["10.0.0.0/33"])
