"""Turning RDAP objects (RFC 9083) from any of the five regional registries into one shape.

The registries agree on the RFC and differ on everything it leaves open. Seen in real answers:

- ARIN nests the abuse contact *inside* the registrant organisation's entity; LACNIC does too, and
  also lists it at the top level with several roles at once.
- RIPE and APNIC put an ``abuse`` entity at the top level (APNIC's is the IRT object); APNIC
  allocations to national registries sometimes have no abuse contact at all.
- AFRINIC has answered with entities that carry no ``roles`` at all.
- Addresses come as ``62.239.237.0/32`` (RIPE, with a prefix length on a single address),
  ``2001:4860:0000:...`` (ARIN, uncompressed), ``2001:0240::/32`` (APNIC handle) or a bare address.

So: walk every entity at every depth, collect contacts by role, and derive the range from whichever
of ``cidr0_cidrs``, ``startAddress``/``endAddress`` or the handle makes sense.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hosting.errors import MalformedResponse
from hosting.rdap.vcard import Card, read_card

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

FALLBACK_ROLES = ("technical", "administrative", "noc", "registrant")
"""Whom to write to when a registry lists no abuse contact, nearest first."""


@dataclass(frozen=True)
class EntityContact:
    """A contact found in an RDAP answer: whose it is, in what role, how deep it was nested."""

    handle: str | None
    roles: tuple[str, ...]
    card: Card
    depth: int


@dataclass(frozen=True)
class AbuseContacts:
    """Where to send a notice, and how sure we are of it.

    ``source`` is ``abuse`` when a registry named an abuse contact, ``fallback:<role>`` when only a
    technical or administrative contact was found, ``none`` when the answer had no mailbox at all.
    """

    emails: tuple[str, ...]
    source: str
    handles: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetworkRecord:
    registry: str
    handle: str
    name: str | None
    start: IPAddress
    end: IPAddress
    organisation: str | None
    country: str | None
    abuse: AbuseContacts
    parent_handle: str | None = None
    network_type: str | None = None
    origin_asns: tuple[int, ...] = ()
    source_url: str | None = None

    @property
    def cidrs(self) -> list[str]:
        return [str(net) for net in ipaddress.summarize_address_range(self.start, self.end)]

    def contains(self, address: IPAddress) -> bool:
        return address.version == self.start.version and self.start <= address <= self.end  # type: ignore[operator]

    def to_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "handle": self.handle,
            "name": self.name,
            "start": str(self.start),
            "end": str(self.end),
            "cidrs": self.cidrs,
            "organisation": self.organisation,
            "country": self.country,
            "abuse_emails": list(self.abuse.emails),
            "abuse_source": self.abuse.source,
            "abuse_handles": list(self.abuse.handles),
            "parent_handle": self.parent_handle,
            "type": self.network_type,
            "origin_asns": list(self.origin_asns),
            "source_url": self.source_url,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkRecord:
        return cls(
            registry=data["registry"],
            handle=data["handle"],
            name=data.get("name"),
            start=ipaddress.ip_address(data["start"]),
            end=ipaddress.ip_address(data["end"]),
            organisation=data.get("organisation"),
            country=data.get("country"),
            abuse=AbuseContacts(
                tuple(data.get("abuse_emails", ())),
                data.get("abuse_source", "none"),
                tuple(data.get("abuse_handles", ())),
            ),
            parent_handle=data.get("parent_handle"),
            network_type=data.get("type"),
            origin_asns=tuple(data.get("origin_asns", ())),
            source_url=data.get("source_url"),
        )


@dataclass(frozen=True)
class AutnumRecord:
    registry: str
    asn: int
    handle: str
    name: str | None
    organisation: str | None
    country: str | None
    abuse: AbuseContacts
    source_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "asn": self.asn,
            "handle": self.handle,
            "name": self.name,
            "organisation": self.organisation,
            "country": self.country,
            "abuse_emails": list(self.abuse.emails),
            "abuse_source": self.abuse.source,
            "source_url": self.source_url,
        }


@dataclass(frozen=True)
class DomainRecord:
    """A domain's registration: above all its registrar, and the registrar's abuse contact."""

    name: str
    registrar: str | None
    registrar_iana_id: str | None
    registrar_abuse: AbuseContacts
    nameservers: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    source_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "registrar": self.registrar,
            "registrar_iana_id": self.registrar_iana_id,
            "registrar_abuse_emails": list(self.registrar_abuse.emails),
            "registrar_abuse_source": self.registrar_abuse.source,
            "nameservers": list(self.nameservers),
            "status": list(self.status),
            "source_url": self.source_url,
        }


def parse_network(data: Any, registry: str, source_url: str | None = None) -> NetworkRecord:
    """An ``ip network`` object; :class:`MalformedResponse` if it is not one or has no usable range."""
    _expect(data, "ip network", source_url)
    start, end = _range(data, source_url)
    contacts = list(walk_entities(data.get("entities")))
    registrant = _first_card(contacts, "registrant")
    return NetworkRecord(
        registry=registry,
        handle=_text(data.get("handle")) or f"{start} - {end}",
        name=_text(data.get("name")),
        start=start,
        end=end,
        organisation=_organisation(registrant) or _text(data.get("name")),
        country=_country(data, registrant),
        abuse=abuse_contacts(contacts),
        parent_handle=_text(data.get("parentHandle")),
        network_type=_text(data.get("type")),
        origin_asns=_origin_asns(data),
        source_url=source_url,
    )


def parse_autnum(data: Any, registry: str, source_url: str | None = None) -> AutnumRecord:
    _expect(data, "autnum", source_url)
    try:
        asn = int(data.get("startAutnum") or str(data.get("handle", "")).upper().removeprefix("AS"))
    except (TypeError, ValueError):
        raise MalformedResponse(f"{source_url or registry}: autnum without a number") from None
    contacts = list(walk_entities(data.get("entities")))
    registrant = _first_card(contacts, "registrant")
    return AutnumRecord(
        registry=registry,
        asn=asn,
        handle=_text(data.get("handle")) or f"AS{asn}",
        name=_text(data.get("name")),
        organisation=_organisation(registrant) or _text(data.get("name")),
        country=_country(data, registrant),
        abuse=abuse_contacts(contacts),
        source_url=source_url,
    )


def parse_domain(data: Any, source_url: str | None = None) -> DomainRecord:
    """A ``domain`` object: the registrar is the entity with role ``registrar``, and its abuse
    contact is nested inside it (the ICANN gTLD RDAP profile); ccTLD registries vary."""
    _expect(data, "domain", source_url)
    name = (_text(data.get("ldhName")) or _text(data.get("unicodeName")) or "").lower().rstrip(".")
    registrar_entity = next(
        (e for e in _entities(data.get("entities")) if "registrar" in _roles(e)),
        None,
    )
    registrar = iana_id = None
    abuse = AbuseContacts((), "none")
    if registrar_entity is not None:
        card = read_card(registrar_entity.get("vcardArray"))
        registrar = card.organisation or card.name or _text(registrar_entity.get("handle"))
        for public_id in _list(registrar_entity.get("publicIds")):
            if isinstance(public_id, dict) and "iana" in str(public_id.get("type", "")).lower():
                iana_id = _text(public_id.get("identifier"))
        abuse = abuse_contacts(list(walk_entities(registrar_entity.get("entities"), depth=1)))
    if not abuse.emails:  # some ccTLDs list the abuse contact at the top level instead
        top = [c for c in walk_entities(data.get("entities")) if "registrar" not in c.roles]
        top_abuse = abuse_contacts(top)
        if top_abuse.source == "abuse":
            abuse = top_abuse
    nameservers = tuple(
        str(ns.get("ldhName", "")).lower().rstrip(".")
        for ns in _list(data.get("nameservers"))
        if isinstance(ns, dict) and ns.get("ldhName")
    )
    status = tuple(str(s) for s in _list(data.get("status")) if isinstance(s, str))
    return DomainRecord(name, registrar, iana_id, abuse, nameservers, status, source_url)


def walk_entities(entities: Any, depth: int = 0) -> Iterator[EntityContact]:
    """Every entity at every depth, parents before children, with its roles and card."""
    for entity in _entities(entities):
        yield EntityContact(
            _text(entity.get("handle")), _roles(entity), read_card(entity.get("vcardArray")), depth
        )
        yield from walk_entities(entity.get("entities"), depth + 1)


def abuse_contacts(contacts: list[EntityContact]) -> AbuseContacts:
    """E-mails of the ``abuse`` role wherever it is nested; failing that, the nearest fallback role."""
    by_depth = sorted(contacts, key=lambda c: c.depth)
    for roles, source in [(("abuse",), "abuse")] + [((role,), f"fallback:{role}") for role in FALLBACK_ROLES]:
        chosen = [c for c in by_depth if set(roles) & set(c.roles) and c.card.emails]
        if chosen:
            emails = tuple(dict.fromkeys(email for c in chosen for email in c.card.emails))
            handles = tuple(dict.fromkeys(c.handle for c in chosen if c.handle))
            return AbuseContacts(emails, source, handles)
    unlabelled = [c for c in by_depth if not c.roles and c.card.emails]
    if unlabelled:  # AFRINIC's entities without roles: better than nothing, and marked so
        emails = tuple(dict.fromkeys(email for c in unlabelled for email in c.card.emails))
        return AbuseContacts(emails, "fallback:unlabelled", tuple(c.handle for c in unlabelled if c.handle))
    return AbuseContacts((), "none")


def _expect(data: Any, object_class: str, source: str | None) -> None:
    if not isinstance(data, dict):
        raise MalformedResponse(f"{source or 'RDAP'}: expected a JSON object, got {type(data).__name__}")
    found = data.get("objectClassName")
    if found is not None and str(found).lower() != object_class:
        raise MalformedResponse(f"{source or 'RDAP'}: expected an {object_class} object, got {found!r}")


def _range(data: dict[str, Any], source: str | None) -> tuple[IPAddress, IPAddress]:
    start = _address(data.get("startAddress"))
    end = _address(data.get("endAddress"))
    if start is not None and end is not None and start.version == end.version and start <= end:  # type: ignore[operator]
        return start, end
    networks = [net for net in (_cidr0(item) for item in _list(data.get("cidr0_cidrs"))) if net is not None]
    if networks:
        return networks[0].network_address, networks[-1].broadcast_address
    handle_net = _network(data.get("handle"))
    if handle_net is not None:
        return handle_net.network_address, handle_net.broadcast_address
    raise MalformedResponse(f"{source or 'RDAP'}: ip network without a usable address range")


def _address(value: Any) -> IPAddress | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().split("/", 1)[0]  # RIPE has written "62.239.237.0/32" for an address
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _network(value: Any) -> IPNetwork | None:
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def _cidr0(item: Any) -> IPNetwork | None:
    if not isinstance(item, dict):
        return None
    prefix = item.get("v4prefix") or item.get("v6prefix")
    return _network(f"{prefix}/{item.get('length')}") if prefix else None


def _origin_asns(data: dict[str, Any]) -> tuple[int, ...]:
    found = []
    for value in _list(data.get("arin_originas0_originautnums")):
        try:
            found.append(int(str(value).upper().removeprefix("AS")))
        except ValueError:
            continue
    return tuple(found)


def _entities(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (entity for entity in value if isinstance(entity, dict))


def _roles(entity: dict[str, Any]) -> tuple[str, ...]:
    roles = entity.get("roles")
    return tuple(str(r).lower() for r in roles) if isinstance(roles, list) else ()


def _first_card(contacts: list[EntityContact], role: str) -> Card | None:
    """The nearest entity in ``role``; for the registrant, failing that, the nearest organisation
    card (AFRINIC lists its organisation entity without any role)."""
    ordered = sorted(contacts, key=lambda c: c.depth)
    found = next((c.card for c in ordered if role in c.roles), None)
    if found is None and role == "registrant":
        found = next((c.card for c in ordered if c.card.kind == "org"), None)
    return found


def _organisation(card: Card | None) -> str | None:
    return None if card is None else card.organisation or card.name


def _country(data: dict[str, Any], registrant: Card | None) -> str | None:
    country = _text(data.get("country"))
    if country and len(country) == 2:
        return country.upper()
    return registrant.country if registrant is not None else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
