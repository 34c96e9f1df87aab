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

from sqlalchemy import Select, case, exists, func, select
from sqlalchemy.orm import Session, aliased

from takedown.models import Case, Check, Event
from takedown.pdq_index import MIN_PDQ_QUALITY
from takedown.plain import iso
from takedown.sql_reads import LONG_READ_PAGE
from takedown.states import CaseState

WITHDRAWN = CaseState.WITHDRAWN.value
LIVE = "live"
_good_pdq = case((Check.pdq_quality >= MIN_PDQ_QUALITY, Check.pdq), else_=None)
"""A body's PDQ hash, when it is good enough to match (a featureless image's is not shared)."""


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


def confirmed_fingerprints(session: Session, *, since: datetime | None = None) -> Iterator[ExportedHash]:
    """The feed, a body at a time in the order first seen, as the store gives it (a million rows
    never sit in memory). With ``since``: bodies first seen since then, and the bodies whose
    last confirmed case was withdrawn since then."""
    query = _bodies().where(Case.state != WITHDRAWN)
    if since is not None:
        query = query.having(func.min(Check.checked_at) >= since)
    ordered = query.order_by("first_seen", Check.sha256)  # the same order every time: partners diff it
    rows = session.connection().execute(ordered, execution_options={"yield_per": LONG_READ_PAGE})
    for sha256, md5, sha1, pdq, category, classification, first_seen in rows:
        yield ExportedHash("add", str(sha256), md5, sha1, pdq, category, classification, first_seen)
    if since is not None:
        yield from _withdrawn_since(session, since)


def _bodies() -> Select[str | None, str | None, str | None, Any, str, str | None, datetime]:
    """Each whole body found live (a prefix at the size cap matches nothing), once per category:
    its digests, its PDQ hash when good enough, and when it was first seen."""
    return (
        select(
            Check.sha256,
            func.max(Check.md5),
            func.max(Check.sha1),
            func.max(_good_pdq),
            Case.category,
            func.max(Case.classification),
            func.min(Check.checked_at).label("first_seen"),
        )
        .join(Case, Case.id == Check.case_id)
        .where(Check.outcome == LIVE, Check.truncated.is_(False), Check.sha256.is_not(None))
        .group_by(Check.sha256, Case.category)
    )


def _withdrawn_since(session: Session, since: datetime) -> Iterator[ExportedHash]:
    """Bodies of cases withdrawn since ``since`` that no confirmed case still has."""
    other_check, other_case = aliased(Check), aliased(Case)
    still_confirmed = exists(
        select(other_check.id)
        .join(other_case, other_case.id == other_check.case_id)
        .where(
            other_check.sha256 == Check.sha256,
            other_check.outcome == LIVE,
            other_check.truncated.is_(False),
            other_case.state != WITHDRAWN,
        )
    )
    withdrawn_lately = exists(
        select(Event.id).where(Event.case_id == Case.id, Event.action == "withdrawn", Event.at >= since)
    )
    query = (
        _bodies()
        .where(Case.state == WITHDRAWN, withdrawn_lately, ~still_confirmed)
        .order_by("first_seen", Check.sha256)
    )
    for sha256, md5, sha1, pdq, category, classification, first_seen in session.execute(query):
        yield ExportedHash("remove", str(sha256), md5, sha1, pdq, category, classification, first_seen)
