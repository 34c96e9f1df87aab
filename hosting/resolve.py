"""Who can take a URL down: the whole resolution, from host name to the parties to notify.

For a URL (and the address a check connected to, when there was one):

- the host name's DNS: addresses, CNAME chain, the registered domain and its name servers;
- the network holding the address, from RDAP (cached by range), and its abuse contact;
- the route: origin AS and its upstream networks (escalation contacts), from IP-to-ASN DNS;
- a CDN in front, recognised by CNAME, AS or address range;
- the registrar of the registered domain, and its abuse contact, from domain RDAP.

Each step can fail on its own (a registry rate-limiting, a TLD without RDAP); the failure is recorded
as a :class:`Problem` and the other steps go on. A partial answer names whoever *can* be notified now,
and ``retry_at`` says when the missing part is worth asking for again.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from hosting import asn as asn_lookup
from hosting.cache import NetworkCache
from hosting.cdn import CDNCatalogue, CDNMatch
from hosting.dns import DNSClient, LookupStatus, nameservers
from hosting.domain_cache import DomainCache
from hosting.domains import registered_domain
from hosting.errors import NotFound, RateLimited, ResolutionError, Unsupported
from hosting.rdap.client import RDAPClient
from hosting.rdap.parse import AutnumRecord, DomainRecord, NetworkRecord
from takedown.clock import Clock, SystemClock
from takedown.hosts import InvalidHost, browser_host
from takedown.plain import iso, plain
from takedown.vocabulary import Role

if TYPE_CHECKING:
    from hosting.contacts import ContactBook

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_UPSTREAMS = 2
"""Upstream networks looked up for escalation: the first two an IP-to-ASN service names."""
FINAL_PROBLEMS = frozenset(
    {
        "NotFound",
        "Unsupported",
        "InvalidURL",
        "InvalidAddress",
        LookupStatus.NXDOMAIN,
        LookupStatus.NO_ADDRESS,
    }
)
"""Problem kinds that asking again would not change."""
TRUNCATED_RETRY = FAILED_RETRY = timedelta(hours=1)
"""When to ask again a registry that held contacts back (NIC.br does when it thinks we ask too much),
or a resolution that failed outright."""


@dataclass(frozen=True)
class Party:
    """Someone who can remove the content, and how to reach them."""

    role: str
    """``site`` (a platform's own desk, from the contact book), ``hosting``, ``cdn``, ``registrar``
    or ``upstream``."""
    name: str | None
    emails: tuple[str, ...]
    contact_source: str
    """``abuse`` (a registry's abuse role), ``fallback:<role>``, ``none``..."""
    evidence: str
    """Where this came from: the RDAP URL, the CNAME that showed a CDN..."""
    asn: int | None = None
    country: str | None = None
    language: str | None = None
    """The language the recipient reads notices in, when the contact book says."""
    alternates: tuple[str, ...] = ()
    """Abuse mailboxes the registry's answer names in remarks besides ``emails``: used instead when
    the contact book bars every one of ``emails`` (a registry's own helpdesk on a holder's block)."""


@dataclass(frozen=True)
class Problem:
    step: str
    kind: str
    """The error's type name: ``RateLimited``, ``NotFound``, ``Unsupported``..."""
    message: str
    retry_at: datetime | None = None

    @property
    def transient(self) -> bool:
        """Asking again later may give an answer (a registry down, rate limiting, a bad answer);
        otherwise the answer is final (no such record, no RDAP service, no such name)."""
        return self.kind not in FINAL_PROBLEMS


@dataclass
class Resolution:
    url: str
    hostname: str
    resolved_at: datetime
    registered_domain: str | None = None
    addresses: tuple[str, ...] = ()
    cname_chain: tuple[str, ...] = ()
    nameservers: tuple[str, ...] = ()
    address: str | None = None
    """The address the parties were resolved for: the one connected to, else the first found."""
    network: NetworkRecord | None = None
    route: asn_lookup.Route | None = None
    cdn: CDNMatch | None = None
    domain: DomainRecord | None = None
    upstreams: list[AutnumRecord] = field(default_factory=list)
    parties: list[Party] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems

    @property
    def origin_asn(self) -> int | None:
        """The AS announcing the address (the first, when several do)."""
        return self.route.origin_asns[0] if self.route and self.route.origin_asns else None

    @property
    def country(self) -> str | None:
        """The hosting network's country: the registry's, else the IP-to-ASN service's (ARIN's
        answers carry none), so every face says the same one."""
        registry_says = self.network.country if self.network else None
        return registry_says or (self.route.country if self.route else None)

    @property
    def retry_at(self) -> datetime | None:
        """When the parts lost to rate limiting can be asked for again."""
        times = [p.retry_at for p in self.problems if p.retry_at is not None]
        return max(times) if times else None

    def party(self, role: str) -> Party | None:
        return next((p for p in self.parties if p.role == role), None)

    def __plain__(self) -> dict[str, Any]:
        """The JSON of ``resolve --json``: the records as the registries gave them, the derived
        country and completeness beside them (see :func:`takedown.plain.plain`)."""
        route = self.route
        return {
            "url": self.url,
            "hostname": self.hostname,
            "resolved_at": iso(self.resolved_at),
            "registered_domain": self.registered_domain,
            "country": self.country,
            "addresses": list(self.addresses),
            "cname_chain": list(self.cname_chain),
            "nameservers": list(self.nameservers),
            "address": self.address,
            "network": self.network.to_dict() if self.network else None,
            "route": None
            if route is None
            else {
                "origin_asns": list(route.origin_asns),
                "prefix": route.prefix,
                "country": route.country,
                "registry": route.registry,
                "upstream_asns": list(route.upstream_asns),
            },
            "cdn": None if self.cdn is None else {"name": self.cdn.cdn.name, "evidence": self.cdn.evidence},
            "domain": self.domain.to_dict() if self.domain else None,
            "upstreams": [u.to_dict() for u in self.upstreams],
            "parties": plain(self.parties),
            "problems": plain(self.problems),
            "complete": self.complete,
        }


class HostingResolver:
    def __init__(
        self,
        *,
        dns: DNSClient,
        rdap: RDAPClient,
        cache: NetworkCache | None = None,
        domains: DomainCache | None = None,
        cdns: CDNCatalogue | None = None,
        asn_zone: str = asn_lookup.DEFAULT_ZONE,
        clock: Clock | None = None,
        contact_book: Callable[[], ContactBook] | None = None,
        concurrency: int = 1,
    ) -> None:
        """``contact_book`` loads the analysts' overrides; it is called once per batch (or per
        single resolution), so edits made meanwhile by ``takedown contacts`` take effect.
        ``concurrency``: host names a batch resolves at once (see :meth:`resolve_many`)."""
        self.dns = dns
        self.rdap = rdap
        self.clock = clock or SystemClock()
        self.cache = cache or NetworkCache(clock=self.clock)
        self.domains = domains or DomainCache(clock=self.clock)
        """Registrations by domain, and lookups that failed for good (no record, no RDAP service)."""
        self.cdns = cdns or CDNCatalogue.load()
        self.asn_zone = asn_zone
        self._autnums: dict[int, AutnumRecord] = {}
        self._batch: dict[tuple[str, str], Any] | None = None
        self._load_book = contact_book
        self._book: ContactBook | None = None
        self.concurrency = max(1, concurrency)

    def close(self) -> None:
        """Close the registry connections kept open for the next lookups."""
        self.rdap.close()

    def resolve_many(self, items: Iterable[tuple[str, str | None]]) -> Iterator[Resolution]:
        """Resolve ``(url, connected_ip)`` pairs, in order; DNS answers are shared between URLs of
        the same host within the batch (a backlog has many URLs per host), never kept beyond it.

        Each lookup waits on a registry or a DNS server far away (a tenth of a second to a second
        in the real world), so the first URL of each host name and address is resolved ahead, up
        to ``concurrency`` at once; the others find its answers in the batch and the caches, and
        are resolved here, in order, once the first of theirs is done (handed to the pool as well,
        they cost a switch between threads each: a tenth of composing's CPU time). A
        registry's own pacing (``TAKEDOWN_RDAP_MAX_PER_MINUTE``, its 429s) still holds: the
        RDAP client paces every thread."""
        pairs = list(items)
        self._batch = {}
        self._book = self._load_book() if self._load_book else None
        pool = None
        hosts = [_hostname(url) for url, _ip in pairs]
        keys = [(host or url, ip) for host, (url, ip) in zip(hosts, pairs, strict=True)]
        domains = {domain for host in set(hosts) if host and (domain := registered_domain(host))}
        known = {ip for _url, ip in pairs if ip}  # where each case was last seen live
        with self._writing_later(), self.domains.preloaded(domains), self.cache.preloaded(known):
            try:
                firsts: dict[tuple[str, str | None], tuple[str, str | None]] = {}
                for key, pair in zip(keys, pairs, strict=True):
                    firsts.setdefault(key, pair)
                ahead: dict[tuple[str, str | None], Future[Resolution]] = {}
                if self.concurrency > 1 and len(firsts) > 1:
                    pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="resolve")
                    ahead = {key: pool.submit(self.resolve, *pair) for key, pair in firsts.items()}
                for key, (url, ip) in zip(keys, pairs, strict=True):
                    future = ahead.pop(key, None)  # the first URL of its host
                    yield future.result() if future is not None else self.resolve(url, ip)
            finally:
                if pool is not None:
                    pool.shutdown(wait=True, cancel_futures=True)
                self._batch = None
                self._book = None

    @contextmanager
    def _writing_later(self) -> Iterator[None]:
        """The networks and registrations a batch learns go to the store in one transaction at its
        end (one when both caches share their :class:`LaterWrites`, as the factory wires them)."""
        with ExitStack() as stack:
            for writes in (self.cache.writes, self.domains.writes):
                if writes is not None:
                    stack.enter_context(writes.holding())
            yield

    def _memo(self, kind: str, key: str, compute: Callable[[], T]) -> T:
        if self._batch is None:
            return compute()
        try:
            return cast(T, self._batch[(kind, key)])
        except KeyError:
            value = self._batch[(kind, key)] = compute()
            return value

    def resolve(self, url: str, connected_ip: str | None = None) -> Resolution:
        """Never raises: whatever a registry, a TLD server or a DNS answer does to one lookup is a
        :class:`Problem` on this URL's resolution, and the next URL is resolved as usual."""
        try:
            return self._resolve(url, connected_ip)
        except Exception as exc:  # the isolation boundary: one hostile answer, one case
            log.exception("resolving %s failed", url)
            result = Resolution(url=url, hostname=(_hostname(url) or "?"), resolved_at=self.clock.now())
            message = f"resolution failed: {type(exc).__name__}: {str(exc)[:300]}"
            result.problems.append(
                Problem("resolve", "InternalError", message, self.clock.now() + FAILED_RETRY)
            )
            return result

    def _resolve(self, url: str, connected_ip: str | None) -> Resolution:
        hostname = _hostname(url) or ""
        result = Resolution(url=url, hostname=hostname, resolved_at=self.clock.now())
        if not hostname:
            result.problems.append(Problem("url", "InvalidURL", f"{url!r} has no host name"))
            return result
        result.registered_domain = registered_domain(hostname)
        self._dns_step(result)
        result.address = connected_ip or (result.addresses[0] if result.addresses else None)
        if result.address is not None:
            self._network_step(result, result.address)
            self._route_step(result, result.address)
        origin_asns = result.route.origin_asns if result.route else ()
        asns = origin_asns or (result.network.origin_asns if result.network else ())
        result.cdn = self.cdns.match(cname_chain=result.cname_chain, address=result.address, asns=asns)
        if result.registered_domain is not None:
            self._domain_step(result, result.registered_domain)
        self._upstream_step(result)
        result.parties = _parties(result)
        book = self._book or (self._load_book() if self._load_book else None)
        if book is not None:
            book.apply(result)
        return result

    def _dns_step(self, result: Resolution) -> None:
        lookup = self._memo("addresses", result.hostname, lambda: self.dns.addresses(result.hostname))
        result.addresses = lookup.addresses
        result.cname_chain = lookup.cname_chain
        if lookup.status is not LookupStatus.OK:
            result.problems.append(Problem("dns", lookup.status.value, lookup.detail))
        if result.registered_domain is not None:
            domain = result.registered_domain
            result.nameservers = self._memo("ns", domain, lambda: nameservers(self.dns, domain))

    def _network_step(self, result: Resolution, address: str) -> None:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            result.problems.append(Problem("network", "InvalidAddress", f"{address!r} is not an IP address"))
            return
        cached = self.cache.get(address)
        if cached is not None:
            result.network = cached
            return
        try:
            record = self.rdap.network(address)
        except ResolutionError as exc:
            result.problems.append(_problem("network", exc))
            return
        result.network = record
        if self._held_back("network", record.truncated, record.abuse.emails, record.registry, result):
            return  # not cached: the next round asks again for the whole answer
        self.cache.put(record, address)

    def _held_back(
        self, step: str, truncated: bool, emails: tuple[str, ...], registry: str, result: Resolution
    ) -> bool:
        """A truncated answer without a mailbox is a problem to retry, not a holder without one."""
        if not truncated or emails:
            return False
        retry_at = self.clock.now() + TRUNCATED_RETRY
        message = f"{registry} left the contacts out of its answer (object truncated); asking again later"
        result.problems.append(Problem(step, "TruncatedAnswer", message, retry_at))
        return True

    def _route_step(self, result: Resolution, address: str) -> None:
        try:
            result.route = self._memo(
                "route", address, lambda: asn_lookup.route(self.dns, address, self.asn_zone)
            )
        except ValueError as exc:
            result.problems.append(Problem("route", "InvalidAddress", str(exc)))

    def _domain_step(self, result: Resolution, domain: str) -> None:
        cached = self.domains.get(domain)
        if isinstance(cached, ResolutionError):
            result.problems.append(_problem("registrar", cached))
            return
        if cached is not None:
            result.domain = cached
            return
        try:
            record = self.rdap.domain(domain)
        except (NotFound, Unsupported) as exc:
            self.domains.put(domain, exc)  # asking again would give the same answer
            result.problems.append(_problem("registrar", exc))
            return
        except ResolutionError as exc:
            result.problems.append(_problem("registrar", exc))
            return
        self.domains.put(domain, record)
        result.domain = record

    def _upstream_step(self, result: Resolution) -> None:
        if result.route is None:
            return
        for upstream in result.route.upstream_asns[:MAX_UPSTREAMS]:
            record = self._autnums.get(upstream)
            if record is None:
                try:
                    record = self.rdap.autnum(upstream)
                except ResolutionError as exc:
                    result.problems.append(_problem("upstream", exc))
                    continue
                if not self._held_back(
                    "upstream", record.truncated, record.abuse.emails, record.registry, result
                ):
                    self._autnums[upstream] = record
            result.upstreams.append(record)


def _hostname(url: str) -> str | None:
    """The host a browser connects to for ``url``: a numeric host (``2130706531``) is an address."""
    try:
        host = (urlsplit(url).hostname or "").lower()
        return (browser_host(host) if host else "").rstrip(".") or None
    except (ValueError, InvalidHost):
        return None


def _problem(step: str, exc: ResolutionError) -> Problem:
    retry_at = exc.retry_at if isinstance(exc, RateLimited) else None
    return Problem(step, type(exc).__name__, str(exc), retry_at)


def _parties(result: Resolution) -> list[Party]:
    parties: list[Party] = []
    network = result.network
    origin = result.origin_asn
    if result.cdn is not None:
        # The address is the CDN's, so the network RDAP found is the CDN's own: it is the recipient
        # (asked to forward the report and disclose the origin), and its transit is no escalation.
        cdn = result.cdn.cdn
        emails: tuple[str, ...]
        alternates: tuple[str, ...] = ()
        if cdn.abuse:
            emails, source = (cdn.abuse,), "catalogue"
        elif network is not None:
            emails, source, alternates = network.abuse.emails, network.abuse.source, network.abuse.alternates
        else:
            emails, source = (), "none"
        evidence = result.cdn.evidence + (f"; reports also at {cdn.report_url}" if cdn.report_url else "")
        parties.append(
            Party(Role.CDN.value, cdn.name, emails, source, evidence, origin, alternates=alternates)
        )
    elif network is not None:
        parties.append(
            Party(
                Role.HOSTING.value,
                network.organisation or network.name,
                network.abuse.emails,
                network.abuse.source,
                network.source_url or f"rdap:{network.registry} {network.handle}",
                origin,
                result.country,
                alternates=network.abuse.alternates,
            )
        )
    domain = result.domain
    if domain is not None and domain.registrar:
        parties.append(
            Party(
                Role.REGISTRAR.value,
                domain.registrar,
                domain.registrar_abuse.emails,
                domain.registrar_abuse.source,
                domain.source_url or f"rdap domain {domain.name}",
                alternates=domain.registrar_abuse.alternates,
            )
        )
    for upstream in result.upstreams if result.cdn is None else ():
        parties.append(
            Party(
                Role.UPSTREAM.value,
                upstream.organisation or upstream.name,
                upstream.abuse.emails,
                upstream.abuse.source,
                upstream.source_url or f"rdap:{upstream.registry} AS{upstream.asn}",
                upstream.asn,
                upstream.country,
                alternates=upstream.abuse.alternates,
            )
        )
    return parties
