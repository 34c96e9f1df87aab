"""Which addresses the system may connect to: the SSRF guard's rule, in one place.

Reported URLs are hostile input. A name can be made to resolve to 127.0.0.1, 10.0.0.5 or the
cloud metadata address 169.254.169.254; fetching it would turn the crawler into a probe of our own
network. Only globally routable unicast addresses are allowed, plus networks the configuration
names explicitly (the sandbox and the tests allow their own 127.0.0.x hosts, nothing else does).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from takedown.errors import ConfigurationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Ranges that embed an IPv4 address in IPv6; the embedded address is what gets reached.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class AddressPolicy:
    """Allow public unicast addresses, and anything inside ``allowed_networks``."""

    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_strings(cls, networks: Iterable[str]) -> AddressPolicy:
        parsed = []
        for text in networks:
            text = text.strip()
            if not text:
                continue
            try:
                parsed.append(ipaddress.ip_network(text, strict=False))
            except ValueError as exc:
                raise ConfigurationError(
                    f"TAKEDOWN_ALLOW_NETWORKS: '{text}' is not a network ({exc})"
                ) from None
        return cls(tuple(parsed))

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be connected to, or ``None`` if it may."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return f"'{address}' is not an IP address"
        if any(ip in network for network in self.allowed_networks):
            return None
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            reason = self.refusal(str(embedded))
            return None if reason is None else f"{ip} embeds {embedded}: {reason}"
        kind = _special_kind(ip)
        return None if kind is None else f"{ip} is a {kind} address"

    def allows(self, address: str) -> bool:
        return self.refusal(address) is None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return None


def _special_kind(ip: IPAddress) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-global (shared or special-purpose)"
    return None
