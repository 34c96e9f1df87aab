"""A self-contained local internet on loopback, for ``takedown demo`` and the tests.

:class:`Sandbox` starts an authoritative DNS server for made-up names under ``.test`` and web hosts
bound to distinct 127.0.0.x addresses (one shared port), and lets the caller change what any path
does, or where any name points, while it runs. Nothing here reaches beyond loopback.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from sandbox.desks import Desks
from sandbox.dns_server import AuthoritativeServer, Zone
from sandbox.rdap_server import Autnum, Network, RDAPServer, Registration
from sandbox.scenario import Change, EventLog, Scenario
from sandbox.signing_ca import SigningAuthority
from sandbox.smtp_server import SMTPSink
from sandbox.web import Behaviour, Redirect, Site, WebHosts

log = logging.getLogger(__name__)

__all__ = ["Autnum", "Network", "Registration", "Sandbox", "Scenario"]

ASN_ZONE = "asn.test"
HOTLINE_ADDRESS = "reports@hotline.test"
"""Where the sandbox hotline's notices come from (and replies go)."""
"""The sandbox's IP-to-ASN service, in Team Cymru's format (``TAKEDOWN_ASN_DNS_ZONE``)."""
CDN_CATALOGUE = Path(__file__).resolve().parent / "cdn.json"


