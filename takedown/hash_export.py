"""The hotline's own hash feed: fingerprints of the content it has confirmed, for partner companies
to block, as the IWF shares its Image Hash List.

An entry is the digests (and, for an image, the PDQ hash) of a body a revisit found live at a
confirmed URL (the whole body: a check cut at the size cap fingerprints a prefix, which no partner
can match), with the case's category and classification and when it was first seen. Withdrawn
cases are not confirmed content: their fingerprints leave the feed, unless another confirmed case
has the same body. A delta (``since``) gives what was added since then, and what was taken out,
so a partner's copy can follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from takedown.pdq_index import MIN_PDQ_QUALITY
from takedown.plain import iso
from takedown.sql_reads import PagedReads, mark, stored_time
from takedown.sql_writes import time_to_store
from takedown.states import CaseState

WITHDRAWN = CaseState.WITHDRAWN.value


@dataclass(frozen=True, slots=True)
class ExportedHash:
    action: str
    """``add``, or ``remove`` (in a delta: its cases were withdrawn since)."""
    sha256: str
    md5: str | None
    sha1: str | None
    pdq: str | None
    """The image's PDQ hash, when the body was an image with a hash good enough to match."""
    category: str
    classification: str | None
    first_seen: datetime

    def __plain__(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "sha256": self.sha256,
            "md5": self.md5,
            "sha1": self.sha1,
            "pdq": self.pdq,
            "category": self.category,
            "classification": self.classification,
            "first_seen": iso(self.first_seen),
        }


EXPORT_COLUMNS = ("action", "sha256", "md5", "sha1", "pdq", "category", "classification", "first_seen")


def confirmed_fingerprints(reads: PagedReads, *, since: datetime | None = None) -> Iterator[ExportedHash]:
    """The feed, a body at a time in the order first seen, as the store gives it (a million rows
    never sit in memory). With ``since``: bodies first seen since then, and the bodies whose
    last confirmed case was withdrawn since then. ``reads``: the terminal's reader, or a session's
    (:class:`takedown.sql_reads.SessionReads`); the SQL is the same."""
    bound = mark(reads)
    sql = f'{_bodies(bound)} AND "case".state <> {bound} GROUP BY "check".sha256, "case".category'
    parameters: list[Any] = [MIN_PDQ_QUALITY, WITHDRAWN]
    if since is not None:
        sql += f' HAVING min("check".checked_at) >= {bound}'
        parameters.append(time_to_store(reads.dialect)(since))
    # The same order every time: partners diff it.
    for row in reads.stream_long(sql + ' ORDER BY first_seen, "check".sha256', parameters):
        yield _exported("add", row)
    if since is not None:
        yield from _withdrawn_since(reads, since)


def _bodies(bound: str) -> str:
    """Each whole body found live (a prefix at the size cap matches nothing), once per category when
    grouped by both: its digests, its PDQ hash when good enough to match (a featureless image's is
    not shared; the bound is the first parameter), and when it was first seen."""
    return (
        'SELECT "check".sha256, max("check".md5), max("check".sha1),'
        f' max(CASE WHEN "check".pdq_quality >= {bound} THEN "check".pdq END),'
        ' "case".category, max("case".classification), min("check".checked_at) AS first_seen'
        ' FROM "check" JOIN "case" ON "case".id = "check".case_id'
        ' WHERE "check".outcome = \'live\' AND NOT "check".truncated AND "check".sha256 IS NOT NULL'
    )


def _withdrawn_since(reads: PagedReads, since: datetime) -> Iterator[ExportedHash]:
    """Bodies of cases withdrawn since ``since`` that no confirmed case still has."""
    bound = mark(reads)
    sql = (
        f'{_bodies(bound)} AND "case".state = {bound}'
        f' AND EXISTS (SELECT event.id FROM event WHERE event.case_id = "case".id'
        f" AND event.action = 'withdrawn' AND event.at >= {bound})"
        ' AND NOT EXISTS (SELECT other_check.id FROM "check" AS other_check'
        ' JOIN "case" AS other_case ON other_case.id = other_check.case_id'
        " WHERE other_check.sha256 = \"check\".sha256 AND other_check.outcome = 'live'"
        f" AND NOT other_check.truncated AND other_case.state <> {bound})"
        ' GROUP BY "check".sha256, "case".category ORDER BY first_seen, "check".sha256'
    )
    at = time_to_store(reads.dialect)(since)
    for row in reads.stream_long(sql, [MIN_PDQ_QUALITY, WITHDRAWN, at, WITHDRAWN]):
        yield _exported("remove", row)


def _exported(action: str, row: Any) -> ExportedHash:
    sha256, md5, sha1, pdq, category, classification, first_seen = row
    return ExportedHash(
        action, str(sha256), md5, sha1, pdq, category, classification, stored_time(first_seen)
    )
