"""The contact book's entries and history, as ``contacts list`` and ``contacts history``, the
console and the resolver read them, and the form each entry's value is kept in.

The reads are written once in plain SQL (:mod:`takedown.sql_reads`), so the terminal reads the
book through the database driver alone, without importing SQLAlchemy, and everything else reads
the same text through a session of the store. Changes are made by :mod:`hosting.contacts`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING

from hosting.rdap.vcard import normalise_email
from takedown.errors import TakedownError
from takedown.sql_reads import mark, reading, stored_time, stored_time_or_none

if TYPE_CHECKING:
    from takedown.sql_reads import ReadSource


SCOPES = ("asn", "network", "domain", "email")


class ContactError(TakedownError):
    """A contact book entry that cannot be stored as given."""


def normalise(scope: str, value: str) -> str:
    """The stored form of ``value`` for ``scope``; :class:`ContactError` saying what is wrong."""
    scope = scope.lower()
    text = value.strip()
    if scope == "asn":
        digits = text.upper().removeprefix("AS")
        if not digits.isdigit() or not 0 < int(digits) < 2**32:
            raise ContactError(f"asn {value!r}: expected an AS number such as 64500 or AS64500")
        return str(int(digits))
    if scope == "network":
        try:
            return str(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ContactError(f"network {value!r}: expected an address range such as 192.0.2.0/24") from None
    if scope == "domain":
        try:
            domain = text.lower().rstrip(".").encode("idna").decode("ascii")
        except UnicodeError:
            raise ContactError(f"domain {value!r}: not a valid domain name") from None
        from hosting.domains import registered_domain  # the suffix list: only for a domain

        if "." not in domain or registered_domain(domain) is None:
            raise ContactError(f"domain {value!r}: expected a registrable domain such as example.com")
        return domain
    if scope == "email":
        address = normalise_email(text)
        if address is None:
            raise ContactError(f"email {value!r}: not a mailbox")
        return address
    raise ContactError(f"scope {scope!r}: expected one of {', '.join(SCOPES)}")


@dataclass(frozen=True, slots=True)
class ContactChangeView:
    """One line of the contact book's history."""

    scope: str
    value: str
    change: str
    """``set``, ``barred``, ``removed``, or ``bounced`` (a permanent refusal marked it bad)."""
    email: str | None
    language: str | None
    note: str | None
    at: datetime
    actor: str


@dataclass(frozen=True)
class Override:
    scope: str
    value: str
    email: str | None = None
    language: str | None = None
    never_notify: bool = False
    note: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    bad_since: datetime | None = None
    """Set when a notice to this mailbox was refused for good; barred until an analyst sets it again."""


_COLUMNS = ", ".join(entry.name for entry in fields(Override))


def list_contacts(source: ReadSource) -> list[Override]:
    """Every entry, by scope and value. ``source``: a store or a reader of its own
    (:func:`takedown.sql_reads.reading`)."""
    with reading(source) as reads:
        rows = reads.stream(f"SELECT {_COLUMNS} FROM contact ORDER BY scope, value")
        return [
            Override(scope, value, email, language, bool(never_notify), note, stored_time_or_none(updated_at),
                     updated_by, stored_time_or_none(bad_since))
            for scope, value, email, language, never_notify, note, updated_at, updated_by, bad_since in rows
        ]  # fmt: skip


def contact_history(
    source: ReadSource, scope: str | None = None, value: str | None = None, *, limit: int = 100
) -> list[ContactChangeView]:
    """Changes to the book, newest first: all of them, or those of one entry (scope and value; a
    value not of its scope's form is a :class:`ContactError`; a mailbox in any case)."""
    with reading(source) as reads:
        bound = mark(reads)
        where, values = "", []
        if scope is not None and value is not None:
            scope = scope.lower()
            key = normalise(scope, value)
            # A mailbox is one entry whatever its case, as the contact book compares mailboxes.
            column, key = ("lower(value)", key.lower()) if scope == "email" else ("value", key)
            where, values = f" WHERE scope = {bound} AND {column} = {bound}", [scope, key]
        sql = (
            f"SELECT scope, value, change, email, language, note, at, actor FROM contact_change{where}"
            f" ORDER BY id DESC LIMIT {bound}"
        )
        return [
            ContactChangeView(scope_, value_, change, email, language, note, stored_time(at), actor)
            for scope_, value_, change, email, language, note, at, actor in reads.stream(
                sql, (*values, limit)
            )
        ]
