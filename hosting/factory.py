"""A :class:`HostingResolver` wired from settings: the one place that knows which setting feeds what."""

from __future__ import annotations

from datetime import timedelta

from hosting.cache import NetworkCache
from hosting.cdn import CDNCatalogue
from hosting.contacts import ContactBook
from hosting.dns import DNSClient
from hosting.rdap.client import RDAPClient
from hosting.resolve import HostingResolver
from takedown.clock import Clock, SystemClock
from takedown.netpolicy import AddressPolicy
from takedown.settings import Settings
from takedown.store import Store


def resolver_from_settings(
    settings: Settings, *, store: Store | None = None, clock: Clock | None = None, cache_in_store: bool = True
) -> HostingResolver:
    """``store`` holds the contact book and, unless ``cache_in_store`` is false, the RDAP range cache."""
    clock = clock or SystemClock()
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
            store if cache_in_store else None, clock=clock, ttl=timedelta(hours=settings.rdap_cache_hours)
        ),
        cdns=CDNCatalogue.load(settings.cdn_catalogue),
        asn_zone=settings.asn_dns_zone,
        clock=clock,
        contact_book=lambda: ContactBook.load(store),
        concurrency=settings.resolve_concurrency,
    )
