"""A local RDAP service: the five regional registries and a domain registry, on one HTTP server.

Networks, AS numbers and domains are registered from plain descriptions and answered in their
registry's own shape (:mod:`sandbox.registry_shapes`); the server also serves bootstrap files
pointing at itself, and can be told to rate-limit a registry (429 with Retry-After).

Any one network, AS or domain can instead be given a :class:`RawAnswer`: bytes sent as they are,
after a delay, with any status and headers. That is how the tests serve the answers real registries
recorded, and how they play a hostile registry (nested, huge, slow, redirecting anywhere).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from sandbox.registry_shapes import (
    DOMAIN_REGISTRY,
    REGISTRIES,
    RENDER_NETWORK,
    Autnum,
    Network,
    Registration,
    render_autnum,
    render_domain,
)

log = logging.getLogger(__name__)

__all__ = ["DOMAIN_REGISTRY", "REGISTRIES", "Autnum", "Network", "RDAPServer", "RawAnswer", "Registration"]


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
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """``tls_context``: serve HTTPS with it (a server context holding a certificate for
        ``host``), as every real registry does."""
        self.tls_context = tls_context
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
        """Queries answered or refused, by (registry, kind): kind is ip, autnum or domain, or
        ``("iana", "bootstrap")`` for a bootstrap file."""
        self._throttles: dict[str, Throttle] = {}
        self._raw: dict[tuple[str, str], RawAnswer] = {}
        self._lock = threading.Lock()
        self.latency = 0.0
        """Seconds every query waits before it is answered: registries are far away (a tenth of a
        second to a second from most hotlines), which is what resolving hosts side by side hides."""
        self.handshake_latency = 0.0
        """Seconds a new connection waits before its first query is read: the TCP and TLS
        handshakes with a registry that far away, which a kept-alive connection pays once."""
        self.requests_per_connection = 0
        """After this many answers a connection is closed, without warning the client (as servers
        close idle ones); 0: kept while the client keeps it."""
        self.connections = 0
        """Connections accepted since the server started."""
        self._open: set[Any] = set()
        self.in_flight = 0
        self.peak_in_flight = 0
        """Most queries waiting on their answer at once since the last :meth:`reset_peak` (a query
        stops counting just before its answer is written)."""
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
        return f"{'https' if self.tls_context else 'http'}://{host!s}:{port}"

    @property
    def bootstrap_url(self) -> str:
        """What ``TAKEDOWN_RDAP_BOOTSTRAP`` takes to send every query here."""
        return f"{self.base_url}/bootstrap/"

    def reset_peak(self) -> None:
        with self._lock:
            self.peak_in_flight = self.in_flight

    def _arrived(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _left(self) -> None:
        with self._lock:
            self.in_flight -= 1

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
        # A stopped registry answers nobody, on a connection kept alive from before either.
        with self._lock:
            still_open = list(self._open)
        for connection in still_open:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _connected(self, connection: Any) -> None:
        with self._lock:
            self.connections += 1
            self._open.add(connection)

    def _disconnected(self, connection: Any) -> None:
        with self._lock:
            self._open.discard(connection)

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
            with self._lock:
                self.requests[("iana", "bootstrap")] += 1
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


def _error(code: int, title: str, description: str = "") -> dict[str, Any]:
    return {"errorCode": code, "title": title, "description": [description] if description else []}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    rdap: RDAPServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError | TimeoutError):
            # a client that refused our certificate, or hung up: its business, not a traceback
            log.debug("rdap: a connection from %s failed", client_address, exc_info=True)
        else:
            log.exception("rdap: answering %s failed", client_address)


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1: a client may keep its connection for its next queries, as registries allow."""

    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle connection is closed after this, as real servers do

    def setup(self) -> None:
        # Each answer goes out as soon as it is written. Without this, the body written after the
        # headers waits for the client's delayed acknowledgement of them (Nagle's algorithm):
        # 40 ms a query on a kept connection, which no registry's server makes its clients wait.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        context = self.server.rdap.tls_context
        if context is not None:  # the handshake here, in the connection's thread, not the listener's
            self.request = context.wrap_socket(self.request, server_side=True)
        super().setup()
        self.answered = 0
        self.server.rdap._connected(self.connection)
        if self.server.rdap.handshake_latency:
            time.sleep(self.server.rdap.handshake_latency)

    def finish(self) -> None:
        self.server.rdap._disconnected(self.connection)
        try:
            super().finish()
        finally:
            if self.server.rdap.tls_context is not None:
                # The TLS socket made in setup: the server shuts down only the plain one it handed
                # over, which the TLS socket took the descriptor of.
                self.request.close()

    def handle_one_request(self) -> None:
        super().handle_one_request()
        self.answered += 1
        limit = self.server.rdap.requests_per_connection
        if limit and self.answered >= limit:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("rdap " + format, *args)

    def do_GET(self) -> None:
        rdap = self.server.rdap
        rdap._arrived()
        try:
            if rdap.latency:
                time.sleep(rdap.latency)
        finally:
            # Left before the answer is written: a client that has its answer may ask again at
            # once, and counting both would make one query at a time look like two.
            rdap._left()
        self._answer()

    def _answer(self) -> None:
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
