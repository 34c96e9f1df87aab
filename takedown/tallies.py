"""Reading the running counts of cases (``case_tally``, kept by triggers: see its model).

A count by state is a read of a few rows, whatever the store's size: what the console's dashboard
and ``queue list --state S --count`` ask for many times a minute.
"""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from takedown.case_views import tally_counts
from takedown.models import CaseTally
from takedown.states import CaseState

FOLD_AFTER = 256
"""Rows of changes on PostgreSQL before a reader folds them into one per (state, needs_analyst)."""


def case_counts(session: Session) -> dict[tuple[CaseState, bool], int]:
    """Cases by (state, needs_analyst), exact as of the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        rows = session.scalar(select(func.count()).select_from(CaseTally)) or 0
        if rows > FOLD_AFTER:
            fold(session)
    summed = session.execute(
        select(CaseTally.state, CaseTally.needs_analyst, func.sum(CaseTally.cases)).group_by(
            CaseTally.state, CaseTally.needs_analyst
        )
    )
    return tally_counts(summed)


def fold(session: Session) -> None:
    """Replace PostgreSQL's rows of changes by their sums, in one statement: the rows deleted are
    exactly the rows summed, so a change committed meanwhile by another writer is neither lost nor
    counted twice (it stays behind, for the next fold)."""
    session.execute(
        text(
            """
            WITH removed AS (DELETE FROM case_tally RETURNING state, needs_analyst, cases)
            INSERT INTO case_tally (state, needs_analyst, cases)
            SELECT state, needs_analyst, sum(cases) FROM removed GROUP BY state, needs_analyst
            """
        )
    )
