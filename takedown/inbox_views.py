"""What providers said, as ``inbox list`` and the console read it: the messages waiting for an
analyst, or those handled.

Written once in plain SQL (:mod:`takedown.sql_reads`), so ``inbox list`` at the terminal reads it
through the database driver alone, without importing SQLAlchemy, and the console reads the same
text through its session.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from takedown.sql_reads import mark, reading, stored_json, stored_time, stored_time_or_none

if TYPE_CHECKING:
    from takedown.sql_reads import ReadSource


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: int
    received_at: datetime
    channel: str
    kind: str
    sender: str
    case_ids: tuple[int, ...]
    notice_id: int | None
    subject: str | None
    text: str | None
    ticket: str | None
    attachments: tuple[dict[str, Any], ...]
    problem: str | None
    handled_at: datetime | None
    handled_by: str | None
    waiting: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "waiting", self.handled_at is None)


_COLUMNS = ", ".join(item.name for item in fields(InboxItem) if item.init)
"""The stored message's columns, named and ordered as :class:`InboxItem`'s fields."""


def inbox(source: ReadSource, *, limit: int, after_id: int = 0, handled: bool = False) -> list[InboxItem]:
    """What waits for an analyst, oldest first; ``handled``: what was dealt with, newest first.
    ``after_id``: the page after the one that ended with that message."""
    with reading(source) as reads:
        bound = mark(reads)
        if handled:
            where, values = "handled_at IS NOT NULL", []
            if after_id:
                where, values = f"{where} AND id < {bound}", [after_id]
            order = "id DESC"
        else:
            where, values, order = f"handled_at IS NULL AND id > {bound}", [after_id], "id"
        sql = f"SELECT {_COLUMNS} FROM inbox_message WHERE {where} ORDER BY {order} LIMIT {bound}"
        return [_item(row) for row in reads.stream(sql, (*values, limit))]


def inbox_message(source: ReadSource, message_id: int) -> InboxItem | None:
    """One message, waiting or handled; ``None`` if there is none."""
    with reading(source) as reads:
        found = list(
            reads.stream(f"SELECT {_COLUMNS} FROM inbox_message WHERE id = {mark(reads)}", (message_id,))
        )
    return _item(found[0]) if found else None


def _item(row: Any) -> InboxItem:
    (message_id, received_at, channel, kind, sender, case_ids, notice_id, subject, text, ticket, attachments,
     problem, handled_at, handled_by) = row  # fmt: skip
    return InboxItem(
        id=message_id,
        received_at=stored_time(received_at),
        channel=channel,
        kind=kind,
        sender=sender,
        case_ids=tuple(stored_json(case_ids) or ()),
        notice_id=notice_id,
        subject=subject,
        text=text,
        ticket=ticket,
        attachments=tuple(stored_json(attachments) or ()),
        problem=problem,
        handled_at=stored_time_or_none(handled_at),
        handled_by=handled_by,
    )
