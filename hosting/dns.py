"""DNS lookups with dnspython, against the system's resolvers or a configured server.

A lookup's failure matters as much as its answer: NXDOMAIN means a name was deleted (content gone),
a timeout means nothing at all. Results say which, instead of raising one generic error.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum

import dns.exception
import dns.resolver

from takedown.errors import ConfigurationError


class LookupStatus(StrEnum):
    OK = "ok"
    NXDOMAIN = "nxdomain"
    """The name does not exist."""
    NO_ADDRESS = "no_address"
    """The name exists but has no A or AAAA record."""
    FAILED = "failed"
    """No answer could be had (timeout, SERVFAIL, refused): says nothing about the name."""


@dataclass(frozen=True)
class AddressLookup:
    name: str
    status: LookupStatus
    addresses: tuple[str, ...] = ()
    cname_chain: tuple[str, ...] = ()
    detail: str = ""


@dataclass
class DNSClient:
    """Resolves names; ``server`` (``address[:port]``) replaces the system resolvers when given."""

    server: str | None = None
    timeout: float = 5.0
    _resolver: dns.resolver.Resolver = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.server:
            resolver = dns.resolver.Resolver(configure=False)
            host, port = parse_server(self.server)
            resolver.nameservers = [host]
            resolver.port = port
        else:
            resolver = dns.resolver.Resolver()
        resolver.lifetime = self.timeout
        resolver.timeout = min(self.timeout, 2.0)
        self._resolver = resolver

    def addresses(self, name: str) -> AddressLookup:
        """A and AAAA records of ``name``, following CNAMEs; an IP literal is its own answer."""
        try:
            literal = ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            pass
        else:
            return AddressLookup(name, LookupStatus.OK, (str(literal),))
        found: list[str] = []
        chain: list[str] = []
        failures: list[str] = []
        missing = 0
        for rdtype in ("A", "AAAA"):
            try:
                answer = self._resolver.resolve(name, rdtype, search=False)
            except dns.resolver.NXDOMAIN:
                return AddressLookup(name, LookupStatus.NXDOMAIN, detail=f"{name} does not exist (NXDOMAIN)")
            except dns.resolver.NoAnswer:
                missing += 1
                continue
            except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout) as exc:
                failures.append(f"{rdtype}: {exc}")
                continue
            except dns.exception.DNSException as exc:
                failures.append(f"{rdtype}: {exc}")
                continue
            found.extend(record.to_text() for record in answer)
            if not chain:
                chain = [
                    rrset[0].target.to_text(omit_final_dot=True) for rrset in answer.chaining_result.cnames
                ]
        if found:
            return AddressLookup(name, LookupStatus.OK, tuple(found), tuple(chain))
        if missing == 2:
            return AddressLookup(name, LookupStatus.NO_ADDRESS, detail=f"{name} has no A or AAAA record")
        return AddressLookup(name, LookupStatus.FAILED, detail="; ".join(failures) or "no answer")


def parse_server(text: str) -> tuple[str, int]:
    """``127.0.0.1:5353``, ``[::1]:53`` or a bare address (port 53)."""
    text = text.strip()
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(port_text, text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigurationError(
            f"TAKEDOWN_DNS_SERVER: '{text}' must be an IP address, optionally with :port"
        ) from None
    return host, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigurationError(f"TAKEDOWN_DNS_SERVER: '{whole}' has a bad port")
    return int(text)


@dataclass
class _Answer:
    values: tuple[str, ...]
    status: LookupStatus
    detail: str = ""


def _lookup(client: DNSClient, name: str, rdtype: str) -> _Answer:
    try:
        answer = client._resolver.resolve(name, rdtype, search=False)
    except dns.resolver.NXDOMAIN:
        return _Answer((), LookupStatus.NXDOMAIN, f"{name} does not exist (NXDOMAIN)")
    except dns.resolver.NoAnswer:
        return _Answer((), LookupStatus.NO_ADDRESS, f"{name} has no {rdtype} record")
    except dns.exception.DNSException as exc:
        return _Answer((), LookupStatus.FAILED, f"{rdtype} {name}: {exc}")
    values: list[str] = []
    for record in answer:
        if rdtype == "TXT":
            values.append(b"".join(record.strings).decode("utf-8", "replace"))
        elif rdtype in ("NS", "CNAME"):
            values.append(record.target.to_text(omit_final_dot=True).lower())
        else:
            values.append(record.to_text())
    return _Answer(tuple(values), LookupStatus.OK)


def txt_records(client: DNSClient, name: str) -> tuple[str, ...]:
    """The TXT strings of ``name`` (each record's strings joined); empty when there are none."""
    return _lookup(client, name, "TXT").values


def nameservers(client: DNSClient, zone: str) -> tuple[str, ...]:
    """The NS names of ``zone``, sorted; empty when it has none or the lookup fails."""
    return tuple(sorted(_lookup(client, zone, "NS").values))
