"""RDAP over HTTP: one query, one typed outcome, and a registry's request to slow down respected.

Registries rate-limit (ARIN and RIPE answer 429 when pushed). A 429 puts that registry in a cool-down
until its ``Retry-After`` (or a doubling back-off when it gives none); during the cool-down queries
to it fail at once with :class:`RateLimited`, naming when to retry. Nothing here sleeps: a caller
resolving many URLs goes on with the other registries and re-queues the rest.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, deque
from datetime import datetime, timedelta
from typing import Any

from hosting.errors import MalformedResponse, NotFound, RateLimited, RegistryUnavailable
from hosting.rdap.bootstrap import Bootstrap, Service, registry_name
from hosting.rdap.parse import (
    AutnumRecord,
    DomainRecord,
    NetworkRecord,
    parse_autnum,
    parse_domain,
    parse_network,
)
from takedown.clock import Clock, SystemClock

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 2 * 1024 * 1024
"""An RDAP answer is a few kilobytes; anything near this is not one."""
FIRST_COOLDOWN = timedelta(seconds=60)
MAX_COOLDOWN = timedelta(hours=1)


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
    ) -> None:
        """``max_per_minute`` caps the queries sent to any one registry in a sliding minute; past
        it, queries fail at once with :class:`RateLimited` (retry when the minute frees a slot)
        instead of waiting or being sent and refused."""
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self.user_agent = user_agent
        # No proxy from the environment: queries go where the bootstrap says, and nowhere else.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._bootstrap_location = bootstrap_location
        self._bootstrap: Bootstrap | None = None
        self._lock = threading.Lock()
        self._cooling: dict[str, datetime] = {}
        self._strikes: Counter[str] = Counter()
        self.max_per_minute = max_per_minute
        self._sent: dict[str, deque[datetime]] = {}
        self.queries: Counter[str] = Counter()
        """Requests sent, per registry: what the cache is judged by."""

    @property
    def bootstrap(self) -> Bootstrap:
        if self._bootstrap is None:
            self._bootstrap = Bootstrap.load(self._bootstrap_location, fetch=self._fetch_url)
        return self._bootstrap

    def network(self, address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> NetworkRecord:
        ip = ipaddress.ip_address(address)
        service = self.bootstrap.for_address(ip)
        data, url = self._query(service, f"ip/{ip}")
        return parse_network(data, registry_name(url.rsplit("/ip/", 1)[0] + "/"), url)

    def autnum(self, asn: int) -> AutnumRecord:
        service = self.bootstrap.for_asn(asn)
        data, url = self._query(service, f"autnum/{asn}")
        return parse_autnum(data, registry_name(url.rsplit("/autnum/", 1)[0] + "/"), url)

    def domain(self, name: str) -> DomainRecord:
        service = self.bootstrap.for_domain(name)
        data, url = self._query(service, f"domain/{urllib.parse.quote(name.lower().strip('.'))}")
        return parse_domain(data, url)

    def cooling_until(self, registry: str) -> datetime | None:
        with self._lock:
            until = self._cooling.get(registry)
        return until if until is not None and until > self.clock.now() else None

    def _query(self, service: Service, path: str) -> tuple[Any, str]:
        registry = service.registry
        until = self.cooling_until(registry)
        if until is not None:
            raise RateLimited(registry, until)
        url = service.base_url + path
        with self._lock:
            self._take_slot(registry)
            self.queries[registry] += 1
        try:
            data, final_url = self._get(url)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise NotFound(f"{registry} has no record for {path} (404)") from None
            if exc.code == 429:
                raise self._rate_limited(registry, exc.headers.get("Retry-After")) from None
            if exc.code == 400:
                raise MalformedResponse(f"{registry} refused the query {path} as malformed (400)") from None
            raise RegistryUnavailable(f"{registry} answered HTTP {exc.code} for {path}") from None
        with self._lock:
            self._strikes.pop(registry, None)
        return data, final_url

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
        try:
            return self._get(url)[0]
        except urllib.error.HTTPError as exc:
            raise RegistryUnavailable(f"{url}: HTTP {exc.code}") from None

    def _get(self, url: str) -> tuple[Any, str]:
        request = urllib.request.Request(
            url, headers={"Accept": "application/rdap+json, application/json", "User-Agent": self.user_agent}
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_ANSWER_BYTES + 1)
                final_url = response.geturl()
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryUnavailable(f"{url}: {reason}") from None
        if len(body) > MAX_ANSWER_BYTES:
            raise RegistryUnavailable(f"{url}: answer larger than {MAX_ANSWER_BYTES} bytes, not read")
        try:
            return json.loads(body), final_url
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MalformedResponse(f"{url}: not JSON ({exc})") from None

    def _rate_limited(self, registry: str, retry_after: str | None) -> RateLimited:
        now = self.clock.now()
        with self._lock:
            self._strikes[registry] += 1
            backoff = min(MAX_COOLDOWN, FIRST_COOLDOWN * 2 ** (self._strikes[registry] - 1))
            asked = _retry_after(retry_after, now)
            until = now + (asked if asked is not None else backoff)
            self._cooling[registry] = until
        log.warning("RDAP: %s rate limited us; not asking it again before %s", registry, until.isoformat())
        return RateLimited(registry, until)


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
