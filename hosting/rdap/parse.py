"""Turning RDAP objects (RFC 9083) from any of the five regional registries into one shape.

The registries agree on the RFC and differ on everything it leaves open. Seen in real answers:

- ARIN nests the abuse contact *inside* the registrant organisation's entity; LACNIC does too, and
  also lists it at the top level with several roles at once.
- RIPE and APNIC put an ``abuse`` entity at the top level (APNIC's is the IRT object); APNIC
  allocations to national registries sometimes have no abuse contact at all.
- AFRINIC has answered with entities that carry no ``roles`` at all.
- Addresses come as ``62.239.237.0/32`` (RIPE, with a prefix length on a single address),
  ``2001:4860:0000:...`` (ARIN, uncompressed), ``074.125.000.000`` (ARIN in 2015, zero-padded
  decimal), ``2001:0240::/32`` (APNIC handle) or a bare address. LACNIC once answered with the
  queried address as both ends and no CIDR: the range is then that one address, never widened.
- RIPE lists maintainers (``*-MNT``, ``kind: individual``) with the ``registrant`` role beside the
  organisation; the holder is the organisation. RIPE and APNIC mark which of a role object's
  mailboxes is the abuse mailbox (see :mod:`hosting.rdap.vcard`): the others are operations or
  routing lists and are not written to.
- ARIN lists a network's own points of contact at the top and the organisation's nested inside it:
  the network's own abuse contact, where there is one, is the more specific and wins.
- Some holders name their abuse mailbox only in a remark ("please send abuse reports to ...";
  AFRINIC, APNIC for 1.1.1.0/24). Those are used when no abuse role gives a mailbox, and kept as
  alternates otherwise, for when the designated mailbox is barred (a registry's own helpdesk).
- NIC.br leaves mailboxes out of an answer when it thinks we asked too often, and says so with an
  ``object truncated ...`` remark (RFC 9083 section 10.2.1): such an answer is marked
  :attr:`NetworkRecord.truncated`, so it is asked for again instead of cached as "no contact".

So: walk every entity at every depth, collect contacts by role, and derive the range from whichever
of ``cidr0_cidrs``, ``startAddress``/``endAddress`` or the handle makes sense.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hosting.errors import MalformedResponse
from hosting.rdap.vcard import Card, normalise_email, read_card, unique_mailboxes

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
    remarks: tuple[str, ...] = ()

    @property
    def is_maintainer(self) -> bool:
        """RIPE's maintainer objects (``ALOJALIA-MNT``): who may edit a record, never its holder."""
        return (self.handle or "").upper().endswith("-MNT")


@dataclass(frozen=True)
class AbuseContacts:
    """Where to send a notice, and how sure we are of it.

    ``source`` is ``abuse`` when a registry named an abuse contact, ``remarks`` when the holder named
    its abuse mailbox only in a remark, ``fallback:<role>`` when only another contact was found
    (``fallback:abuse-address`` for an ``abuse@`` mailbox of a contact in another role), ``none``
    when the answer had no mailbox at all. ``alternates`` are abuse mailboxes named in remarks
    besides the chosen ones: the contact book turns to them when it bars every chosen one.
    """

    emails: tuple[str, ...]
    source: str
    handles: tuple[str, ...] = ()
    alternates: tuple[str, ...] = ()


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
    truncated: bool = False
    """The registry said it left data out (RFC 9083 ``object truncated`` remark)."""
    via: tuple[str, ...] = ()
    """The URLs that redirected to ``source_url``, in order."""

    @property
    def cidrs(self) -> list[str]:
        return list(self._cidr_texts)

    @functools.cached_property
    def _cidr_texts(self) -> tuple[str, ...]:
        """Worked out once per record: a round of notices asks for the network of each of its
        cases, and a network's cases share its record."""
        return tuple(str(net) for net in ipaddress.summarize_address_range(self.start, self.end))

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
            "abuse_alternates": list(self.abuse.alternates),
            "parent_handle": self.parent_handle,
            "type": self.network_type,
            "origin_asns": list(self.origin_asns),
            "source_url": self.source_url,
            "truncated": self.truncated,
            "via": list(self.via),
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
                tuple(data.get("abuse_alternates", ())),
            ),
            parent_handle=data.get("parent_handle"),
            network_type=data.get("type"),
            origin_asns=tuple(data.get("origin_asns", ())),
            source_url=data.get("source_url"),
            truncated=bool(data.get("truncated", False)),
            via=tuple(data.get("via", ())),
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
    truncated: bool = False
    via: tuple[str, ...] = ()

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
            "truncated": self.truncated,
            "via": list(self.via),
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
    via: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "registrar": self.registrar,
            "registrar_iana_id": self.registrar_iana_id,
            "registrar_abuse_emails": list(self.registrar_abuse.emails),
            "registrar_abuse_source": self.registrar_abuse.source,
            "registrar_abuse_handles": list(self.registrar_abuse.handles),
            "registrar_abuse_alternates": list(self.registrar_abuse.alternates),
            "nameservers": list(self.nameservers),
            "status": list(self.status),
            "source_url": self.source_url,
            "via": list(self.via),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainRecord:
        """The record :meth:`to_dict` gave, as the registration cache keeps it."""
        return cls(
            name=data["name"],
            registrar=data.get("registrar"),
            registrar_iana_id=data.get("registrar_iana_id"),
            registrar_abuse=AbuseContacts(
                tuple(data.get("registrar_abuse_emails", ())),
                data.get("registrar_abuse_source", "none"),
                tuple(data.get("registrar_abuse_handles", ())),
                tuple(data.get("registrar_abuse_alternates", ())),
            ),
            nameservers=tuple(data.get("nameservers", ())),
            status=tuple(data.get("status", ())),
            source_url=data.get("source_url"),
            via=tuple(data.get("via", ())),
        )


