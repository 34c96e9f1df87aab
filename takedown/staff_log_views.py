"""The staff log as ``users log`` and the console read it, newest first.

Written once in plain SQL (:mod:`takedown.sql_reads`), so ``users log`` at the terminal reads it
through the database driver alone, without importing SQLAlchemy, and the console reads the same
text through its session. The log itself is written by :mod:`takedown.staff_log`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from takedown.sql_reads import mark, reading, stored_json, stored_time

if TYPE_CHECKING:
    from takedown.sql_reads import ReadSource


@dataclass(frozen=True, slots=True)
class StaffEventView:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    detail: dict[str, Any]


def staff_events(
    source: ReadSource,
    *,
    limit: int = 200,
    before_id: int | None = None,
    subject: str | None = None,
) -> list[StaffEventView]:
    """Entries newest first; ``before_id`` pages, ``subject`` keeps one account's or token's."""
    with reading(source) as reads:
        bound = mark(reads)
        terms: list[str] = []
        values: list[Any] = []
        if before_id is not None:
            terms.append(f"id < {bound}")
            values.append(before_id)
        if subject is not None:
            terms.append(f"subject = {bound}")
            values.append(subject.strip().lower())
        where = f" WHERE {' AND '.join(terms)}" if terms else ""
        sql = (
            f"SELECT id, at, actor, action, subject, detail FROM staff_event{where}"
            f" ORDER BY id DESC LIMIT {bound}"
        )
        return [
            StaffEventView(number, stored_time(at), actor, action, acted_on, dict(stored_json(detail) or {}))
            for number, at, actor, action, acted_on, detail in reads.stream(sql, (*values, limit))
        ]
