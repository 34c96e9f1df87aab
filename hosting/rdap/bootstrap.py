"""Which RDAP server answers for an address, an AS number or a domain (RFC 9224).

The four IANA bootstrap files ship with the package (``hosting/data/bootstrap``); a directory or an
http(s) base URL given in ``TAKEDOWN_RDAP_BOOTSTRAP`` replaces them, which is how newer files are
used and how the sandbox points the client at its own registry.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.parse
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ipwhois.utils import ipv4_is_defined, ipv6_is_defined

from hosting.errors import Unsupported
from takedown.errors import ConfigurationError

FILES = ("ipv4", "ipv6", "asn", "dns")

KNOWN_REGISTRIES = {
    "rdap.arin.net": "arin",
    "rdap.db.ripe.net": "ripe",
    "rdap.apnic.net": "apnic",
    "rdap.lacnic.net": "lacnic",
    "rdap.afrinic.net": "afrinic",
}


@dataclass(frozen=True)
class Service:
    """One RDAP server: its base URL (ending in ``/``) and a short name for logs and rate limits."""

    base_url: str
    registry: str


@dataclass
class Bootstrap:
    networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Service]] = field(
        default_factory=list
    )
    asn_ranges: list[tuple[int, int, Service]] = field(default_factory=list)
    tlds: dict[str, Service] = field(default_factory=dict)

    @classmethod
    def load(cls, location: str | None = None, *, fetch: Any = None) -> Bootstrap:
        """From ``location`` (a directory or an http(s) base URL), else the shipped files.

        ``fetch`` reads a URL and returns parsed JSON; the client passes its own, so bootstrap
        files come through the same no-proxy, size-capped path as every RDAP answer.
        """
        documents = {name: _read(location, name, fetch) for name in FILES}
        bootstrap = cls()
        for name in ("ipv4", "ipv6"):
            for entries, service in _services(documents[name], name):
                for entry in entries:
                    try:
                        network = ipaddress.ip_network(
                            entry if "/" in entry else f"{entry}.0.0.0/8", strict=False
                        )
                    except ValueError:
                        raise ConfigurationError(f"RDAP bootstrap {name}: bad range {entry!r}") from None
                    bootstrap.networks.append((network, service))
        for entries, service in _services(documents["asn"], "asn"):
            for entry in entries:
                low, _, high = entry.partition("-")
                try:
                    bootstrap.asn_ranges.append((int(low), int(high or low), service))
                except ValueError:
                    raise ConfigurationError(f"RDAP bootstrap asn: bad range {entry!r}") from None
        for entries, service in _services(documents["dns"], "dns"):
            for entry in entries:
                bootstrap.tlds[entry.lower().strip(".")] = service
        # Longest prefix first, so the most specific entry wins.
        bootstrap.networks.sort(key=lambda item: item[0].prefixlen, reverse=True)
        return bootstrap

    def for_address(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Service:
        for network, service in self.networks:
            if address.version == network.version and address in network:
                return service
        raise Unsupported(f"no RDAP service for {address} in the bootstrap ({special_use(address)})")

    def for_asn(self, asn: int) -> Service:
        for low, high, service in self.asn_ranges:
            if low <= asn <= high:
                return service
        raise Unsupported(f"no RDAP service for AS{asn} in the bootstrap")

    def for_domain(self, domain: str) -> Service:
        labels = domain.lower().strip(".").split(".")
        for start in range(len(labels)):  # the longest matching suffix wins
            service = self.tlds.get(".".join(labels[start:]))
            if service is not None:
                return service
        raise Unsupported(f"no RDAP service for .{labels[-1]} in the bootstrap")


def _read(location: str | None, name: str, fetch: Any) -> Any:
    if location is None:
        source = resources.files("hosting").joinpath("data", "bootstrap", f"{name}.json")
        return json.loads(source.read_text(encoding="utf-8"))
    if location.startswith(("http://", "https://")):
        if fetch is None:
            raise ConfigurationError("an http(s) RDAP bootstrap needs a client to fetch it")
        return fetch(urllib.parse.urljoin(location.rstrip("/") + "/", f"{name}.json"))
    path = Path(location).expanduser() / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"TAKEDOWN_RDAP_BOOTSTRAP: cannot read {path}: {exc}") from None


def _services(document: Any, name: str) -> list[tuple[list[str], Service]]:
    try:
        raw = document["services"]
        result = []
        for entries, urls in raw:
            result.append(([str(e) for e in entries], _pick(urls)))
        return result
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"RDAP bootstrap {name}: not a bootstrap file ({exc})") from None


def _pick(urls: list[str]) -> Service:
    """HTTPS where offered (RFC 9224 says to prefer it); plain http only when nothing else is."""
    if not urls:
        raise ValueError("a service without URLs")
    chosen = next((u for u in urls if u.startswith("https://")), urls[0])
    if not chosen.endswith("/"):
        chosen += "/"
    return Service(chosen, registry_name(chosen))


def registry_name(base_url: str) -> str:
    """``arin`` for ARIN's server, the host name for other servers. A server on loopback (the
    sandbox's registry) is named by the first segment of its path: ``http://127.0.0.1:port/ripe/``."""
    parts = urllib.parse.urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if host in KNOWN_REGISTRIES:
        return KNOWN_REGISTRIES[host]
    first = parts.path.strip("/").split("/", 1)[0]
    if first and (host == "localhost" or host.startswith("127.") or host == "::1"):
        return first
    return host


def special_use(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Why no registry may hold ``address``: its IETF special-use range, named by ipwhois's table
    (which cites the RFC), or "not allocated to a registry" when it is ordinary unicast space."""
    defined = ipv4_is_defined(str(address)) if address.version == 4 else ipv6_is_defined(str(address))
    if defined.is_defined:
        return f"{defined.ietf_name}, {defined.ietf_rfc}"
    return "not allocated to a registry"