def parse_network(data: Any, registry: str, source_url: str | None = None) -> NetworkRecord:
    """An ``ip network`` object; :class:`MalformedResponse` if it is not one or has no usable range."""
    _expect(data, "ip network", source_url)
    start, end = _range(data, source_url)
    contacts = list(walk_entities(data.get("entities")))
    registrant = holder_card(contacts)
    return NetworkRecord(
        registry=registry,
        handle=_text(data.get("handle")) or f"{start} - {end}",
        name=_text(data.get("name")),
        start=start,
        end=end,
        organisation=_organisation(registrant) or _text(data.get("name")),
        country=_country(data, registrant),
        abuse=abuse_contacts(contacts, _remarks(data)),
        parent_handle=_text(data.get("parentHandle")),
        network_type=_text(data.get("type")),
        origin_asns=_origin_asns(data),
        source_url=source_url,
        truncated=_truncated(data),
    )


def parse_autnum(data: Any, registry: str, source_url: str | None = None) -> AutnumRecord:
    _expect(data, "autnum", source_url)
    try:
        asn = int(data.get("startAutnum") or str(data.get("handle", "")).upper().removeprefix("AS"))
    except (TypeError, ValueError):
        raise MalformedResponse(f"{source_url or registry}: autnum without a number") from None
    contacts = list(walk_entities(data.get("entities")))
    registrant = holder_card(contacts)
    return AutnumRecord(
        registry=registry,
        asn=asn,
        handle=_text(data.get("handle")) or f"AS{asn}",
        name=_text(data.get("name")),
        organisation=_organisation(registrant) or _text(data.get("name")),
        country=_country(data, registrant),
        abuse=abuse_contacts(contacts, _remarks(data)),
        source_url=source_url,
        truncated=_truncated(data),
    )


def parse_domain(data: Any, source_url: str | None = None) -> DomainRecord:
    """A ``domain`` object: the registrar is the entity with role ``registrar``, and its abuse
    contact is nested inside it (the ICANN gTLD RDAP profile); ccTLD registries vary: some list the
    abuse contact at the top level (Namecheap), some none at all (AFNIC, Norid), and then the
    registrar's own published mailbox is used, marked ``fallback:registrar``, so that escalation to
    the registrar still reaches someone. The profile makes a gTLD registrar's handle its IANA ID."""
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
        handle = _text(registrar_entity.get("handle"))
        if iana_id is None and handle is not None and handle.isdigit():
            iana_id = handle
        abuse = abuse_contacts(list(walk_entities(registrar_entity.get("entities"), depth=1)))
        if abuse.source != "abuse":
            abuse = AbuseContacts((), "none")  # the registrar's staff are not its abuse desk
    if not abuse.emails:  # some ccTLDs list the abuse contact at the top level instead
        top = [c for c in walk_entities(data.get("entities")) if "registrar" not in c.roles]
        top_abuse = abuse_contacts(top)
        if top_abuse.source == "abuse":
            abuse = top_abuse
    if not abuse.emails and registrar_entity is not None:
        own = read_card(registrar_entity.get("vcardArray")).emails
        if own:
            abuse = AbuseContacts(
                own, "fallback:registrar", _handles([_text(registrar_entity.get("handle"))])
            )
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
            _text(entity.get("handle")),
            _roles(entity),
            read_card(entity.get("vcardArray")),
            depth,
            tuple(_remarks(entity)),
        )
        yield from walk_entities(entity.get("entities"), depth + 1)


