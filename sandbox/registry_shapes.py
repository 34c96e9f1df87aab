"""The registries' shapes: how each of the five regional registries (and a domain registry) writes
its RDAP answers, quirks included, rendered from plain descriptions of networks, AS numbers and
domains.

Each copies what that registry really sends (see ``hosting/rdap/parse.py`` for the list): ARIN's
abuse contact nested in the registrant, RIPE's and APNIC's at the top level, LACNIC's nested with
the country in the structured address, AFRINIC's entities without roles. :mod:`sandbox.rdap_server`
serves them.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Any

REGISTRIES = ("arin", "ripe", "apnic", "lacnic", "afrinic")
DOMAIN_REGISTRY = "nic"


@dataclass(frozen=True)
class Network:
    """A registered network: ``abuse=None`` registers it without any abuse contact."""

    cidr: str
    registry: str
    organisation: str
    country: str = "ZZ"
    abuse: str | None = None
    technical: str | None = None
    asn: int | None = None
    name: str | None = None
    kind: str | None = None
    """The registry's network type; each registry's usual end-user assignment type when unset."""

    @functools.cached_property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        """Parsed once: every RDAP and origin query searches the registered networks with it."""
        return ipaddress.ip_network(self.cidr)


@dataclass(frozen=True)
class Autnum:
    asn: int
    registry: str
    name: str
    organisation: str
    country: str = "ZZ"
    abuse: str | None = None
    peers: tuple[int, ...] = ()
    """Upstream networks: what an IP-to-ASN ``peer`` lookup names for this AS's prefixes."""


@dataclass(frozen=True)
class Registration:
    """A domain's registration at the sandbox's domain registry."""

    domain: str
    registrar: str
    iana_id: str = "9999"
    abuse: str | None = None
    nameservers: tuple[str, ...] = ()


def _card(*props: list[Any]) -> list[Any]:
    return ["vcard", [["version", {}, "text", "4.0"], *props]]


def _notices(text: str) -> list[dict[str, Any]]:
    return [{"title": "Terms and Conditions", "description": [text]}]


def _range(network: Network) -> tuple[str, str]:
    net = network.network
    return str(net.network_address), str(net.broadcast_address)


def _cidr0(network: Network) -> list[dict[str, Any]]:
    net = network.network
    key = "v4prefix" if net.version == 4 else "v6prefix"
    return [{key: str(net.network_address), "length": net.prefixlen}]


def _handle_part(network: Network) -> str:
    return str(network.network.network_address).replace(".", "-").replace(":", "-")


def _entity(handle: str | None, roles: list[str] | None, *props: list[Any], **extra: Any) -> dict[str, Any]:
    """An RDAP entity: ``roles=None`` leaves the member out (as AFRINIC has), no props no vCard."""
    entity: dict[str, Any] = {"objectClassName": "entity"}
    if handle is not None:
        entity["handle"] = handle
    if props:
        entity["vcardArray"] = _card(*props)
    if roles is not None:
        entity["roles"] = roles
    return {**entity, **extra}


def _text(name: str, value: Any, **params: Any) -> list[Any]:
    return [name, params, "text", value]


def _network_object(
    network: Network, handle: str, entities: list[dict[str, Any]], **fields: Any
) -> dict[str, Any]:
    start, end = _range(network)
    return {
        "objectClassName": "ip network",
        "handle": handle,
        "startAddress": start,
        "endAddress": end,
        "ipVersion": f"v{network.network.version}",
        "name": network.name or network.organisation.upper().replace(" ", "-"),
        "entities": entities,
        **fields,
    }


def render_arin(network: Network, base: str) -> dict[str, Any]:
    """ARIN: the abuse POC is nested inside the registrant org; no top-level country; exploded IPv6."""
    net = network.network
    label = {"label": "1 Example Way\nAnytown\nUNITED STATES"}
    nested = []
    if network.abuse:
        nested.append(
            _entity(
                f"ABUSE{net.prefixlen}-ARIN",
                ["abuse"],
                ["adr", label, "text", ["", "", "", "", "", "", ""]],
                _text("fn", "Abuse"),
                _text("org", "Abuse"),
                _text("kind", "group"),
                _text("email", network.abuse),
                _text("tel", "+1-555-0100", type=["work", "voice"]),
                status=["validated"],
            )
        )
    if network.technical:
        nested.append(
            _entity("NOC-ARIN", ["technical", "noc"], _text("fn", "NOC"), _text("email", network.technical))
        )
    registrant = _entity(
        network.organisation.upper().replace(" ", "")[:8],
        ["registrant"],
        _text("fn", network.organisation),
        ["adr", label, "text", ["", "", "", "", "", "", ""]],
        _text("kind", "org"),
        entities=nested,
    )
    document = _network_object(
        network,
        f"NET-{_handle_part(network)}-1",
        [registrant],
        rdapConformance=["nro_rdap_profile_0", "rdap_level_0", "cidr0", "arin_originas0"],
        notices=_notices("By using the ARIN RDAP/Whois service, you agree to the RDAP/Whois Terms of Use"),
        type=network.kind or "DIRECT ASSIGNMENT",
        parentHandle="NET-127-0-0-0-0",
        cidr0_cidrs=_cidr0(network),
        arin_originas0_originautnums=[network.asn] if network.asn else [],
        status=["active"],
        port43="whois.arin.net",
        events=[{"eventAction": "registration", "eventDate": "2019-03-01T10:00:00-05:00"}],
    )
    if net.version == 6:  # ARIN writes IPv6 addresses in full
        document["startAddress"] = net.network_address.exploded
        document["endAddress"] = net.broadcast_address.exploded
    return document


