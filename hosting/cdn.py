"""Is a host behind a CDN? Then the CDN must be told too, and asked to reveal the origin.

For a CDN-fronted site the address a check connects to is the CDN's, so RDAP names the CDN as the
"host". The notice still goes to it (CDNs forward reports to their customer and, for this kind of
content, usually disclose the origin), and the report says the real host is behind it.

The catalogue ships in ``hosting/data/cdn.json``; ``TAKEDOWN_CDN_CATALOGUE`` names an extra file of
the same shape (the sandbox uses one for its own CDN), whose entries are added to the shipped ones.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from takedown.errors import ConfigurationError


@dataclass(frozen=True)
class CDN:
    name: str
    asns: frozenset[int]
    ranges: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    cname_suffixes: tuple[str, ...]
    report_url: str | None = None
    abuse: str | None = None


@dataclass(frozen=True)
class CDNMatch:
    cdn: CDN
    evidence: str
    """How it was recognised, for the notice and the audit trail: ``CNAME x.cdn.net``, ``AS13335``..."""


class CDNCatalogue:
    def __init__(self, cdns: Sequence[CDN]) -> None:
        self.cdns = list(cdns)

    @classmethod
    def load(cls, extra: str | None = None) -> CDNCatalogue:
        shipped = json.loads(
            resources.files("hosting").joinpath("data", "cdn.json").read_text(encoding="utf-8")
        )
        cdns = _parse(shipped, "hosting/data/cdn.json")
        if extra:
            try:
                cdns += _parse(json.loads(Path(extra).expanduser().read_text(encoding="utf-8")), extra)
            except (OSError, json.JSONDecodeError) as exc:
                raise ConfigurationError(f"TAKEDOWN_CDN_CATALOGUE: cannot read {extra}: {exc}") from None
        return cls(cdns)

    def match(
        self, *, cname_chain: Iterable[str] = (), address: str | None = None, asns: Iterable[int] = ()
    ) -> CDNMatch | None:
        """The CDN in front, judged by CNAME first (most specific), then origin AS, then address range."""
        chain = [name.lower().rstrip(".") for name in cname_chain]
        for cdn in self.cdns:
            for name in chain:
                if any(name == suffix or name.endswith("." + suffix) for suffix in cdn.cname_suffixes):
                    return CDNMatch(cdn, f"CNAME {name}")
        asn_set = set(asns)
        for cdn in self.cdns:
            common = sorted(cdn.asns & asn_set)
            if common:
                return CDNMatch(cdn, f"AS{common[0]}")
        if address:
            ip = ipaddress.ip_address(address)
            for cdn in self.cdns:
                for network in cdn.ranges:
                    if ip.version == network.version and ip in network:
                        return CDNMatch(cdn, f"address in {network}")
        return None


def _parse(document: Any, source: str) -> list[CDN]:
    try:
        return [
            CDN(
                name=str(item["name"]),
                asns=frozenset(int(a) for a in item.get("asns", [])),
                ranges=tuple(ipaddress.ip_network(r) for r in item.get("ranges", [])),
                cname_suffixes=tuple(s.lower().strip(".") for s in item.get("cname_suffixes", [])),
                report_url=item.get("report_url"),
                abuse=item.get("abuse"),
            )
            for item in document["cdns"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"{source}: not a CDN catalogue ({exc})") from None
