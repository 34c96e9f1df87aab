"""Settling notices in doubt (``uncertain``: the mail server took the message but the session broke
before it said so), once an analyst has read the mail server's log: they arrived, or they are sent
again with the same Message-ID.

Written once in plain SQL (:mod:`takedown.sql_writes`): ``notices settle`` at the terminal writes
through the database driver alone, the console through its session. The rest of the outbox is
:mod:`notices.outbox`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from takedown.case_moves import event_row, insert_events
from takedown.sql_reads import mark
from takedown.sql_writes import marks, time_to_store, writing
from takedown.vocabulary import NoticeStatus

if TYPE_CHECKING:
    from takedown.sql_writes import WriteTarget


def settle_uncertain(
    target: WriteTarget, notice_ids: Sequence[int], *, delivered: bool, actor: str, now: datetime
) -> list[int]:
    """An analyst's word on notices in doubt, after looking at the mail server's log: ``delivered``
    (they arrived: ``sent``), or not (send them again, with the same Message-ID, so a recipient
    who did get the first copy sees the second as the same message). Only notices still
    ``uncertain`` change; the ones changed, each with an event on its cases. ``target``: a session
    of the store, or the terminal's direct writer."""
    wanted = sorted(set(notice_ids))
    if not wanted:
        return []
    with writing(target) as writes:
        bound = mark(writes)
        assignments = f"status = {bound}"
        values: list[Any] = [(NoticeStatus.SENT if delivered else NoticeStatus.RETRY).value]
        if not delivered:
            assignments += f", next_attempt_at = {bound}"
            values.append(time_to_store(writes.dialect)(now))
        changed = sorted(
            notice_id
            for (notice_id,) in writes.stream(
                f"UPDATE notice SET {assignments} WHERE id IN ({marks(writes, len(wanted))})"
                f" AND status = {bound} RETURNING id",
                (*values, *wanted, NoticeStatus.UNCERTAIN.value),
            )
        )
        if not changed:
            return []
        action = "notice_confirmed_delivered" if delivered else "notice_resend_requested"
        about = writes.stream(
            "SELECT notice_id, case_id FROM notice_case"
            f" WHERE notice_id IN ({marks(writes, len(changed))}) ORDER BY notice_id, case_id",
            changed,
        )
        events = [
            event_row(case_id, now, actor, action, {"notice": notice_id}) for notice_id, case_id in about
        ]
        insert_events(writes, events)
    return changed
