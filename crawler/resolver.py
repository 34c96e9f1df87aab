"""The SSRF guard at name resolution: Scrapy connects only to addresses this resolver hands it.

Installed through Scrapy's ``TWISTED_DNS_RESOLVER``, it replaces the reactor's name resolver, so
every connection (first request, every redirect, IP literals too) gets its addresses from here.
Each address is checked against the :class:`~takedown.netpolicy.AddressPolicy`; if any address of
a name is refused, the name is refused whole (a round-robin name must not half-reach an intranet).
The verdict is kept per name so the spider can say *why* a fetch failed: NXDOMAIN (gone), refused
by policy, or no answer.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IHostnameResolver, IHostResolution, IResolutionReceiver
from twisted.internet.threads import deferToThreadPool
from zope.interface import implementer

from hosting.dns import AddressLookup, DNSClient, LookupStatus
from takedown.netpolicy import AddressPolicy

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """What resolving a name came to, for the spider's error handling."""

    name: str
    status: str  # "ok", "refused", or a LookupStatus value
    addresses: tuple[str, ...] = ()
    detail: str = ""
    at: float = field(default_factory=time.monotonic)


class Verdicts:
    """The latest verdict per host name, shared between the resolver and the spider.

    It doubles as the crawl's DNS cache: a verdict younger than ``max_age`` is reused, so a crawl
    asks once per host name, not once per URL.
    """

    def __init__(self, max_age: float = 300.0) -> None:
        self._by_name: dict[str, Verdict] = {}
        self._lock = threading.Lock()
        self.max_age = max_age

    def record(self, verdict: Verdict) -> None:
        with self._lock:
            self._by_name[verdict.name.lower()] = verdict

    def get(self, name: str) -> Verdict | None:
        with self._lock:
            return self._by_name.get(name.lower())

    def fresh(self, name: str) -> Verdict | None:
        verdict = self.get(name)
        if verdict is None or time.monotonic() - verdict.at > self.max_age:
            return None
        return verdict


VERDICTS = Verdicts()
"""One per process: a crawl is one process, and Scrapy builds the resolver itself."""


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:  # the lookup runs to completion in its thread; nothing to cancel
        pass


def decide(lookup: AddressLookup, policy: AddressPolicy) -> Verdict:
    """Turn a DNS answer into a verdict: every address allowed, or the name refused."""
    if lookup.status is not LookupStatus.OK:
        return Verdict(lookup.name, lookup.status.value, detail=lookup.detail)
    refusals = [reason for reason in map(policy.refusal, lookup.addresses) if reason]
    if refusals:
        return Verdict(lookup.name, "refused", lookup.addresses, f"{lookup.name}: {refusals[0]}")
    return Verdict(lookup.name, "ok", lookup.addresses)


@implementer(IHostnameResolver)
class GuardedResolver:
    """An ``IHostnameResolver`` that resolves with dnspython and refuses forbidden addresses."""

    installed: GuardedResolver | None = None
    """The one installed on this process's reactor, for the spider to resolve ahead of time."""

    def __init__(
        self, reactor: Any, client: DNSClient, policy: AddressPolicy, verdicts: Verdicts = VERDICTS
    ) -> None:
        self.reactor = reactor
        self.client = client
        self.policy = policy
        self.verdicts = verdicts

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> GuardedResolver:
        settings = crawler.settings
        client = DNSClient(
            settings.get("TAKEDOWN_DNS_SERVER") or None, timeout=settings.getfloat("DNS_TIMEOUT", 10)
        )
        policy = AddressPolicy.from_strings(settings.getlist("TAKEDOWN_ALLOW_NETWORKS"))
        return cls(reactor, client, policy)

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)
        GuardedResolver.installed = self

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[Any]] | None = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        resolution = _Resolution(hostName)
        # zope interfaces declare methods without self, which mypy cannot follow: call through Any.
        receiver: Any = resolutionReceiver
        receiver.resolutionBegan(resolution)

        def deliver(verdict: Verdict) -> None:
            for address in verdict.addresses if verdict.status == "ok" else ():
                if addressTypes is not None and _address_type(address) not in addressTypes:
                    continue
                receiver.addressResolved(_twisted_address(address, portNumber))
            receiver.resolutionComplete()

        def failed(failure: Any) -> None:
            self.verdicts.record(Verdict(hostName, LookupStatus.FAILED.value, detail=str(failure.value)))
            receiver.resolutionComplete()

        cached = self.verdicts.fresh(hostName)
        if cached is not None:
            deliver(cached)
        else:
            pool = self.reactor.getThreadPool()
            deferToThreadPool(self.reactor, pool, self.resolve, hostName).addCallbacks(deliver, failed)
        return cast(IHostResolution, resolution)

    def resolve(self, name: str) -> Verdict:
        """Look ``name`` up and judge it (blocking: call from a thread). Records the verdict."""
        verdict = decide(self.client.addresses(name), self.policy)
        self.verdicts.record(verdict)
        if verdict.status == "refused":
            log.warning("SSRF guard refused %s", verdict.detail)
        return verdict


def _address_type(address: str) -> type[Any]:
    return IPv6Address if ipaddress.ip_address(address).version == 6 else IPv4Address


def _twisted_address(address: str, port: int) -> IPv4Address | IPv6Address:
    made: IPv4Address | IPv6Address = _address_type(address)("TCP", address, port)
    return made
