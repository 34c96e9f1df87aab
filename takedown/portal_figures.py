"""How each reporting portal's reports fare (``takedown stats --by portal``, the console's
dashboard, the demo): reports and URLs received, the share of decided URLs confirmed, and the
median hours from a report to its assessment and to the removal of the content it led to.

Written once in plain SQL (:mod:`takedown.sql_reads`): the terminal reads it through the database
driver alone, without importing SQLAlchemy, and the console sends the same text through its
session. The counts are the database's; the medians are taken here, over the decided URLs' two
times each, read a row at a time.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from takedown.portal_queue import UNDECIDED
from takedown.sql_reads import reading, stored_time, stored_time_or_none

if TYPE_CHECKING:
    from takedown.sql_reads import ReadSource


@dataclass(frozen=True, slots=True)
class PortalStats:
    """How a portal's reports fare: received, confirmed, how fast assessed and removed."""

    portal: str
    reports: int
    urls: int
    decided: int
    confirmed: int
    confirmed_share: float | None
    """Of the URLs decided, the share confirmed (a case opened)."""
    median_hours_to_assessment: float | None
    median_hours_to_removal: float | None
    """From the report to the removal of the content it led to, for confirmed URLs since removed."""


_NOT_DECIDED = ", ".join(f"'{state}'" for state in (*UNDECIDED, "repeat"))
"""A URL reported again while its first report waits (``repeat``) is not a decision of its own."""


def portal_stats(source: ReadSource) -> list[PortalStats]:
    """One row per portal, by name; a portal nobody has used yet has a row of noughts."""
    with reading(source) as reads:
        counts = {
            slug: (int(reports), int(urls or 0), int(decided or 0), int(confirmed or 0))
            for slug, reports, urls, decided, confirmed in reads.stream(
                "SELECT portal.slug, COUNT(DISTINCT portal_report.id), COUNT(portal_url.id),"
                f" SUM(CASE WHEN portal_url.state NOT IN ({_NOT_DECIDED})"
                " AND portal_url.decided_at IS NOT NULL THEN 1 ELSE 0 END),"
                " SUM(CASE WHEN portal_url.state = 'confirmed' THEN 1 ELSE 0 END)"
                " FROM portal LEFT JOIN portal_report ON portal_report.portal_id = portal.id"
                " LEFT JOIN portal_url ON portal_url.report_id = portal_report.id"
                " GROUP BY portal.slug"
            )
        }
        assessed: dict[str, list[float]] = {slug: [] for slug in counts}
        removed: dict[str, list[float]] = {slug: [] for slug in counts}
        for slug, state, received, decided, gone in reads.stream(
            "SELECT portal.slug, portal_url.state, portal_report.received_at, portal_url.decided_at,"
            ' "case".removed_at'
            " FROM portal JOIN portal_report ON portal_report.portal_id = portal.id"
            " JOIN portal_url ON portal_url.report_id = portal_report.id"
            ' LEFT JOIN "case" ON "case".id = portal_url.case_id'
            f" WHERE portal_url.state NOT IN ({_NOT_DECIDED})"
        ):
            received_at = stored_time(received)
            if decided is not None:
                assessed[slug].append(_hours(stored_time(decided) - received_at))
            removed_at = stored_time_or_none(gone)
            if state == "confirmed" and removed_at is not None:
                removed[slug].append(_hours(removed_at - received_at))
    return [
        PortalStats(
            portal=slug,
            reports=reports,
            urls=urls,
            decided=decided,
            confirmed=confirmed,
            confirmed_share=round(confirmed / decided, 3) if decided else None,
            median_hours_to_assessment=_median(assessed[slug]),
            median_hours_to_removal=_median(removed[slug]),
        )
        for slug, (reports, urls, decided, confirmed) in sorted(counts.items())
    ]


def _hours(span: timedelta) -> float:
    return span.total_seconds() / 3600


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None
