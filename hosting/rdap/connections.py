"""Kept-alive HTTP connections to RDAP servers, so that a round's queries to one registry do not
each pay for a new TCP connection and TLS handshake.

A handful of servers answer every RDAP query in the world (the five regional registries and the
domain registries), and a hotline's round asks each of them hundreds of questions. Opened afresh,
each query costs two or three round trips to a server a tenth of a second or more away before its
request is even sent, and the registry a handshake it may count against us. Kept alive, only the
first query to a registry pays.

A connection is reused only for the origin (scheme, host, port) and address policy it was opened
with: a connection opened to a configured registry is never lent to a redirect's target, whose
address must be checked when it is connected to. A server may close a connection while it waits in
the pool; the query that finds it closed is sent once more on a new connection. An answer not read
to its end (too large, too slow) closes its connection, so no later query can read its rest.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message

from hosting.errors import RegistryUnavailable
from takedown.netpolicy import AddressPolicy

IDLE_SECONDS = 20.0
"""How long a connection may wait in the pool: under the idle timeouts servers commonly keep
(30 s and more), so a query rarely finds its connection closed under it."""
IDLE_PER_ORIGIN = 16
"""Connections kept waiting per origin: at least the host names resolved at once, beyond which a
round does not use more."""
ERROR_BODY_BYTES = 64 * 1024
"""What is read of a redirect's or an error's body to keep its connection: they are a line or two."""

Origin = tuple[str, str, int]


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: its status, headers and whole body."""

    status: int
    headers: Message
    body: bytes


