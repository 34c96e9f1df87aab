"""What was referred to another country's hotline, as the CSV that hotline is sent
(``takedown portals referrals``, the console's download): text only, never content.

Written once in plain SQL (:mod:`takedown.sql_reads`): at the terminal through the database driver
alone. Through the ORM, importing the portals' module and SQLAlchemy made the command take 1.4 s
on an empty store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from takedown.plain import iso
from takedown.sql_reads import mark, reading, stored_time
from takedown.sql_writes import time_to_store

if TYPE_CHECKING:
    from takedown.sql_reads import ReadSource


@dataclass(frozen=True, slots=True)
class Referral:
    url: str
    reported_at: datetime
    content: str
    report: str
    portal: str
    referred_at: datetime


REFERRAL_COLUMNS = ("url", "reported_at", "content", "report", "portal", "referred_at")
"""The columns of the CSV a country's hotline is sent."""


def referral_row(referral: Referral) -> list[str]:
    return [referral.url, iso(referral.reported_at) or "", referral.content, referral.report, referral.portal,
            iso(referral.referred_at) or ""]  # fmt: skip


def referrals(source: ReadSource, country: str, *, since: datetime | None = None) -> list[Referral]:
    """What was referred to ``country``'s hotline (since a time), oldest first."""
    with reading(source) as reads:
        bound = mark(reads)
        parameters: list[object] = [country.strip().upper()]
        sql = (
            "SELECT portal_url.url, portal_report.received_at, portal_report.content,"
            " portal_report.reference, portal.slug, portal_url.decided_at"
            " FROM portal_url JOIN portal_report ON portal_report.id = portal_url.report_id"
            " JOIN portal ON portal.id = portal_report.portal_id"
            f" WHERE portal_url.state = 'referred' AND portal_url.referred_to = {bound}"
        )
        if since is not None:
            sql += f" AND portal_url.decided_at >= {bound}"
            parameters.append(time_to_store(reads.dialect)(since))
        sql += " ORDER BY portal_url.decided_at, portal_url.id"
        return [
            Referral(url, stored_time(at), content, report, portal, stored_time(decided or at))
            for url, at, content, report, portal, decided in reads.stream(sql, parameters)
        ]