def render_ripe(network: Network, base: str) -> dict[str, Any]:
    """RIPE: a range as handle, addresses with a ``/32`` tail, the abuse-c role at the top level."""
    entities = [
        _entity(
            "ORG-EX1-RIPE",
            ["registrant"],
            _text("fn", network.organisation),
            _text("kind", "org"),
            ["adr", {"label": "Example Street 1\nAmsterdam\nNETHERLANDS"}, "text", None],
        ),
        _entity("EX-MNT", ["registrant"]),
    ]
    if network.abuse:
        abuse = _entity(
            "AR1-RIPE",
            ["abuse"],
            _text("fn", "Abuse Contact"),
            _text("kind", "group"),
            _text("email", network.abuse),
            entities=[{"handle": "EX-MNT", "roles": ["registrant"]}],
        )
        entities.insert(0, abuse)
    if network.technical:
        entities.append(
            _entity(
                "TECH1-RIPE",
                ["technical", "administrative"],
                _text("fn", "Tech"),
                _text("email", network.technical),
            )
        )
    start, end = _range(network)
    suffix = "/32" if network.network.version == 4 else "/128"
    return _network_object(
        network,
        f"{start} - {end}",
        entities,
        startAddress=start + suffix,
        endAddress=end + suffix,
        rdapConformance=["cidr0", "rdap_level_0", "nro_rdap_profile_0", "redacted"],
        notices=[
            {"title": "Filtered", "description": ["This output has been filtered."]},
            *_notices("This is the RIPE Database query service. The objects are in RDAP format."),
        ],
        type=network.kind or "ASSIGNED PA",
        country=network.country,
        parentHandle="127.0.0.0 - 127.255.255.255",
        cidr0_cidrs=_cidr0(network),
        port43="whois.ripe.net",
    )


def render_apnic(network: Network, base: str) -> dict[str, Any]:
    """APNIC: the IRT object carries the abuse role; without one, only technical/admin contacts."""
    entities = [
        _entity("ORG-EX1-AP", ["registrant"], _text("fn", network.organisation), _text("kind", "org"))
    ]
    if network.abuse:
        entities.append(
            _entity(
                "IRT-EXAMPLE-AP",
                ["abuse"],
                _text("fn", "IRT-EXAMPLE-AP"),
                _text("kind", "group"),
                _text("email", network.abuse),
                ["adr", {"label": "PO Box 1\nBrisbane\nAustralia"}, "text", ["", "", "", "", "", "", ""]],
                _text("email", network.abuse, pref="1"),
                remarks=[
                    {"title": "remarks", "description": [f"{network.abuse} was validated on 2026-02-09"]}
                ],
            )
        )
    if network.technical:
        entities.append(
            _entity(
                "EX1-AP",
                ["technical", "administrative"],
                _text("fn", "Hostmaster"),
                _text("email", network.technical),
            )
        )
    start, end = _range(network)
    return _network_object(
        network,
        f"{start} - {end}",
        entities,
        rdapConformance=["history_version_0", "nro_rdap_profile_0", "apnic_cidr0", "cidr0", "rdap_level_0"],
        notices=[{"title": "Source", "description": ["Objects returned came from source", "APNIC"]}],
        type=network.kind or "ASSIGNED PORTABLE",
        country=network.country,
        cidr0_cidrs=_cidr0(network),
        remarks=[{"title": "description", "description": [network.organisation]}],
        port43="whois.apnic.net",
    )


