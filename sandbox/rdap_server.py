"""A local RDAP service answering as each of the five regional registries does, and a domain registry.

Each registry's answers copy the shape that registry really uses, quirks included (see
``hosting/rdap/parse.py`` for the list), so the client is tested against what it will meet: ARIN's
abuse contact nested in the registrant, RIPE's and APNIC's at the top level, LACNIC's nested with
the country in the structured address, AFRINIC's entities without roles. Networks, AS numbers and
domains are registered from plain descriptions; the server also serves bootstrap files pointing at
itself, and can be told to rate-limit a registry (429 with Retry-After).

Any one network, AS or domain can instead be given a :class:`RawAnswer`: bytes sent as they are,
after a delay, with any status and headers. That is how the tests serve the answers real registries
recorded, and how they play a hostile registry (nested, huge, slow, redirecting anywhere).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

log = logging.getLogger(__name__)

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

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
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


@dataclass(frozen=True)
class RawAnswer:
    """What to send instead of the rendered answer, byte for byte."""

    body: bytes
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    """Seconds to wait before answering (a slow registry)."""

    @classmethod
    def of(cls, document: Any, **kwargs: Any) -> RawAnswer:
        return cls(json.dumps(document).encode(), **kwargs)


@dataclass
class Throttle:
    allowed: int
    retry_after: int


class RDAPServer:
    def __init__(
        self,
        networks: list[Network] | None = None,
        autnums: list[Autnum] | None = None,
        registrations: list[Registration] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.networks: list[Network] = []
        self.autnums: dict[int, Autnum] = {}
        self.registrations: dict[str, Registration] = {}
        for network in networks or []:
            self.add_network(network)
        for autnum in autnums or []:
            self.add_autnum(autnum)
        for registration in registrations or []:
            self.registrations[registration.domain.lower()] = registration
        self.requests: Counter[tuple[str, str]] = Counter()
        """Queries answered or refused, by (registry, kind): kind is ip, autnum, domain or bootstrap."""
        self._throttles: dict[str, Throttle] = {}
        self._raw: dict[tuple[str, str], RawAnswer] = {}
        self._lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.rdap = self
        self._thread: threading.Thread | None = None

    def add_network(self, network: Network) -> None:
        if network.registry not in REGISTRIES:
            raise ValueError(f"network {network.cidr}: registry must be one of {', '.join(REGISTRIES)}")
        self.networks.append(network)

    def add_autnum(self, autnum: Autnum) -> None:
        if autnum.registry not in REGISTRIES:
            raise ValueError(f"AS{autnum.asn}: registry must be one of {', '.join(REGISTRIES)}")
        self.autnums[autnum.asn] = autnum

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def bootstrap_url(self) -> str:
        """What ``TAKEDOWN_RDAP_BOOTSTRAP`` takes to send every query here."""
        return f"{self.base_url}/bootstrap/"

    def throttle(self, registry: str, *, after: int, retry_after: int = 30) -> None:
        """Answer ``after`` more queries to ``registry``, then 429 with ``Retry-After`` until released."""
        with self._lock:
            self._throttles[registry] = Throttle(after, retry_after)

    def release(self, registry: str) -> None:
        with self._lock:
            self._throttles.pop(registry, None)

    def serve_raw(self, kind: str, key: str, answer: RawAnswer | None) -> None:
        """Answer queries for a registered network (``kind="ip"``, ``key`` its CIDR), AS (``"autnum"``,
        the number) or domain (``"domain"``, the name) with ``answer``; ``None`` goes back to normal."""
        with self._lock:
            if answer is None:
                self._raw.pop((kind, key), None)
            else:
                self._raw[(kind, key)] = answer

    def network_for(self, address: str) -> Network | None:
        """The most specific registered network holding ``address``."""
        ip = ipaddress.ip_address(address)
        holding = [n for n in self.networks if n.network.version == ip.version and ip in n.network]
        return max(holding, key=lambda n: n.network.prefixlen, default=None)

    def start(self) -> RDAPServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-rdap", daemon=True
        )
        self._thread.start()
        log.info("sandbox RDAP on %s", self.base_url)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _admit(self, registry: str, kind: str) -> int | None:
        """Count the query; the Retry-After to answer with when the registry is throttled."""
        with self._lock:
            self.requests[(registry, kind)] += 1
            throttle = self._throttles.get(registry)
            if throttle is None:
                return None
            if throttle.allowed > 0:
                throttle.allowed -= 1
                return None
            return throttle.retry_after

    def answer(self, path: str) -> tuple[int, dict[str, Any] | RawAnswer, dict[str, str]]:
        parts = [unquote(p) for p in path.split("?", 1)[0].strip("/").split("/")]
        if len(parts) == 2 and parts[0] == "bootstrap":
            return 200, self._bootstrap(parts[1].removesuffix(".json")), {}
        if len(parts) < 3:
            return 404, _error(404, "Not Found"), {}
        registry, kind, key = parts[0], parts[1], "/".join(parts[2:])
        if registry not in (*REGISTRIES, DOMAIN_REGISTRY):
            return 404, _error(404, "Not Found"), {}
        retry_after = self._admit(registry, kind)
        if retry_after is not None:
            return 429, _error(429, "Too Many Requests"), {"Retry-After": str(retry_after)}
        raw = self._raw_for(kind, key)
        if raw is not None:
            return raw.status, raw, dict(raw.headers)
        found = self._lookup(registry, kind, key)
        if found is None:
            return 404, _error(404, "Not Found", f"no {kind} object for {key}"), {}
        return 200, found, {}

    def _raw_for(self, kind: str, key: str) -> RawAnswer | None:
        if kind == "ip":
            try:
                network = self.network_for(key.split("/", 1)[0])
            except ValueError:
                return None
            key = network.cidr if network is not None else key
        with self._lock:
            return self._raw.get((kind, key.lower().rstrip(".")))

    def _lookup(self, registry: str, kind: str, key: str) -> dict[str, Any] | None:
        base = f"{self.base_url}/{registry}/"
        if kind == "ip":
            try:
                network = self.network_for(key.split("/", 1)[0])
            except ValueError:
                return None
            if network is None or network.registry != registry:
                return None
            return RENDER_NETWORK[registry](network, base)
        if kind == "autnum" and key.isdigit():
            autnum = self.autnums.get(int(key))
            return None if autnum is None or autnum.registry != registry else render_autnum(autnum, base)
        if kind == "domain" and registry == DOMAIN_REGISTRY:
            registration = self.registrations.get(key.lower().rstrip("."))
            return None if registration is None else render_domain(registration, base)
        return None

    def _bootstrap(self, name: str) -> dict[str, Any]:
        services: list[list[list[str]]] = []
        if name in ("ipv4", "ipv6"):
            version = 4 if name == "ipv4" else 6
            for registry in REGISTRIES:
                cidrs = [
                    n.cidr for n in self.networks if n.registry == registry and n.network.version == version
                ]
                if cidrs:
                    services.append([cidrs, [f"{self.base_url}/{registry}/"]])
        elif name == "asn":
            for registry in REGISTRIES:
                numbers = [str(a.asn) for a in self.autnums.values() if a.registry == registry]
                if numbers:
                    services.append([numbers, [f"{self.base_url}/{registry}/"]])
        elif name == "dns":
            services.append([["test"], [f"{self.base_url}/{DOMAIN_REGISTRY}/"]])
        return {"description": f"sandbox RDAP bootstrap ({name})", "version": "1.0", "services": services}


# --- the registries' shapes ----------------------------------------------------------------------


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


def _error(code: int, title: str, description: str = "") -> dict[str, Any]:
    return {"errorCode": code, "title": title, "description": [description] if description else []}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    rdap: RDAPServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("rdap " + format, *args)

    def do_GET(self) -> None:
        status, body, headers = self.server.rdap.answer(self.path)
        if isinstance(body, RawAnswer):
            time.sleep(body.delay)
            payload = body.body
        else:
            payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/rdap+json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("rdap: the client hung up before %d bytes were sent", len(payload))
