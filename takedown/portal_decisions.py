"""An analyst's decision on URLs the public reported (:mod:`takedown.portal_reports`): confirmed
(a case is opened through intake, with the report's reference), not illegal, not found, a
duplicate, or referred to another country's hotline. Later reports of the same URL are decided
with it.

Written once in plain SQL (:mod:`takedown.sql_writes`): ``portals assess`` at the terminal decides
through the database driver alone, the console through its session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from takedown.errors import ReportRefused
from takedown.intake import queue_batch
from takedown.portal_queue import UNDECIDED
from takedown.reports import Report, validate_report
from takedown.sql_reads import mark
from takedown.sql_writes import marks, time_to_store, writing

if TYPE_CHECKING:
    from takedown.sql_writes import WriteTarget

DECISIONS = ("confirm", "not_illegal", "not_found", "duplicate", "refer")
DECIDED_STATE = {
    "confirm": "confirmed",
    "not_illegal": "not_illegal",
    "not_found": "not_found",
    "duplicate": "duplicate",
    "refer": "referred",
}
"""The state a reported URL takes for each decision."""


@dataclass(frozen=True, slots=True)
class Decided:
    id: int
    state: str
    case_id: int | None = None
    repeats: int = 0
    """Later reports of the same URL, decided with it."""


def decide(
    target: WriteTarget,
    url_ids: Sequence[int],
    decision: str,
    *,
    actor: str,
    now: datetime,
    category: str | None = None,
    classification: str | None = None,
    country: str | None = None,
) -> list[Decided]:
    """An analyst's decision on reported URLs still waiting for one. ``confirm`` opens a case
    through intake (with the report's reference); ``refer`` needs the country whose hotline takes
    it. Later reports of the same URL are decided with it. URLs already decided are left out.
    ``target``: a session of the store, or the terminal's direct writer."""
    if decision not in DECISIONS:
        raise ReportRefused(f"a decision is one of {', '.join(DECISIONS)}")
    if decision == "refer" and not (country and len(country.strip()) == 2 and country.strip().isalpha()):
        raise ReportRefused("a referral names the country whose hotline takes it: two letters, such as BR")
    ids = sorted(set(url_ids))
    if not ids:
        return []
    state = DECIDED_STATE[decision]
    referred_to = country.strip().upper() if decision == "refer" and country else None
    decided = []
    with writing(target) as writes:
        undecided = ", ".join(f"'{waiting}'" for waiting in UNDECIDED)
        rows = list(
            writes.stream(
                "SELECT portal_url.id, portal_url.url, portal_report.reference FROM portal_url"
                " JOIN portal_report ON portal_report.id = portal_url.report_id"
                f" WHERE portal_url.id IN ({marks(writes, len(ids))}) AND portal_url.state IN ({undecided})"
                " ORDER BY portal_url.id",
                ids,
            )
        )
        bound = mark(writes)
        assignments = ", ".join(
            f"{column} = {bound}"
            for column in ("state", "case_id", "decided_at", "decided_by", "referred_to")
        )
        decided_at = time_to_store(writes.dialect)(now)
        for url_id, url, reference in rows:
            case_id = None
            if decision == "confirm":
                report = Report(
                    url, category=category or "csam", reference=reference, classification=classification
                )
                [result] = queue_batch(writes, [validate_report(report)], actor=actor, now=now)
                case_id = result.case_id
            values = (state, case_id, decided_at, actor, referred_to)
            writes.execute(f"UPDATE portal_url SET {assignments} WHERE id = {bound}", (*values, url_id))
            repeats = writes.execute(
                f"UPDATE portal_url SET {assignments} WHERE same_as_id = {bound} AND state = 'repeat'",
                (*values, url_id),
            )
            decided.append(Decided(url_id, state, case_id, repeats))
    return decided