def render_lacnic(network: Network, base: str) -> dict[str, Any]:
    """LACNIC: contacts nested in the registrant, country only in the structured address."""
    address = ["adr", {}, "text", ["", "", "Rambla 6125", "Montevideo", "", "11400", network.country]]
    nested = []
    if network.abuse:
        local, _, domain = network.abuse.partition("@")
        nested.append(
            _entity(
                "ABU1",
                ["abuse"],
                _text("fn", "Abuse Desk"),
                _text("kind", "individual"),
                address,
                _text("email", f"{local}@{domain.upper()}"),
            )
        )
    if network.technical:
        nested.append(_entity("TEC1", ["technical"], _text("fn", "NOC"), _text("email", network.technical)))
    registrant = _entity(
        "ZZ-EXAM-LACNIC",
        ["registrant"],
        _text("fn", network.organisation),
        _text("kind", "org"),
        address,
        entities=nested,
    )
    return _network_object(
        network,
        network.cidr,
        [registrant],
        name=network.name or network.organisation,
        rdapConformance=["rdap_level_0", "cidr0", "nro_rdap_profile_0"],
        notices=_notices("This is the LACNIC RDAP service. Objects are in RDAP format."),
        type=network.kind or "ASSIGNED PA",
        status=["active"],
        port43="whois.lacnic.net",
    )


def render_afrinic(network: Network, base: str) -> dict[str, Any]:
    """AFRINIC: entities listed without roles (the abuse one too), e-mails typed ``work``."""
    entities = [
        _entity(
            "ORG-EX1-AFRINIC",
            None,
            _text("kind", "org"),
            _text("fn", network.organisation),
            ["adr", {"type": "work"}, "text", ["1 Cybercity", "Ebene", "", "", "", "", ""]],
            status=["active"],
        )
    ]
    if network.abuse:
        entities.append(
            _entity(
                "IRT-EX-AFRINIC",
                ["abuse"],
                _text("kind", "group"),
                _text("fn", "IRT"),
                _text("email", network.abuse, type="work"),
            )
        )
    if network.technical:
        entities.append(
            _entity(
                "TT1-AFRINIC",
                None,
                _text("kind", "individual"),
                _text("fn", "Tech Person"),
                _text("email", network.technical, type="work"),
            )
        )
    start, end = _range(network)
    return _network_object(
        network,
        f"{start} - {end}",
        entities,
        rdapConformance=["rdap_level_0"],
        notices=[{"title": "ABOUT", "description": ["This is the AfriNIC RDAP server."]}],
        type=network.kind or "ASSIGNED PI",
        country=network.country,
        lang="en",
        port43="whois.afrinic.net",
    )


RENDER_NETWORK = {
    "arin": render_arin,
    "ripe": render_ripe,
    "apnic": render_apnic,
    "lacnic": render_lacnic,
    "afrinic": render_afrinic,
}


def render_autnum(autnum: Autnum, base: str) -> dict[str, Any]:
    """ARIN and LACNIC nest the abuse contact in the registrant; the others list it at the top."""
    abuse = (
        [_entity(f"ABUSE-AS{autnum.asn}", ["abuse"], _text("fn", "Abuse"), _text("email", autnum.abuse))]
        if autnum.abuse
        else []
    )
    nested = autnum.registry in ("arin", "lacnic")
    registrant = _entity(
        f"ORG-AS{autnum.asn}",
        ["registrant"],
        _text("fn", autnum.organisation),
        _text("kind", "org"),
        **({"entities": abuse} if nested else {}),
    )
    return {
        "rdapConformance": ["rdap_level_0", "nro_rdap_profile_0"],
        "objectClassName": "autnum",
        "handle": f"AS{autnum.asn}",
        "startAutnum": autnum.asn,
        "endAutnum": autnum.asn,
        "name": autnum.name,
        "country": autnum.country,
        "entities": [registrant] + ([] if nested else abuse),
    }


def render_domain(registration: Registration, base: str) -> dict[str, Any]:
    """The ICANN gTLD RDAP profile: the registrar entity, its IANA id, its abuse contact nested."""
    abuse = (
        [
            _entity(
                None,
                ["abuse"],
                _text("fn", ""),
                ["tel", {"type": "voice"}, "uri", "tel:+1.5550100"],
                _text("email", registration.abuse),
            )
        ]
        if registration.abuse
        else []
    )
    registrar = _entity(
        registration.iana_id,
        ["registrar"],
        _text("fn", registration.registrar),
        publicIds=[{"type": "IANA Registrar ID", "identifier": registration.iana_id}],
        entities=abuse,
    )
    redacted = _entity(
        None,
        ["registrant"],
        remarks=[{"title": "REDACTED FOR PRIVACY", "type": "object redacted due to authorization"}],
    )
    return {
        "rdapConformance": [
            "rdap_level_0",
            "icann_rdap_response_profile_1",
            "icann_rdap_technical_implementation_guide_1",
        ],
        "objectClassName": "domain",
        "handle": f"{registration.domain.upper().replace('.', '_')}-TEST",
        "ldhName": registration.domain.upper(),
        "status": ["client transfer prohibited"],
        "entities": [registrar, redacted],
        "nameservers": [
            {"objectClassName": "nameserver", "ldhName": ns.upper()} for ns in registration.nameservers
        ],
        "events": [{"eventAction": "registration", "eventDate": "2024-05-01T12:00:00Z"}],
    }