class Sandbox:
    """DNS and web hosts for ``hosts`` (name -> 127.0.0.x address), under the ``.test`` zone.

    ``extra_records`` adds DNS records that need no web server: CNAMEs, names pointing at
    addresses nothing listens on, names pointing at private ranges (for the SSRF guard).
    """

    def __init__(
        self,
        hosts: Mapping[str, str],
        *,
        extra_records: Mapping[str, Mapping[str, list[str]]] | None = None,
        forbidden: Mapping[str, str] | None = None,
        zone: str = "test",
        networks: Sequence[Network] = (),
        autnums: Sequence[Autnum] = (),
        registrations: Sequence[Registration] = (),
        port: int = 0,
        mail_dir: Path | None = None,
        cdns: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """``forbidden`` hosts are served like the others but left out of :attr:`allowed_networks`:
        a live server the SSRF guard must never reach (its hit counter proves it). ``port`` is the
        web hosts' port (0: any free one); ``mail_dir`` a Maildir keeping every notice received;
        ``cdns`` CDNs of the scenario's own, added to the sandbox's catalogue."""
        self.forbidden = {name.lower(): address for name, address in (forbidden or {}).items()}
        for name, address in {**hosts, **self.forbidden}.items():
            if not address.startswith("127."):
                raise ValueError(f"sandbox web host {name} must be on loopback (127.0.0.0/8), not {address}")
        self.hosts = {name.lower(): address for name, address in hosts.items()}
        served = {**self.hosts, **self.forbidden}
        records: dict[str, dict[str, list[str]]] = {
            name: {"A": [address]} for name, address in served.items()
        }
        for name, extra in (extra_records or {}).items():
            records[name.lower()] = {rtype.upper(): list(values) for rtype, values in extra.items()}
        self.site = Site(on_request=self._on_request)
        self.rdap = RDAPServer(list(networks), list(autnums), list(registrations))
        self.smtp = SMTPSink(
            on_delivery=lambda recipient: self.event(f"notice:{recipient}"), mail_dir=mail_dir
        )
        self.cdns = [dict(cdn) for cdn in cdns]
        self._catalogue_dir: tempfile.TemporaryDirectory[str] | None = None
        self._authority: SigningAuthority | None = None
        self._signing: tuple[Path, Path] | None = None
        self.dns = AuthoritativeServer([Zone(zone, records), Zone(ASN_ZONE, synthesise=self._asn_records)])
        self.events = EventLog([])
        self._event_lock = threading.RLock()
        self._initial_paths: dict[tuple[str, str], Behaviour | None] = {}
        self.web = WebHosts(sorted(set(served.values())), self.site, port=port)
        self.desks = Desks(
            [],
            received=lambda mailbox: [m.message for m in self.smtp.received_by(mailbox)],
            take_down=lambda host, path: self.site.set(host, path, None),
        )
        """The abuse desks: what the providers do with their notices (:mod:`sandbox.desks`)."""

    @property
    def port(self) -> int:
        """The one port every sandbox web host listens on."""
        return self.web.port

    @property
    def dns_server(self) -> str:
        """``address:port`` of the DNS server, as TAKEDOWN_DNS_SERVER takes it."""
        host, port = self.dns.address
        return f"{host}:{port}"

    @property
    def allowed_networks(self) -> list[str]:
        """Exactly the web hosts' addresses: what the SSRF guard must let through, and no more."""
        return [f"{address}/32" for address in sorted(set(self.hosts.values()))]

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    def serve(self, host: str, path: str, behaviour: Behaviour | None) -> str:
        """Make ``path`` on ``host`` behave so, and return its URL."""
        self.site.set(host, path, behaviour)
        return self.url(host, path)

    @classmethod
    def from_scenario(cls, scenario: Scenario, *, port: int = 0, mail_dir: Path | None = None) -> Sandbox:
        """A sandbox laid out as ``scenario`` says; its changes follow :meth:`event`."""
        sandbox = cls(
            scenario.hosts,
            extra_records=scenario.records,
            forbidden=scenario.forbidden,
            networks=scenario.networks,
            autnums=scenario.autnums,
            registrations=scenario.registrations,
            port=port,
            mail_dir=mail_dir,
            cdns=scenario.cdns,
        )
        sandbox.events = EventLog(scenario.changes)
        sandbox.desks.desks = list(scenario.desks)
        sandbox._initial_paths = dict(scenario.paths)
        return sandbox

    def event(self, name: str) -> None:
        """Something happened (a notice arrived, a path was fetched...): apply the changes it triggers."""
        with self._event_lock:
            for change in self.events.fire(name):
                self._apply(change)

    def _apply(self, change: Change) -> None:
        log.info("sandbox: after %s x%d, applying %s", change.after, change.count, change)
        if change.host is not None and change.path is not None:
            self.site.set(change.host, change.path, self._with_port(change.then))
        if change.changes_dns and change.name is not None:
            records = None if change.records is None else {k: list(v) for k, v in change.records.items()}
            self.dns.set_records(change.name, records)

    def _on_request(self, host: str, path: str) -> None:
        self.event(f"fetch:{host}{path}")

    def _with_port(self, behaviour: Behaviour | None) -> Behaviour | None:
        if isinstance(behaviour, Redirect) and "{port}" in behaviour.location:
            return Redirect(behaviour.location.replace("{port}", str(self.port)), behaviour.code)
        return behaviour

    def environment(self) -> dict[str, str]:
        """Environment variables that point a crawl, or a resolution, at this sandbox."""
        return {
            "TAKEDOWN_DNS_SERVER": self.dns_server,
            "TAKEDOWN_ALLOW_NETWORKS": ",".join(self.allowed_networks),
            "TAKEDOWN_RDAP_BOOTSTRAP": self.rdap.bootstrap_url,
            "TAKEDOWN_ASN_DNS_ZONE": ASN_ZONE,
            "TAKEDOWN_CDN_CATALOGUE": str(self.cdn_catalogue),
            "TAKEDOWN_SMTP_HOST": self.smtp.address[0],
            "TAKEDOWN_SMTP_PORT": str(self.smtp.address[1]),
            "TAKEDOWN_NOTICE_FROM": f"Sandbox Hotline <{HOTLINE_ADDRESS}>",
            "TAKEDOWN_REPORTER_ORG": "Sandbox Hotline",
            "TAKEDOWN_SIGNING_KEY": str(self.signing[0]),
            "TAKEDOWN_SIGNING_CERT": str(self.signing[1]),
        }

    @property
    def signing(self) -> tuple[Path, Path]:
        """The key and certificate the sandbox hotline signs its notices with, issued by
        :attr:`authority` (made on first use: two RSA keys)."""
        if self._signing is None:
            self._signing = self.authority.issue(HOTLINE_ADDRESS)
        return self._signing

    @property
    def authority(self) -> SigningAuthority:
        """The S/MIME certificate authority recipients of the sandbox's notices trust."""
        if self._authority is None:
            self._authority = SigningAuthority()
        return self._authority

    def _asn_records(self, name: str) -> dict[str, list[str]] | None:
        """TXT answers of the IP-to-ASN zone, computed from the registered networks."""
        labels = name.removesuffix("." + ASN_ZONE).split(".")
        kind = labels[-1] if labels else ""
        try:
            if kind in ("origin", "peer"):
                address = ipaddress.ip_address(".".join(reversed(labels[:-1])))
            elif kind in ("origin6", "peer6"):
                nibbles = "".join(reversed(labels[:-1]))
                address = ipaddress.ip_address(":".join(nibbles[i : i + 4] for i in range(0, 32, 4)))
            else:
                return None
        except ValueError:
            return None
        network = self.rdap.network_for(str(address))
        if network is None or network.asn is None:
            return None
        tail = f"{network.cidr} | {network.country} | {network.registry} | 2019-03-01"
        if kind.startswith("origin"):
            return {"TXT": [f'"{network.asn} | {tail}"']}
        autnum = self.rdap.autnums.get(network.asn)
        if autnum is None or not autnum.peers:
            return {}
        return {"TXT": [f'"{" ".join(str(p) for p in autnum.peers)} | {tail}"']}

    @property
    def cdn_catalogue(self) -> Path:
        """The CDN catalogue the sandbox's environment points at: SandCDN, and the scenario's own."""
        if not self.cdns:
            return CDN_CATALOGUE
        if self._catalogue_dir is None:
            self._catalogue_dir = tempfile.TemporaryDirectory(prefix="takedown-sandbox-cdn-")
            bundled = json.loads(CDN_CATALOGUE.read_text(encoding="utf-8"))
            combined = {
                "description": "The sandbox's CDN and the scenario's own",
                "cdns": [*bundled["cdns"], *self.cdns],
            }
            path = Path(self._catalogue_dir.name) / "cdn.json"
            path.write_text(json.dumps(combined, indent=1), encoding="utf-8")
        return Path(self._catalogue_dir.name) / "cdn.json"

    def start(self) -> Sandbox:
        self.smtp.start()
        self.rdap.start()
        self.dns.start()
        self.web.start()
        for (host, path), behaviour in self._initial_paths.items():
            self.site.set(host, path, self._with_port(behaviour))
        return self

    def stop(self) -> None:
        self.web.stop()
        self.dns.stop()
        self.rdap.stop()
        self.smtp.stop()
        if self._catalogue_dir is not None:
            self._catalogue_dir.cleanup()
            self._catalogue_dir = None
        if self._authority is not None:
            self._authority.cleanup()
            self._authority, self._signing = None, None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
