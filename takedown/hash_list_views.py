"""The hash lists kept, as ``hashes list`` shows them: name, version, state and size, never their
contents.

Written once in plain SQL (:mod:`takedown.sql_reads`), so the terminal reads it through the
database driver alone, without importing SQLAlchemy, and the store's path reads the same text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from takedown.sql_reads import reading, stored_time, stored_time_or_none

if TYPE_CHECKING:
    from takedown.sql_reads import ReadSource


@dataclass(frozen=True, slots=True)
class HashListView:
    name: str
    version: str
    state: str
    entries: int
    imported_at: datetime
    imported_by: str
    activated_at: datetime | None


def list_hash_lists(source: ReadSource) -> list[HashListView]:
    """Every list version kept, by name and age. ``source``: a store or a reader of its own
    (:func:`takedown.sql_reads.reading`)."""
    sql = (
        "SELECT name, version, state, entries, imported_at, imported_by, activated_at"
        " FROM hash_list ORDER BY name, id"
    )
    with reading(source) as reads:
        return [
            HashListView(name, version, state, int(entries), stored_time(imported_at), imported_by,
                         stored_time_or_none(activated_at))
            for name, version, state, entries, imported_at, imported_by, activated_at in reads.stream(sql)
        ]  # fmt: skip
