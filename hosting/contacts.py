"""The contact book: what analysts know better than RDAP.

Registries' records lag behind reality: a provider asks for reports at a dedicated desk, a network's
listed mailbox bounces, a registry's own role box appears on a parent block. The book holds:

- ``asn`` / ``network`` overrides: the mailbox (and language) to use for a network, beating RDAP;
- ``domain`` entries: a platform's own abuse desk (a file host, a forum) for URLs under that
  domain, added as a ``site`` recipient besides the hosting network;
- ``email`` entries: a mailbox to replace with another, or never to write to (``--never-notify``).

A party whose every mailbox is barred stays in the result with no mailbox and the source
``never-notify``, so the chase knows to escalate rather than think nobody was found.

The book's changes are :mod:`hosting.contact_writes`; this module applies the book to resolutions.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable
from importlib import resources
from typing import TYPE_CHECKING

from sqlalchemy import select

from hosting.contact_entries import Override, list_contacts
from hosting.rdap.vcard import normalise_email
from takedown.models import Contact
from takedown.store import Store
from takedown.vocabulary import Role

if TYPE_CHECKING:  # the resolver and the suffix list load only where a resolution is made
    from hosting.resolve import Party, Resolution


def bad_mailboxes(store: Store) -> list[Override]:
    """Mailboxes a permanent refusal marked bad, the most recent first."""
    with store.reading() as session:
        rows = session.scalars(
            select(Contact).where(Contact.bad_since.is_not(None)).order_by(Contact.bad_since.desc())
        )
        return [_override(row) for row in rows]


def shipped_never_notify() -> frozenset[str]:
    text = resources.files("hosting").joinpath("data", "never_notify.txt").read_text(encoding="utf-8")
    return frozenset(
        address
        for line in text.splitlines()
        if line.strip() and not line.startswith("#") and (address := normalise_email(line.strip()))
    )


class ContactBook:
    def __init__(self, overrides: Iterable[Override] = (), *, barred: Iterable[str] = ()) -> None:
        self.by_asn: dict[int, Override] = {}
        self.networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Override]] = []
        self.by_domain: dict[str, Override] = {}
        self.replacements: dict[str, str] = {}
        self.barred = {_mailbox_key(address) for address in barred}
        for override in overrides:
            if override.scope == "asn":
                self.by_asn[int(override.value)] = override
            elif override.scope == "network":
                self.networks.append((ipaddress.ip_network(override.value), override))
            elif override.scope == "domain":
                self.by_domain[override.value] = override
            elif override.scope == "email":
                if override.never_notify or override.bad_since is not None:
                    self.barred.add(_mailbox_key(override.value))
                elif override.email:
                    self.replacements[_mailbox_key(override.value)] = override.email
        self.networks.sort(key=lambda item: item[0].prefixlen, reverse=True)

    @classmethod
    def load(cls, store: Store | None) -> ContactBook:
        overrides = list_contacts(store) if store is not None else []
        return cls(overrides, barred=shipped_never_notify())

    def apply(self, resolution: Resolution) -> None:
        """Rewrite ``resolution.parties`` as the book says (in place)."""
        from hosting.resolve import Party  # loaded already: a resolution was made

        parties: list[Party] = []
        for party in resolution.parties:
            override = None
            if party.role in (Role.HOSTING, Role.CDN):
                override = self._network_override(resolution.address) or self._asn_override(party.asn)
            elif party.role == Role.UPSTREAM:
                override = self._asn_override(party.asn)
            parties.append(self._screen(self._overridden(party, override)))
        site = self._domain_override(resolution.hostname)
        if site is not None:
            parties.insert(
                0,
                self._screen(
                    Party(
                        Role.SITE.value,
                        site.value,
                        (site.email,) if site.email else (),
                        f"contact book: domain {site.value}",
                        "contact book",
                        language=site.language,
                    )
                    if not site.never_notify
                    else Party(
                        Role.SITE.value,
                        site.value,
                        (),
                        "never-notify",
                        "contact book",
                        language=site.language,
                    )
                ),
            )
        resolution.parties = parties

    def _network_override(self, address: str | None) -> Override | None:
        if address is None:
            return None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        return next((o for net, o in self.networks if net.version == ip.version and ip in net), None)

    def _asn_override(self, asn: int | None) -> Override | None:
        return self.by_asn.get(asn) if asn is not None else None

    def _domain_override(self, hostname: str) -> Override | None:
        labels = hostname.lower().split(".")
        for start in range(len(labels) - 1):
            found = self.by_domain.get(".".join(labels[start:]))
            if found is not None:
                return found
        return None

    def _overridden(self, party: Party, override: Override | None) -> Party:
        if override is None:
            return party
        where = f"contact book: {override.scope} {override.value}"
        if override.never_notify:
            return dataclasses.replace(
                party, emails=(), contact_source="never-notify", evidence=f"{party.evidence}; {where}"
            )
        return dataclasses.replace(
            party,
            emails=(override.email,) if override.email else party.emails,
            contact_source=where,
            language=override.language or party.language,
        )

    def _screen(self, party: Party) -> Party:
        """Replace moved mailboxes, drop barred ones; when every one is barred, turn to the abuse
        mailboxes the registry's remarks named; say so when nothing is left."""
        kept = self._usable(party.emails)
        if kept == party.emails:
            return party
        if kept:
            return dataclasses.replace(party, emails=kept)
        alternates = self._usable(party.alternates)
        if alternates:
            return dataclasses.replace(party, emails=alternates, contact_source="remarks")
        return dataclasses.replace(party, emails=(), contact_source="never-notify")

    def _usable(self, addresses: tuple[str, ...]) -> tuple[str, ...]:
        moved = tuple(dict.fromkeys(self.replacements.get(_mailbox_key(e), e) for e in addresses))
        return tuple(e for e in moved if _mailbox_key(e) not in self.barred)


def _mailbox_key(address: str) -> str:
    """Mailboxes compare case-insensitively here: a barred address must not slip through by case."""
    return address.strip().lower()


def _override(row: Contact) -> Override:
    return Override(
        row.scope,
        row.value,
        row.email,
        row.language,
        bool(row.never_notify),
        row.note,
        row.updated_at,
        row.updated_by,
        row.bad_since,
    )