class ConnectionPool:
    """HTTP/1.1 connections kept open per origin. Thread-safe: a connection serves one query at
    a time, taken from the pool for it and given back when its answer has been read whole."""

    def __init__(
        self,
        *,
        timeout: float,
        policy: AddressPolicy | None = None,
        idle_seconds: float = IDLE_SECONDS,
        idle_per_origin: int = IDLE_PER_ORIGIN,
        monotonic: Callable[[], float] = time.monotonic,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """``policy``: the addresses a connection may be made to, checked on the address connected
        to; ``None`` for the configured registries, which are trusted. ``tls_context``: whom to
        trust over HTTPS (by default, the system's certificate authorities)."""
        self.timeout = timeout
        self.policy = policy
        self.idle_seconds = idle_seconds
        self.idle_per_origin = idle_per_origin
        self._monotonic = monotonic
        self._idle: dict[Origin, list[tuple[float, http.client.HTTPConnection]]] = {}
        self._lock = threading.Lock()
        self._tls = tls_context
        self.opened = 0
        """Connections opened since the pool was made: what keeping them alive is judged by."""

    def get(self, url: str, headers: dict[str, str], *, deadline: float, limit: int) -> Answer:
        """``GET url``: the answer, its body read whole before ``deadline`` and up to ``limit``
        bytes (:class:`RegistryUnavailable` when the server is unreachable, too slow or too long)."""
        origin, target = _split(url)
        connection, reused = self._take(origin)
        while True:
            try:
                connection.request("GET", target, headers=headers)
                response = connection.getresponse()
            except ConnectionError as exc:  # http.client's RemoteDisconnected among them
                connection.close()
                if reused:  # the server closed it while it waited here: once more, on a new one
                    connection, reused = self._open(origin), False
                    continue
                raise RegistryUnavailable(f"{url}: {_reason(exc)}") from None
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                raise RegistryUnavailable(f"{url}: {_reason(exc)}") from None
            break
        try:
            ok = 200 <= response.status < 300
            body = read_whole(response, deadline, url, limit if ok else ERROR_BODY_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise RegistryUnavailable(f"{url}: {_reason(exc)}") from None
        except RegistryUnavailable:
            connection.close()
            if not ok:  # a long error page: its status is the answer, not its length
                return Answer(response.status, response.headers, b"")
            raise
        if response.will_close or response.length:  # closing, or cut short: its rest may follow
            connection.close()
        else:
            self._give_back(origin, connection)
        return Answer(response.status, response.headers, body)

    def close(self) -> None:
        """Close every waiting connection (queries still running close theirs when done)."""
        with self._lock:
            waiting = [connection for idle in self._idle.values() for _, connection in idle]
            self._idle.clear()
        for connection in waiting:
            connection.close()

    def _take(self, origin: Origin) -> tuple[http.client.HTTPConnection, bool]:
        """A connection for ``origin``, and whether it was kept from an earlier query."""
        now = self._monotonic()
        found = None
        with self._lock:
            idle = self._idle.get(origin, [])
            # Every one that waited too long is closed now, not left holding a socket the server
            # has closed until a busier round reaches it; the one used last is the one taken.
            stale = [connection for since, connection in idle if now - since > self.idle_seconds]
            idle[:] = [(since, connection) for since, connection in idle if now - since <= self.idle_seconds]
            if idle:
                found = idle.pop()[1]
        for connection in stale:
            connection.close()
        if found is not None:
            if found.sock is not None:
                found.sock.settimeout(self.timeout)
            return found, True
        return self._open(origin), False

    def _open(self, origin: Origin) -> http.client.HTTPConnection:
        scheme, host, port = origin
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = _GuardedHTTPS(host, port, timeout=self.timeout, context=self._tls_context())
        else:
            connection = _GuardedHTTP(host, port, timeout=self.timeout)
        connection.policy = self.policy
        with self._lock:
            self.opened += 1
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        with self._lock:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            return self._tls

    def _give_back(self, origin: Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self.idle_per_origin:
                idle.append((self._monotonic(), connection))
                return
        connection.close()


def read_whole(response: http.client.HTTPResponse, deadline: float, url: str, limit: int) -> bytes:
    """The body, all of it before ``deadline`` and at most ``limit`` bytes, or
    :class:`RegistryUnavailable` (a server dripping one byte at a time cannot hold a round)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise RegistryUnavailable(f"{url}: the answer took longer than the RDAP timeout, not read")
        chunk = response.read1(65536)
        if not chunk:
            # The end: marked on the response (read1 leaves that to the caller), without which
            # its connection would refuse the next request as still reading this one.
            response.close()
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise RegistryUnavailable(f"{url}: answer larger than {limit} bytes, not read")
        chunks.append(chunk)


def _split(url: str) -> tuple[Origin, str]:
    """``((scheme, host, port), path with query)`` of an http(s) URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RegistryUnavailable(f"{url}: not an http(s) URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RegistryUnavailable(f"{url}: the port is not a number from 1 to 65535") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.scheme, parts.hostname, port), target


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def guarded_socket(host: str, port: int, timeout: float | None, policy: AddressPolicy) -> socket.socket:
    """A socket to ``host``: refused (``OSError``) if any of its addresses is not allowed, like the
    crawler's resolver; and the address connected to is checked again."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        reason = policy.refusal(str(sockaddr[0]))
        if reason is not None:
            raise OSError(f"redirect to {host} refused: {reason}")
    sock = socket.create_connection((str(infos[0][4][0]), port), timeout)
    peer = str(sock.getpeername()[0])
    reason = policy.refusal(peer)
    if reason is not None:
        sock.close()
        raise OSError(f"redirect to {host} refused: {reason}")
    return sock


class _GuardedHTTP(http.client.HTTPConnection):
    """Connects only to an address its policy allows (any, without one)."""

    policy: AddressPolicy | None = None

    def connect(self) -> None:
        if self.policy is None:
            super().connect()
        else:
            self.sock = guarded_socket(self.host, self.port, self.timeout, self.policy)


class _GuardedHTTPS(http.client.HTTPSConnection):
    policy: AddressPolicy | None = None

    def connect(self) -> None:
        if self.policy is None:
            super().connect()
            return
        sock = guarded_socket(self.host, self.port, self.timeout, self.policy)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]
