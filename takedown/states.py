"""Case states and which moves between them are allowed.

A case is open while someone may still have to act on it. ``gone`` is a first sighting of removal;
only a later revisit that agrees makes it ``removed``, so a host that flaps is not closed early.
"""

from __future__ import annotations

from enum import StrEnum


class CaseState(StrEnum):
    QUEUED = "queued"
    """Accepted from an analyst; not yet revisited."""
    LIVE = "live"
    """The last revisit found the content."""
    CHANGED = "changed"
    """The URL answers with other content than was assessed: an analyst must look again."""
    UNREACHABLE = "unreachable"
    """The last revisit could not tell (timeout, refused, 5xx): transient until a policy says not."""
    GONE = "gone"
    """The last revisit found the content removed; waiting for a second revisit to agree."""
    REMOVED = "removed"
    """Removal confirmed. Closed."""
    ALREADY_GONE = "already_gone"
    """Gone at the first revisits, and confirmed so, without ever being seen live: there was
    nothing to take down, nobody was notified, and it has no time to removal. Closed."""
    WITHDRAWN = "withdrawn"
    """Closed by an analyst without removal (reported in error, handed to police, ...)."""


OPEN_STATES: frozenset[CaseState] = frozenset(
    {CaseState.QUEUED, CaseState.LIVE, CaseState.CHANGED, CaseState.UNREACHABLE, CaseState.GONE}
)
CLOSED_STATES: frozenset[CaseState] = frozenset(
    {CaseState.REMOVED, CaseState.ALREADY_GONE, CaseState.WITHDRAWN}
)


def _states_sql(states: frozenset[CaseState]) -> str:
    return ", ".join(f"'{state.value}'" for state in sorted(states))


OPEN_STATES_SQL = _states_sql(OPEN_STATES)
ALL_STATES_SQL = _states_sql(OPEN_STATES | CLOSED_STATES)
OPEN_CASE_SQL = f"state IN ({OPEN_STATES_SQL})"
"""An open case, as the indexes over open cases are defined and as a query must say it to use one:
with the states written out in this order. A query that binds them as parameters, or lists them in
another order, cannot be matched to a partial index by SQLite, nor by PostgreSQL in a prepared
statement's generic plan, and reads every case instead (tests/test_case_lookup_plans.py)."""
CLOSED_CASE_SQL = f"state NOT IN ({OPEN_STATES_SQL})"
"""A closed case, written as the index of closed cases' URLs is defined (see :data:`OPEN_CASE_SQL`)."""

_REVISIT_OUTCOMES = frozenset({CaseState.LIVE, CaseState.CHANGED, CaseState.UNREACHABLE, CaseState.GONE})

ALLOWED_TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    CaseState.QUEUED: _REVISIT_OUTCOMES | {CaseState.WITHDRAWN},
    CaseState.LIVE: _REVISIT_OUTCOMES | {CaseState.WITHDRAWN},
    CaseState.CHANGED: _REVISIT_OUTCOMES | {CaseState.WITHDRAWN},
    CaseState.UNREACHABLE: _REVISIT_OUTCOMES | {CaseState.WITHDRAWN},
    CaseState.GONE: _REVISIT_OUTCOMES | {CaseState.REMOVED, CaseState.ALREADY_GONE, CaseState.WITHDRAWN},
    CaseState.REMOVED: frozenset(),
    CaseState.ALREADY_GONE: frozenset(),
    CaseState.WITHDRAWN: frozenset(),
}


def can_move(current: CaseState, target: CaseState) -> bool:
    return target in ALLOWED_TRANSITIONS[current]
