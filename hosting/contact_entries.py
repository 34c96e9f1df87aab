"""The contact book's entries, as ``contacts list``, the console and the resolver read them.

Written once in plain SQL (:mod:`takedown.sql_reads`), so ``contacts list`` at the terminal reads
the book through the database driver alone, without importing SQLAlchemy, and everything else
reads the same text through a session of the store.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING

from takedown.sql_reads import SqlReads, reading, stored_time_or_none

if TYPE_CHECKING:
    from takedown.store import Store


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


def list_contacts(source: Store | SqlReads) -> list[Override]:
    """Every entry, by scope and value. ``source``: a store or a reader of its own
    (:func:`takedown.sql_reads.reading`)."""
    with reading(source) as reads:
        rows = reads.stream(f"SELECT {_COLUMNS} FROM contact ORDER BY scope, value")
        return [
            Override(scope, value, email, language, bool(never_notify), note, stored_time_or_none(updated_at),
                     updated_by, stored_time_or_none(bad_since))
            for scope, value, email, language, never_notify, note, updated_at, updated_by, bad_since in rows
        ]  # fmt: skip
