"""What a delivery status notification does to the notice it reports on: the notice fails and its
mailbox is barred, or it is sent again later. (Its cases' next round coming forward is the cases'
own write, :func:`takedown.case_moves.bring_next_round_forward`.)

Written once in plain SQL (:mod:`takedown.sql_writes`), apart from the outbox, so that ``takedown
inbox take`` (a mail server may run it once for every mail it delivers) imports neither SQLAlchemy
nor the outbox; the SMTP endpoint sends the same text through a session of the store.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from hosting.contact_writes import mark_mailbox_bad
from takedown.case_moves import event_row, insert_events
from takedown.sql_reads import mark, reading
from takedown.sql_writes import time_to_store, writing
from takedown.vocabulary import NoticeStatus

if TYPE_CHECKING:
    from takedown.sql_reads import ReadSource
    from takedown.sql_writes import WriteTarget

BOUNCE_RETRY_DELAY = timedelta(hours=1)
"""When a notice a remote server gave up on for a passing reason (a 4.x.x delivery status) is sent
again: long enough for a full mailbox or a busy server to recover."""


def bounced(
    target: WriteTarget, notice_id: int, *, permanent: bool, detail: str, actor: str, now: datetime
) -> bool:
    """A delivery status notification says notice ``notice_id`` did not arrive. Permanent (5.x.x):
    the notice failed and its mailbox is marked bad, as a refusal at sending would have. Transient
    (4.x.x, the remote server gave up retrying): the notice is sent again later, with the same
    Message-ID. Only a notice that counted as delivered changes, so a second report about the same
    notice does nothing (the update names the statuses it may change, so two reports taken in at
    once change it once); whether it changed."""
    with writing(target) as writes:
        to_time = time_to_store(writes.dialect)
        bound = mark(writes)
        sets: dict[str, object] = {"last_error": f"bounced: {detail}"[:500]}
        if permanent:
            sets["status"] = NoticeStatus.FAILED.value
        else:
            sets.update(status=NoticeStatus.RETRY.value, next_attempt_at=to_time(now + BOUNCE_RETRY_DELAY))
        assignments = ", ".join(f"{name} = {bound}" for name in sets)
        changed = list(
            writes.stream(
                f"UPDATE notice SET {assignments} WHERE id = {bound} AND status IN ({bound}, {bound})"
                " RETURNING recipient, level",
                [*sets.values(), notice_id, NoticeStatus.SENT.value, NoticeStatus.UNCERTAIN.value],
            )
        )
        if not changed:
            return False
        [(recipient, level)] = changed
        if permanent:
            mark_mailbox_bad(writes, recipient, detail[:300], now=now, actor=actor)
        action = "notice_bounced" if permanent else "notice_bounced_will_retry"
        info = {"notice": notice_id, "to": recipient, "level": level, "result": detail[:300]}
        insert_events(
            writes,
            [event_row(case_id, now, actor, action, info) for case_id in notice_cases(writes, notice_id)],
        )
    return True


def notice_cases(source: ReadSource, notice_id: int) -> list[int]:
    """The cases notice ``notice_id`` is about, in order."""
    with reading(source) as reads:
        found = reads.stream(
            f"SELECT case_id FROM notice_case WHERE notice_id = {mark(reads)} ORDER BY case_id", (notice_id,)
        )
        return [int(case_id) for (case_id,) in found]
