"""The reported URLs waiting for an analyst, as ``portals queue`` and the console's reports page
list them: text only, never content.

Written once in plain SQL (:mod:`takedown.sql_reads`), so an analyst's ``portals queue`` at the
terminal reads it through the database driver alone, without importing SQLAlchemy, and the
console reads the same text through its session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from takedown.sql_reads import mark, reading, stored_json, stored_time

if TYPE_CHECKING:
    from takedown.sql_reads import ReadSource


UNDECIDED = ("awaiting_revisit", "awaiting_assessment")
"""The states of a reported URL before an analyst's decision."""


@dataclass(frozen=True, slots=True)
class AwaitingUrl:
    """A reported URL waiting for an analyst: text only, never content."""

    id: int
    url: str
    state: str
    times_reported: int
    report: str
    portal: str
    content: str
    received_at: datetime
    revisit: dict[str, Any] | None = None
    """What its one revisit saw (outcome, HTTP status, reason), once it has had it."""
    matches: tuple[dict[str, Any], ...] = ()


def awaiting(source: ReadSource, *, limit: int = 100, after_id: int = 0) -> list[AwaitingUrl]:
    """The URLs waiting for a decision, oldest first, a page at a time (ids above ``after_id``).

    The states are written into the SQL, as the index on (state, id) is searched for each."""
    with reading(source) as reads:
        bound = mark(reads)
        undecided = ", ".join(f"'{state}'" for state in UNDECIDED)
        sql = (
            "SELECT portal_url.id, portal_url.url, portal_url.state, portal_url.times_reported,"
            " portal_report.reference, portal.slug, portal_report.content, portal_report.received_at,"
            " portal_url.revisit, portal_url.matches"
            " FROM portal_url JOIN portal_report ON portal_report.id = portal_url.report_id"
            " JOIN portal ON portal.id = portal_report.portal_id"
            f" WHERE portal_url.state IN ({undecided}) AND portal_url.id > {bound}"
            f" ORDER BY portal_url.id LIMIT {bound}"
        )
        return [
            AwaitingUrl(url_id, url, state, times, reference, portal, content, stored_time(received_at),
                        stored_json(revisit), tuple(stored_json(matches) or ()))
            for url_id, url, state, times, reference, portal, content, received_at, revisit, matches
            in reads.stream(sql, (after_id, limit))
        ]  # fmt: skip
