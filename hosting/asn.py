"""IP address to origin AS and its upstream peers, over DNS in Team Cymru's format.

RDAP says who holds a network, not who routes it; the routing view (origin AS, and the networks
it buys transit from, which are the escalation contacts when a host ignores notices) comes from an
IP-to-ASN DNS service. Answers are TXT records like::

    1.1.0.127.origin.asn.cymru.com  "64500 | 127.0.1.0/24 | NL | ripencc | 2019-03-01"
    1.1.0.127.peer.asn.cymru.com    "64510 64511 | 127.0.1.0/24 | NL | ripencc | 2019-03-01"

The zone is configurable (``TAKEDOWN_ASN_DNS_ZONE``); the sandbox serves its own.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from hosting.dns import DNSClient, txt_records

DEFAULT_ZONE = "asn.cymru.com"


@dataclass(frozen=True)
class Route:
    """What routing data says of an address: who originates its prefix, and their upstreams."""

    origin_asns: tuple[int, ...]
    prefix: str | None
    country: str | None
    registry: str | None
    upstream_asns: tuple[int, ...] = ()


def query_name(address: str, kind: str, zone: str = DEFAULT_ZONE) -> str:
    """``origin``/``peer`` query name: reversed octets for IPv4, reversed nibbles (``origin6``) for IPv6."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return ".".join(reversed(str(ip).split("."))) + f".{kind}.{zone}"
    nibbles = ip.exploded.replace(":", "")
    return ".".join(reversed(nibbles)) + f".{kind}6.{zone}"


def parse_line(text: str) -> tuple[tuple[int, ...], str | None, str | None, str | None] | None:
    """``"64500 64501 | 127.0.1.0/24 | NL | ripencc | 2019-03-01"`` -> (ASNs, prefix, country, registry).

    ``None`` for anything else: the format is fixed, and a line that does not fit is not guessed at.
    """
    fields = [field.strip() for field in text.split("|")]
    if len(fields) < 2:
        return None
    try:
        asns = tuple(int(token) for token in fields[0].split())
    except ValueError:
        return None
    if not asns or any(not 0 < asn < 2**32 for asn in asns):
        return None
    try:
        prefix = str(ipaddress.ip_network(fields[1], strict=False)) if fields[1] else None
    except ValueError:
        return None
    country = fields[2].upper() if len(fields) > 2 and len(fields[2]) == 2 and fields[2].isalpha() else None
    registry = fields[3].lower() or None if len(fields) > 3 else None
    return asns, prefix, country, registry


def route(client: DNSClient, address: str, zone: str = DEFAULT_ZONE) -> Route | None:
    """The route of ``address``: the most specific prefix announced for it; ``None`` when unrouted."""
    origins = [
        parsed
        for text in txt_records(client, query_name(address, "origin", zone))
        if (parsed := parse_line(text))
    ]
    if not origins:
        return None
    origins.sort(key=lambda p: ipaddress.ip_network(p[1]).prefixlen if p[1] else -1, reverse=True)
    asns, prefix, country, registry = origins[0]
    upstream: list[int] = []
    if ipaddress.ip_address(address).version == 4:
        for text in txt_records(client, query_name(address, "peer", zone)):
            parsed = parse_line(text)
            if parsed is not None:
                upstream.extend(a for a in parsed[0] if a not in asns and a not in upstream)
    return Route(asns, prefix, country, registry, tuple(upstream))
