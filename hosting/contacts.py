"""The contact book: what analysts know better than RDAP.

Registries' records lag behind reality: a provider asks for reports at a dedicated desk, a network's
listed mailbox bounces, a registry's own role box appears on a parent block. The book holds:

- ``asn`` / ``network`` overrides: the mailbox (and language) to use for a network, beating RDAP;
- ``domain`` entries: a platform's own abuse desk (a file host, a forum) for URLs under that
  domain, added as a ``site`` recipient besides the hosting network;
- ``email`` entries: a mailbox to replace with another, or never to write to (``--never-notify``).

A party whose every mailbox is barred stays in the result with no mailbox and the source
``never-notify``, so the chase knows to escalate rather than think nobody was found.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from hosting.contact_entries import ContactError, Override, list_contacts, normalise
from hosting.rdap.vcard import normalise_email
from takedown.clock import Clock, SystemClock
from takedown.models import Contact, ContactChange
from takedown.store import Store
from takedown.vocabulary import Role

if TYPE_CHECKING:  # the resolver and the suffix list load only where a resolution is made
    from hosting.resolve import Party, Resolution


def set_contact(
    store: Store,
    scope: str,
    value: str,
    *,
    email: str | None = None,
    language: str | None = None,
    never_notify: bool = False,
    note: str | None = None,
    actor: str,
    clock: Clock | None = None,
) -> Override:
    """Add or replace the book's entry for (scope, value)."""
    scope = scope.lower()
    key = normalise(scope, value)
    mailbox = None
    if email is not None:
        mailbox = normalise_email(email)
        if mailbox is None:
            raise ContactError(f"--email {email!r}: not a mailbox")
    if mailbox is None and not never_notify:
        raise ContactError(f"{scope} {key}: give --email ADDRESS, or --never-notify")
    if mailbox is not None and never_notify and scope == "email":
        raise ContactError(f"email {key}: --never-notify and a replacement --email contradict each other")
    if language is not None and not (2 <= len(language) <= 16):
        raise ContactError(f"--language {language!r}: expected a language tag such as en or pt-BR")
    now = (clock or SystemClock()).now()
    with store.session() as session:
        rows = session.scalars(_entries(scope, key).order_by(Contact.id)).all()
        row = rows[0] if rows else None
        if row is None:
            row = Contact(scope=scope, value=key, updated_at=now, updated_by=actor)
            session.add(row)
        for twin in rows[1:]:  # one mailbox in two cases, as an older version could leave it
            session.delete(twin)
            session.add(_change(scope, twin.value, "removed", now, actor, note=f"one entry with {row.value}"))
        row.email, row.language, row.never_notify, row.note = mailbox, language, never_notify, note
        row.bad_since = None  # an analyst setting the entry again vouches for it
        row.updated_at, row.updated_by = now, actor
        change = "barred" if never_notify else "set"
        session.add(_change(row.scope, row.value, change, now, actor, mailbox, language, note))
        session.flush()
        return _override(row)


def mark_mailbox_bad(session: Session, address: str, reason: str, *, now: datetime, actor: str) -> None:
    """A mailbox refused for good: the contact book bars it until an analyst sets it again. Takes
    the caller's session, so the mark is in the same transaction as the refused notice.

    The mark lands on the book's entry for that mailbox whatever its case (the book compares
    mailboxes case-insensitively), so a bounce never makes a second entry beside an analyst's."""
    value = normalise_email(address) or address.strip()
    entry = session.scalars(_email_entries(value).order_by(Contact.id)).first()
    if entry is None:
        entry = Contact(scope="email", value=value, never_notify=False, updated_at=now, updated_by=actor)
        session.add(entry)
    entry.bad_since = entry.bad_since or now
    entry.note = f"bounced: {reason}"[:1000]
    entry.updated_at, entry.updated_by = now, actor
    session.add(_change("email", entry.value, "bounced", now, actor, entry.email, entry.language, entry.note))


def clear_bounce(store: Store, address: str, *, actor: str, clock: Clock | None = None) -> bool:
    """Someone vouches for a mailbox a bounce marked bad: notices go to it again. An entry that only
    the bounce made is removed; one an analyst made keeps what they set. Whether one was marked.
    The address is matched as the book matches mailboxes: case aside."""
    value = normalise_email(address)
    if value is None:
        return False
    with store.session() as session:
        entries = session.scalars(_email_entries(value).where(Contact.bad_since.is_not(None))).all()
        now = (clock or SystemClock()).now()
        for entry in entries:
            note = f"written to again after a bounce ({entry.note or 'no reason kept'})"[:1000]
            if entry.email is None and not entry.never_notify and entry.language is None:
                session.delete(entry)
                session.add(_change("email", entry.value, "removed", now, actor, note=note))
            else:
                entry.bad_since, entry.note = None, None
                entry.updated_at, entry.updated_by = now, actor
                vouched = _change("email", entry.value, "set", now, actor, entry.email, entry.language, note)
                session.add(vouched)
        return bool(entries)


def _entries(scope: str, key: str) -> Select[Contact]:
    """The book's entry for (scope, key), its stored form. A mailbox's is found whatever its case,
    as the book compares mailboxes, so an analyst's entry and a bounce's mark are one entry (rows
    a bounce stored before addresses were normalised are found too)."""
    if scope == "email":
        return _email_entries(key)
    return select(Contact).where(Contact.scope == scope, Contact.value == key)


def _email_entries(address: str) -> Select[Contact]:
    return select(Contact).where(Contact.scope == "email", func.lower(Contact.value) == address.lower())


def bad_mailboxes(store: Store) -> list[Override]:
    """Mailboxes a permanent refusal marked bad, the most recent first."""
    with store.reading() as session:
        rows = session.scalars(
            select(Contact).where(Contact.bad_since.is_not(None)).order_by(Contact.bad_since.desc())
        )
        return [_override(row) for row in rows]


def remove_contact(store: Store, scope: str, value: str, *, actor: str, clock: Clock | None = None) -> bool:
    """Remove the entry for (scope, value); whether there was one. Its history stays."""
    scope = scope.lower()
    key = normalise(scope, value)
    with store.session() as session:
        entries = session.scalars(_entries(scope, key)).all()
        if not entries:
            return False
        for entry in entries:
            session.delete(entry)
        now = (clock or SystemClock()).now()
        session.add(_change(scope, key, "removed", now, actor))
        return True


def _change(
    scope: str,
    value: str,
    change: str,
    at: datetime,
    actor: str,
    email: str | None = None,
    language: str | None = None,
    note: str | None = None,
) -> ContactChange:
    return ContactChange(
        scope=scope, value=value, change=change, email=email, language=language, note=note, at=at, actor=actor
    )


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
