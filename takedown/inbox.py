"""The providers' inbox: everything a hosting provider said, and what of it waits for an analyst.

Two channels feed it. The provider page records the answers an analyst must act on ("not ours",
"need more information", with the provider's reason). ``takedown inbox`` records every mail to the
notices' reply address: a person's reply waits for an analyst; an automatic reply (its ticket
number taken) and a delivery status notification are recorded already handled, since the pipeline
acted on them itself. A mail that could not be read at all waits too: somebody sent something.

Nothing here is ever answered automatically. Text is kept as text, capped; a mail's attachments
are described (name, type, size, SHA-256), never kept. A mail is recorded once, by its Message-ID,
however often the mail server hands it over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from takedown.case_moves import event_row, insert_events
from takedown.sql_reads import SqlReads, among, mark, stored_json
from takedown.sql_writes import json_to_store, time_to_store, writing

if TYPE_CHECKING:
    from takedown.sql_writes import WriteTarget

FOR_AN_ANALYST = frozenset({"not_ours", "need_information", "reply", "unreadable"})
"""Kinds that wait until an analyst marks them handled; the others are recorded handled."""
KINDS = FOR_AN_ANALYST | {"auto_reply", "bounce"}
MAX_TEXT = 20_000
"""Characters of a message's text kept: a reply quotes the whole notice below it."""
HANDLED_BY_PIPELINE = "inbox"


@dataclass(frozen=True, slots=True)
class Received:
    """One thing a provider said, as the page or the mail reader understood it."""

    channel: str
    kind: str
    sender: str
    case_ids: tuple[int, ...] = ()
    notice_id: int | None = None
    subject: str | None = None
    text: str | None = None
    ticket: str | None = None
    attachments: tuple[dict[str, Any], ...] = ()
    mail_id: str | None = None
    problem: str | None = None
    for_an_analyst: bool | None = None
    """Whether it waits for an analyst; by default, as its kind says (:data:`FOR_AN_ANALYST`). A
    bounce nobody could match to a notice waits too."""


def record(target: WriteTarget, received: Received, *, now: datetime) -> int | None:
    """Keep ``received``; its id, or ``None`` when that mail was recorded before (by this reader or
    by another one meanwhile: the row that keeps the Message-ID unique answers, so a caller that
    checked first and lost the race still records it once).

    Written once in plain SQL (:mod:`takedown.sql_writes`): ``takedown inbox take`` sends it
    through the database driver alone, the provider page and the SMTP endpoint through a session.
    ``ON CONFLICT ... DO NOTHING`` rather than a savepoint that catches the refusal: either way the
    caller's transaction stays usable, and this way it costs one statement."""
    if received.kind not in KINDS:
        raise ValueError(f"an inbox message is one of {', '.join(sorted(KINDS))}, not {received.kind!r}")
    waits = received.for_an_analyst
    handled = not (received.kind in FOR_AN_ANALYST if waits is None else waits)
    values: dict[str, Any] = {
        "received_at": now,
        "channel": received.channel,
        "kind": received.kind,
        "sender": received.sender.strip().lower()[:320],
        "notice_id": received.notice_id,
        "case_ids": json_to_store(sorted(set(received.case_ids))),
        "subject": _cut(received.subject, 300),
        "text": _cut(received.text, MAX_TEXT),
        "ticket": _cut(received.ticket, 100),
        "attachments": json_to_store(list(received.attachments)),
        "mail_id": _cut(received.mail_id, 255),
        "problem": _cut(received.problem, 300),
        "handled_at": now if handled else None,
        "handled_by": HANDLED_BY_PIPELINE if handled else None,
    }
    with writing(target) as writes:
        to_time = time_to_store(writes.dialect)
        values["received_at"], values["handled_at"] = to_time(now), to_time(values["handled_at"])
        names = ", ".join(values)
        bound = ", ".join([mark(writes)] * len(values))
        found = list(
            writes.stream(
                f"INSERT INTO inbox_message ({names}) VALUES ({bound})"
                " ON CONFLICT (mail_id) DO NOTHING RETURNING id",
                list(values.values()),
            )
        )
    return int(found[0][0]) if found else None


def mark_handled(
    target: WriteTarget, ids: Sequence[int], *, actor: str, now: datetime, note: str = ""
) -> list[int]:
    """Mark the waiting messages ``ids`` handled by ``actor``; each of their cases gets an event.
    Those handled meanwhile by someone else are left out of the ids returned: the update names
    only messages still waiting, and returns the ones it changed."""
    chosen = sorted({int(i) for i in ids})
    if not chosen:
        return []
    with writing(target) as writes:
        to_time = time_to_store(writes.dialect)
        among_ids, parameters = among(writes, "id", chosen)
        bound = mark(writes)
        changed = writes.stream(
            f"UPDATE inbox_message SET handled_at = {bound}, handled_by = {bound}"
            f" WHERE {among_ids} AND handled_at IS NULL RETURNING id, case_ids",
            [to_time(now), actor[:200], *parameters],
        )
        done: list[int] = []
        events: list[dict[str, Any]] = []
        detail_note = {"note": note.strip()[:500]} if note.strip() else {}
        for message_id, case_ids in sorted(changed, key=lambda row: int(row[0])):
            done.append(int(message_id))
            detail = {"inbox": int(message_id), **detail_note}
            for case_id in stored_json(case_ids) or ():
                events.append(event_row(int(case_id), now, actor, "inbox_handled", detail))
        insert_events(writes, events)
    return done


def mail_recorded(reads: SqlReads, mail_id: str | None) -> bool:
    """Whether the mail ``mail_id`` (its Message-ID) was taken in before."""
    if mail_id is None:
        return False
    found = reads.stream(f"SELECT 1 FROM inbox_message WHERE mail_id = {mark(reads)}", (_cut(mail_id, 255),))
    return any(True for _ in found)


def _cut(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"
