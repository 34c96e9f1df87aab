"""Moving a case between states: the rule of which moves are allowed and what each sets
(:func:`move`), the event row that records it, and the analyst's withdrawal written once in plain
SQL (:mod:`takedown.sql_writes`), so the terminal can withdraw a case without importing SQLAlchemy;
also, in plain SQL for ``takedown inbox take``, a bounced notice's cases brought forward in the
chase (:func:`bring_next_round_forward`).

:func:`move` works on anything shaped like a case (:class:`Movable`): a mapped :class:`Case`, the
plain rows revisits work on, or the row :func:`withdraw` reads. Every change of state is checked
here and only here, and is written with the event that explains it, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from takedown.case_views import CaseSummary
from takedown.errors import CaseNotFound, InvalidTransition
from takedown.sql_reads import among, mark, stored_time_or_none
from takedown.sql_writes import SqlWrites, insert_rows, time_to_store, update_row, writing
from takedown.states import CLOSED_STATES, CaseState, can_move

if TYPE_CHECKING:
    from takedown.sql_writes import WriteTarget

MAX_REASON_LENGTH = 1000


class Movable(Protocol):
    """What :func:`move` reads and sets: a :class:`Case`, or a plain row of one."""

    id: int
    state: str
    updated_at: datetime
    closed_at: datetime | None
    next_check_at: datetime | None
    next_notice_at: datetime | None
    removed_at: datetime | None
    first_seen_live_at: datetime | None
    removal_seconds: float | None


def move(
    case: Movable,
    target: CaseState,
    *,
    actor: str,
    now: datetime,
    action: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Change ``case``'s state and return the event row that records it, for the caller to insert.

    :func:`takedown.cases.transition` is this plus the insert; bulk writers (revisits) insert many
    rows at once. Either way, the rule of which moves are allowed is checked here and only here.
    """
    current = CaseState(case.state)
    if not can_move(current, target):
        raise InvalidTransition(f"case {case.id} is {current.value}; it cannot become {target.value}")
    case.state = target.value
    case.updated_at = now
    if target in CLOSED_STATES:
        case.closed_at = now
        case.next_check_at = None
        case.next_notice_at = None
    if target is CaseState.REMOVED and case.removed_at and case.first_seen_live_at:
        took = (case.removed_at - case.first_seen_live_at).total_seconds()
        case.removal_seconds = max(0.0, took)
    return event_row(
        case.id, now, actor, action or target.value, detail, from_state=current.value, to_state=target.value
    )


def event_row(
    case_id: int,
    at: datetime,
    actor: str,
    action: str,
    detail: dict[str, Any] | None = None,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
) -> dict[str, Any]:
    """One row for the ``event`` table, for writers that insert many at once."""
    return {
        "case_id": case_id,
        "at": at,
        "actor": actor,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "detail": detail,
    }


def insert_events(writes: SqlWrites, events: Sequence[dict[str, Any]]) -> None:
    """Insert rows of :func:`event_row` into the trail, written once in plain SQL for every writer
    that does not go through the ORM (intake, withdrawal, settling notices)."""
    insert_rows(writes, "event", events, times=("at",), json_columns=("detail",))


@dataclass
class CaseRow:
    """A case as :func:`move` needs it, with what a case list shows of it, read in plain SQL."""

    id: int
    state: str
    url: str
    host: str
    category: str
    reference: str | None
    queued_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    next_check_at: datetime | None
    next_notice_at: datetime | None
    removed_at: datetime | None
    first_seen_live_at: datetime | None
    removal_seconds: float | None

    def summary(self) -> CaseSummary:
        return CaseSummary(
            self.id, CaseState(self.state), self.url, self.host, self.category, self.reference, self.queued_at
        )


ROW_FIELDS = tuple(CaseRow.__dataclass_fields__)
MOVED_FIELDS = ("state", "updated_at", "closed_at", "next_check_at", "next_notice_at", "removal_seconds")
"""What :func:`move` may change, written back by :func:`_write_move`."""
TIME_FIELDS = frozenset(name for name in ROW_FIELDS if name.endswith("_at"))


def _read_for_move(writes: SqlWrites, case_id: int) -> CaseRow:
    """The case, locked against another writer moving it meanwhile (PostgreSQL's ``FOR UPDATE``;
    SQLite's writers hold the whole store's write lock from the start of their transaction)."""
    lock = " FOR UPDATE" if writes.dialect == "postgresql" else ""
    columns = ", ".join(ROW_FIELDS)
    found = list(writes.stream(f'SELECT {columns} FROM "case" WHERE id = {mark(writes)}{lock}', (case_id,)))
    if not found:
        raise CaseNotFound(case_id)
    values = dict(zip(ROW_FIELDS, found[0], strict=True))
    for name in TIME_FIELDS:
        values[name] = stored_time_or_none(values[name])
    return CaseRow(**values)


def _write_move(writes: SqlWrites, row: CaseRow, event: dict[str, Any]) -> None:
    """Write back what :func:`move` set on ``row``, and the event that records it."""
    moved = {name: getattr(row, name) for name in MOVED_FIELDS}
    update_row(writes, "case", row.id, moved, times=[name for name in MOVED_FIELDS if name.endswith("_at")])
    insert_events(writes, [event])


def withdraw(target: WriteTarget, case_id: int, *, reason: str, actor: str, now: datetime) -> CaseSummary:
    """Close a case without removal, at an analyst's word; the reason goes in the audit trail.
    ``target``: the caller's session of the store, or the terminal's direct writer."""
    reason = reason.strip()
    if not reason:
        raise InvalidTransition("a withdrawal needs a reason (--reason), for the audit trail")
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidTransition(
            f"the reason is {len(reason)} characters long; the limit is {MAX_REASON_LENGTH}"
        )
    with writing(target) as writes:
        row = _read_for_move(writes, case_id)
        if CaseState(row.state) in CLOSED_STATES:
            raise InvalidTransition(f"case {case_id} is already closed ({row.state}); nothing to withdraw")
        event = move(
            row, CaseState.WITHDRAWN, actor=actor, now=now, action="withdrawn", detail={"reason": reason}
        )
        _write_move(writes, row, event)
    return row.summary()


def bring_next_round_forward(
    target: WriteTarget, case_ids: Sequence[int], *, actor: str, now: datetime, reason: str
) -> list[int]:
    """The notice a case was sent did not arrive (its mailbox bounced it for good): its next round is
    due now instead of when planned, so whoever is next on the ladder hears of it. Only live cases
    the chase is still on change; the ones changed, in order."""
    if not case_ids:
        return []
    with writing(target) as writes:
        stored_now = time_to_store(writes.dialect)(now)
        bound = mark(writes)
        chosen, parameters = among(writes, "id", sorted(set(case_ids)))
        moved = sorted(
            int(case_id)
            for (case_id,) in writes.stream(
                f'UPDATE "case" SET next_notice_at = {bound}, updated_at = {bound}'
                f" WHERE {chosen} AND state = {bound} AND needs_analyst = {bound}"
                f" AND (next_notice_at IS NULL OR next_notice_at > {bound}) RETURNING id",
                [stored_now, stored_now, *parameters, CaseState.LIVE.value, False, stored_now],
            )
        )
        detail = {"reason": reason[:300]}
        insert_events(
            writes, [event_row(case_id, now, actor, "notice_brought_forward", detail) for case_id in moved]
        )
    return moved