def abuse_contacts(contacts: list[EntityContact], remarks: Iterable[str] = ()) -> AbuseContacts:
    """Where the answer says abuse reports go, most authoritative first:

    1. the ``abuse`` role, at the shallowest depth that has one with a mailbox (ARIN: the network's
       own contact before its organisation's), only the mailboxes its card marks for abuse;
    2. a mailbox a remark names for abuse (the object's remarks, then its entities');
    3. an ``abuse@`` mailbox of any contact (RFC 2142's name for it), marked ``fallback:abuse-address``;
    4. the nearest technical, administrative, NOC or registrant contact, marked ``fallback:<role>``;
    5. contacts without any role (AFRINIC), marked ``fallback:unlabelled``.
    """
    by_depth = sorted(contacts, key=lambda c: c.depth)
    stated = unique_mailboxes(
        _remark_mailboxes(list(remarks)) + [a for c in by_depth for a in _remark_mailboxes(list(c.remarks))]
    )
    abuse_roles = [c for c in by_depth if "abuse" in c.roles and c.card.emails]
    if abuse_roles:
        nearest = [c for c in abuse_roles if c.depth == abuse_roles[0].depth]
        emails = unique_mailboxes([e for c in nearest for e in c.card.abuse_emails])
        alternates = tuple(a for a in stated if a.lower() not in {e.lower() for e in emails})
        return AbuseContacts(emails, "abuse", _handles(c.handle for c in nearest), alternates)
    if stated:
        return AbuseContacts(stated, "remarks")
    named = [c for c in by_depth if any(_is_abuse_address(e) for e in c.card.emails)]
    if named:
        emails = unique_mailboxes([e for c in named for e in c.card.emails if _is_abuse_address(e)])
        return AbuseContacts(emails, "fallback:abuse-address", _handles(c.handle for c in named))
    for role in FALLBACK_ROLES:
        chosen = [c for c in by_depth if role in c.roles and c.card.emails and not c.is_maintainer]
        if chosen:
            emails = unique_mailboxes([e for c in chosen for e in c.card.emails])
            return AbuseContacts(emails, f"fallback:{role}", _handles(c.handle for c in chosen))
    unlabelled = [c for c in by_depth if not c.roles and c.card.emails]
    if unlabelled:  # AFRINIC's entities without roles: better than nothing, and marked so
        emails = unique_mailboxes([e for c in unlabelled for e in c.card.emails])
        return AbuseContacts(emails, "fallback:unlabelled", _handles(c.handle for c in unlabelled))
    return AbuseContacts((), "none")


def holder_card(contacts: list[EntityContact]) -> Card | None:
    """The card of whoever holds the resource: the nearest ``registrant`` that is an organisation,
    else the nearest registrant that is not a maintainer, else (AFRINIC lists its organisation
    without any role) the nearest organisation card."""
    ordered = sorted(contacts, key=lambda c: c.depth)
    registrants = [c for c in ordered if "registrant" in c.roles and not c.is_maintainer]
    for candidates in (
        [c for c in registrants if c.card.kind == "org"],
        [c for c in registrants if c.card.organisation or c.card.name],
        [c for c in ordered if c.card.kind == "org" and not c.is_maintainer],
    ):
        if candidates:
            return candidates[0].card
    return None


_MAILBOX_IN_TEXT = re.compile(r"[^\s<>(),;:\"'\[\]]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _remark_mailboxes(lines: list[str]) -> list[str]:
    """Mailboxes a remark names for abuse: on a line that speaks of abuse, on the line after one
    that does without naming a mailbox ("... can be done via" / "x-abuse@..."), or with ``abuse``
    in the mailbox itself. Other mailboxes in remarks (peering, routing requests) are not."""
    found: list[str] = []
    pending = False
    for line in lines:
        speaks = "abuse" in line.lower()
        mailboxes = [m for raw in _MAILBOX_IN_TEXT.findall(line) if (m := normalise_email(raw.rstrip(".")))]
        for mailbox in mailboxes:
            if speaks or pending or _is_abuse_address(mailbox):
                found.append(mailbox)
        pending = speaks and not mailboxes
    return found


def _is_abuse_address(address: str) -> bool:
    return "abuse" in address.rpartition("@")[0].lower()


def _remarks(obj: dict[str, Any]) -> list[str]:
    """The description lines of an object's remarks (RFC 9083 section 4.3)."""
    lines: list[str] = []
    for remark in _list(obj.get("remarks")):
        if isinstance(remark, dict):
            lines.extend(line for line in _list(remark.get("description")) if isinstance(line, str))
    return lines


def _truncated(obj: dict[str, Any]) -> bool:
    """An ``object truncated ...`` remark or notice: the registry held data back (RFC 9083 10.2.1)."""
    for note in _list(obj.get("remarks")) + _list(obj.get("notices")):
        if isinstance(note, dict) and str(note.get("type", "")).lower().startswith("object truncated"):
            return True
    return False


def _handles(handles: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(h for h in handles if h))


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
    parts = text.split(".")
    if len(parts) == 4 and all(p.isascii() and p.isdigit() and len(p) <= 3 for p in parts):
        text = ".".join(str(int(p)) for p in parts)  # ARIN's "074.125.000.000": padded decimal
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


def _organisation(card: Card | None) -> str | None:
    return None if card is None else card.organisation or card.name


def _country(data: dict[str, Any], registrant: Card | None) -> str | None:
    country = _text(data.get("country"))
    if country and len(country) == 2:
        return country.upper()
    return registrant.country if registrant is not None else None


def _text(value: Any) -> str | None:
    """A value as one line: a registry's CR/LF or tabs inside a name must not become extra lines
    (or headers) in a notice."""
    return " ".join(value.split()) or None if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
