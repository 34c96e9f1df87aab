"""RDAP over HTTP: one query, one typed outcome, and a registry's request to slow down respected.
Queries to one registry share kept-alive connections (:mod:`hosting.rdap.connections`).

Registries rate-limit (ARIN and RIPE answer 429 when pushed). A 429 puts that registry in a cool-down
until its ``Retry-After`` (or a doubling back-off when it gives none); during the cool-down queries
to it fail at once with :class:`RateLimited`, naming when to retry. Nothing here sleeps: a caller
resolving many URLs goes on with the other registries and re-queues the rest.

A registry is also a server we do not control, and an answer is hostile input:

- Redirects (RFC 7480 section 5.2: registries send a client to the registry that holds the object)
  are followed by hand, at most :data:`MAX_REDIRECTS` hops, only to ``http``/``https`` URLs, and
  only to addresses the SSRF policy allows, checked on the address actually connected to. The hops
  are recorded on the record (``via``).
- An answer is read against a deadline (the query's timeout, for the whole answer, so a server
  dripping one byte at a time cannot hold a round), up to :data:`MAX_ANSWER_BYTES`, and its JSON
  is refused when nested deeper than :data:`MAX_DEPTH` or holding more than :data:`MAX_ELEMENTS`
  values: a real answer is a few kilobytes, a few levels deep.
"""

from __future__ import annotations

import dataclasses
import email.utils
import ipaddress
import json
import logging
import ssl
import threading
import time
import urllib.parse
from collections import Counter, deque
from datetime import datetime, timedelta
from typing import Any, TypeVar

from hosting.errors import MalformedResponse, NotFound, RateLimited, RegistryUnavailable
from hosting.rdap.bootstrap import Bootstrap, Service, registry_name
from hosting.rdap.connections import ConnectionPool
from hosting.rdap.parse import (
    AutnumRecord,
    DomainRecord,
    NetworkRecord,
    parse_autnum,
    parse_domain,
    parse_network,
)
from takedown.clock import Clock, SystemClock
from takedown.netpolicy import AddressPolicy
from takedown.plain import iso

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 2 * 1024 * 1024
"""An RDAP answer is a few kilobytes; anything near this is not one."""
MAX_DEPTH = 40
"""Nesting of JSON arrays and objects: real answers reach about 10 (entities in entities, jCard)."""
MAX_ELEMENTS = 100_000
"""JSON values in one answer: real ones hold a few hundred."""
MAX_REDIRECTS = 5
FIRST_COOLDOWN = timedelta(seconds=60)
MAX_COOLDOWN = timedelta(hours=1)
_REDIRECTS = (301, 302, 303, 307, 308)

R = TypeVar("R")


