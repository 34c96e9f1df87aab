"""A :class:`HostingResolver` wired from settings: the one place that knows which setting feeds what."""

from __future__ import annotations

from datetime import timedelta

from hosting.cache import NetworkCache
from hosting.cdn import CDNCatalogue
from hosting.contacts import ContactBook
from hosting.dns import DNSClient
from hosting.domain_cache import DomainCache
from hosting.later_writes import LaterWrites
from hosting.rdap.client import RDAPClient
from hosting.resolve import HostingResolver
from takedown.clock import Clock, SystemClock
from takedown.netpolicy import AddressPolicy
from takedown.settings import Settings
from takedown.store import Store


def resolver_from_settings(
    settings: Settings, *, store: Store | None = None, clock: Clock | None = None, cache_in_store: bool = True
) -> HostingResolver:
    """``store`` holds the contact book and, unless ``cache_in_store`` is false, the RDAP caches
    (networks by range, registrations by domain)."""
    clock = clock or SystemClock()
    cache_store = store if cache_in_store else None
    writes = LaterWrites(cache_store) if cache_store is not None else None  # one transaction a round
    return HostingResolver(
        dns=DNSClient(settings.dns_server),
        rdap=RDAPClient(
            settings.rdap_bootstrap,
            clock=clock,
            timeout=settings.rdap_timeout,
            user_agent=settings.user_agent,
            max_per_minute=settings.rdap_max_per_minute or None,
            address_policy=AddressPolicy.from_strings(settings.allowed_networks),
        ),
        cache=NetworkCache(
            cache_store, clock=clock, ttl=timedelta(hours=settings.rdap_cache_hours), writes=writes
        ),
        domains=DomainCache(
            cache_store, clock=clock, ttl=timedelta(hours=settings.rdap_domain_cache_hours), writes=writes
        ),
        cdns=CDNCatalogue.load(settings.cdn_catalogue),
        asn_zone=settings.asn_dns_zone,
        clock=clock,
        contact_book=lambda: ContactBook.load(store),
        concurrency=settings.resolve_concurrency,
    )
