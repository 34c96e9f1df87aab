"""An authoritative DNS server for made-up zones, on loopback, for the demo and the tests.

It binds first (port 0 unless told otherwise, so parallel test runs never collide), then serves
UDP and TCP from background threads. Records can be changed while it runs, so a test can make a
name move to another address or disappear (NXDOMAIN), as hosts do in real takedowns.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

log = logging.getLogger(__name__)

TTL = 60


@dataclass
class Zone:
    """One zone this server is authoritative for, and its records.

    ``records`` maps an owner name (absolute, lowercase, no trailing dot) to records by type:
    ``{"www.host-a.test": {"A": ["127.0.0.2"]}, "cdn.host-b.test": {"CNAME": ["edge.cdn.test"]}}``.
    """

    origin: str
    records: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    synthesise: Callable[[str], dict[str, list[str]] | None] | None = None
    """Records for names not listed, computed on demand (``None``: the name does not exist). How a
    zone answers for every address of a network without listing each one (IP-to-ASN lookups)."""

    def contains(self, name: str) -> bool:
        return name == self.origin or name.endswith("." + self.origin)


def _bind_both(host: str, port: int, attempts: int = 20) -> tuple[_UDPServer, _TCPServer]:
    """UDP and TCP on one port. With port 0 the UDP port is picked first, and its TCP twin may be
    taken by another socket: then both are let go and another port is tried."""
    for _ in range(attempts if port == 0 else 1):
        udp = _UDPServer((host, port), _UDPHandler)
        try:
            return udp, _TCPServer((host, udp.server_address[1]), _TCPHandler)
        except OSError:
            udp.server_close()
            if port:
                raise
    raise OSError(f"no port free for both UDP and TCP on {host} after {attempts} tries")


class AuthoritativeServer:
    """Answers for its zones; REFUSED for anything else (it is not a recursive resolver)."""

    def __init__(self, zones: Iterable[Zone], host: str = "127.0.0.1", port: int = 0) -> None:
        self.zones = {zone.origin: zone for zone in zones}
        self._lock = threading.Lock()
        self.queries: Counter[tuple[str, str]] = Counter()
        """How often each (name, type) was asked: lets a test prove a lookup was not repeated."""
        self._udp, self._tcp = _bind_both(host, port)
        for server in (self._udp, self._tcp):
            server.dns = self
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._udp.server_address[:2]
        return str(host), int(port)

    def start(self) -> AuthoritativeServer:
        for server in (self._udp, self._tcp):
            thread = threading.Thread(target=server.serve_forever, name=f"sandbox-dns-{server}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("sandbox DNS serving %s on %s:%d", ", ".join(self.zones), *self.address)
        return self

    def stop(self) -> None:
        for server in (self._udp, self._tcp):
            server.shutdown()
            server.server_close()

    def set_records(self, name: str, records: dict[str, list[str]] | None) -> None:
        """Replace the records of ``name`` (``None`` removes the name: NXDOMAIN from then on)."""
        name = name.lower().rstrip(".")
        zone = self._zone_for(name)
        if zone is None:
            raise ValueError(f"{name} is in none of the zones {sorted(self.zones)}")
        with self._lock:
            if records is None:
                zone.records.pop(name, None)
            else:
                zone.records[name] = {rtype.upper(): list(values) for rtype, values in records.items()}

    def _zone_for(self, name: str) -> Zone | None:
        matches = [zone for zone in self.zones.values() if zone.contains(name)]
        return max(matches, key=lambda zone: len(zone.origin), default=None)

    def answer(self, wire: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        with self._lock:
            self.queries[(name, dns.rdatatype.to_text(question.rdtype))] += 1
        zone = self._zone_for(name)
        if zone is None:
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.REFUSED)
            return response.to_wire()
        with self._lock:
            self._fill(response, zone, name, question.rdtype)
        return response.to_wire()

    def _fill(self, response: dns.message.Message, zone: Zone, name: str, rdtype: int) -> None:
        wanted = dns.rdatatype.to_text(dns.rdatatype.RdataType(rdtype))
        for _ in range(8):  # follow CNAMEs inside our zones, as an authoritative server does
            records = zone.records.get(name)
            if records is None and zone.synthesise is not None:
                records = zone.synthesise(name)
            if records is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                return
            if "CNAME" in records and wanted != "CNAME":
                target = records["CNAME"][0].rstrip(".").lower()
                response.answer.append(_rrset(name, "CNAME", [target + "."]))
                next_zone = self._zone_for(target)
                if next_zone is None:
                    return  # out of our zones: the client's resolver goes on from here
                name, zone = target, next_zone
                continue
            values = records.get(wanted, [])
            if values:
                if wanted in ("CNAME", "NS"):
                    values = [value.rstrip(".") + "." for value in values]
                response.answer.append(_rrset(name, wanted, values))
            return  # NOERROR with no answer (NODATA) when the type is absent


def _rrset(name: str, rtype: str, values: list[str]) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(name + ".", TTL, dns.rdataclass.IN, rtype, values)


class _UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = True
    dns: AuthoritativeServer


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    dns: AuthoritativeServer


class _UDPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.dns.answer(data)  # type: ignore[attr-defined]
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(5)
        try:
            while True:
                header = _read_exactly(conn, 2)
                if header is None:
                    return
                (length,) = struct.unpack("!H", header)
                wire = _read_exactly(conn, length)
                if wire is None:
                    return
                reply = self.server.dns.answer(wire)  # type: ignore[attr-defined]
                if reply is None:
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return


def _read_exactly(conn: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data