class RDAPClient:
    """Queries RDAP servers found through the bootstrap. Thread-safe."""

    def __init__(
        self,
        bootstrap_location: str | None = None,
        *,
        clock: Clock | None = None,
        timeout: float = 10.0,
        user_agent: str = "takedown-resolve/0.1",
        max_per_minute: int | None = None,
        address_policy: AddressPolicy | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """``max_per_minute`` caps the queries sent to any one registry in a sliding minute; past
        it, queries fail at once with :class:`RateLimited` (retry when the minute frees a slot)
        instead of waiting or being sent and refused. ``address_policy`` says where a redirect may
        lead (public addresses only, by default); the bootstrap's own URLs are configuration and
        trusted. ``tls_context``: whom to trust over HTTPS (by default, the system's authorities)."""
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self.user_agent = user_agent
        self.address_policy = address_policy or AddressPolicy()
        # No proxy from the environment, no automatic redirects: queries go where the bootstrap
        # says, and a redirect only where _get() has checked it may, on connections of its own.
        self._connections = ConnectionPool(timeout=timeout, tls_context=tls_context)
        self._guarded_connections = ConnectionPool(
            timeout=timeout, policy=self.address_policy, tls_context=tls_context
        )
        self._bootstrap_location = bootstrap_location
        self._bootstrap: Bootstrap | None = None
        self._bootstrap_lock = threading.Lock()
        self._lock = threading.Lock()
        self._cooling: dict[str, datetime] = {}
        self._strikes: Counter[str] = Counter()
        self.max_per_minute = max_per_minute
        self._sent: dict[str, deque[datetime]] = {}
        self.queries: Counter[str] = Counter()
        """Requests sent, per registry: what the cache is judged by."""

    @property
    def bootstrap(self) -> Bootstrap:
        # Loaded once: the threads resolving a round's first hosts all ask for it at once.
        with self._bootstrap_lock:
            if self._bootstrap is None:
                self._bootstrap = Bootstrap.load(self._bootstrap_location, fetch=self._fetch_url)
            return self._bootstrap

    def network(self, address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> NetworkRecord:
        ip = ipaddress.ip_address(address)
        service = self.bootstrap.for_address(ip)
        data, url, via = self._query(service, f"ip/{ip}")
        return _via(parse_network(data, registry_name(url.rsplit("/ip/", 1)[0] + "/"), url), via)

    def autnum(self, asn: int) -> AutnumRecord:
        service = self.bootstrap.for_asn(asn)
        data, url, via = self._query(service, f"autnum/{asn}")
        return _via(parse_autnum(data, registry_name(url.rsplit("/autnum/", 1)[0] + "/"), url), via)

    def domain(self, name: str) -> DomainRecord:
        service = self.bootstrap.for_domain(name)
        data, url, via = self._query(service, f"domain/{urllib.parse.quote(name.lower().strip('.'))}")
        return _via(parse_domain(data, url), via)

    def cooling_until(self, registry: str) -> datetime | None:
        with self._lock:
            until = self._cooling.get(registry)
        return until if until is not None and until > self.clock.now() else None

    def _query(self, service: Service, path: str) -> tuple[Any, str, tuple[str, ...]]:
        registry = service.registry
        until = self.cooling_until(registry)
        if until is not None:
            raise RateLimited(registry, until)
        url = service.base_url + path
        with self._lock:
            self._take_slot(registry)
            self.queries[registry] += 1
        try:
            data, final_url, via = self._get(url)
        except _HTTPStatus as exc:
            if exc.code == 404:
                raise NotFound(f"{registry} has no record for {path} (404)") from None
            if exc.code == 429:
                raise self._rate_limited(registry, exc.retry_after) from None
            if exc.code == 400:
                raise MalformedResponse(f"{registry} refused the query {path} as malformed (400)") from None
            raise RegistryUnavailable(f"{registry} answered HTTP {exc.code} for {path}") from None
        with self._lock:
            self._strikes.pop(registry, None)
        return data, final_url, via

    def _take_slot(self, registry: str) -> None:
        """Count a query against the registry's minute, or refuse it (caller holds the lock)."""
        if not self.max_per_minute:
            return
        now = self.clock.now()
        sent = self._sent.setdefault(registry, deque())
        while sent and sent[0] <= now - timedelta(minutes=1):
            sent.popleft()
        if len(sent) >= self.max_per_minute:
            raise RateLimited(registry, sent[0] + timedelta(minutes=1))
        sent.append(now)

    def _fetch_url(self, url: str) -> Any:
        """A bootstrap file over HTTP (``TAKEDOWN_RDAP_BOOTSTRAP`` as a URL)."""
        try:
            return self._get(url)[0]
        except _HTTPStatus as exc:
            raise RegistryUnavailable(f"{url}: HTTP {exc.code}") from None

    @property
    def connections_opened(self) -> int:
        """Connections opened to registries so far (each query reuses one where it can)."""
        return self._connections.opened + self._guarded_connections.opened

    def close(self) -> None:
        """Close the connections kept open for the next queries."""
        self._connections.close()
        self._guarded_connections.close()

    def _get(self, url: str) -> tuple[Any, str, tuple[str, ...]]:
        """The JSON at ``url``, the URL it finally came from, and the redirect hops before it."""
        deadline = time.monotonic() + self.timeout
        hops: list[str] = []
        headers = {"Accept": "application/rdap+json, application/json", "User-Agent": self.user_agent}
        while True:
            connections = self._guarded_connections if hops else self._connections
            answer = connections.get(url, headers, deadline=deadline, limit=MAX_ANSWER_BYTES)
            if answer.status in _REDIRECTS:
                hops.append(url)
                url = self._redirect_target(hops, answer.headers.get("Location"))
                continue
            if not 200 <= answer.status < 300:
                raise _HTTPStatus(answer.status, answer.headers.get("Retry-After"))
            return _decode(answer.body, url), url, tuple(hops)

    def _redirect_target(self, hops: list[str], location: str | None) -> str:
        """Where a redirect may lead, or :class:`RegistryUnavailable` saying why not."""
        origin = hops[-1]
        if len(hops) > MAX_REDIRECTS:
            raise RegistryUnavailable(f"{hops[0]}: more than {MAX_REDIRECTS} redirects, not followed")
        if not location:
            raise MalformedResponse(f"{origin}: a redirect without a Location")
        target = urllib.parse.urljoin(origin, location.strip())
        parts = urllib.parse.urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RegistryUnavailable(f"{origin}: redirect to {target[:200]!r} refused: only http(s) URLs")
        if target in hops:
            raise RegistryUnavailable(f"{origin}: redirect loop back to {target[:200]}")
        return target

    def _rate_limited(self, registry: str, retry_after: str | None) -> RateLimited:
        now = self.clock.now()
        with self._lock:
            self._strikes[registry] += 1
            backoff = min(MAX_COOLDOWN, FIRST_COOLDOWN * 2 ** (self._strikes[registry] - 1))
            asked = _retry_after(retry_after, now)
            until = now + (asked if asked is not None else backoff)
            self._cooling[registry] = until
        log.warning("RDAP: %s rate limited us; not asking it again before %s", registry, iso(until))
        return RateLimited(registry, until)


def _via(record: R, hops: tuple[str, ...]) -> R:
    return dataclasses.replace(record, via=hops) if hops else record  # type: ignore[type-var]


def _decode(body: bytes, url: str) -> Any:
    """The JSON in ``body``, refused with :class:`MalformedResponse` when it is not bounded."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedResponse(f"{url}: not JSON ({exc})") from None
    except RecursionError:
        raise MalformedResponse(f"{url}: JSON nested too deep to read, refused") from None
    _check_bounds(data, url)
    return data


def _check_bounds(data: Any, url: str) -> None:
    """Refuse JSON deeper than :data:`MAX_DEPTH` or larger than :data:`MAX_ELEMENTS` values
    (walked without recursion, so the check itself cannot overflow)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_ELEMENTS:
            raise MalformedResponse(f"{url}: answer holds more than {MAX_ELEMENTS} JSON values, refused")
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise MalformedResponse(f"{url}: answer nested deeper than {MAX_DEPTH} levels, refused")
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)


class _HTTPStatus(Exception):
    """An answer that is neither the object nor a redirect: its status, and when to ask again."""

    def __init__(self, code: int, retry_after: str | None) -> None:
        super().__init__(f"HTTP {code}")
        self.code = code
        self.retry_after = retry_after


def _retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` as seconds or an HTTP date (RFC 9110), capped; ``None`` if absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return min(MAX_COOLDOWN, timedelta(seconds=int(text)))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(MAX_COOLDOWN, max(timedelta(0), when - now))
