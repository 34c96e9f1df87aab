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
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from takedown.case_moves import event_row
from takedown.models import Event, InboxMessage

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


def record(session: Session, received: Received, *, now: datetime) -> int | None:
    """Keep ``received``; its id, or ``None`` when that mail was recorded before."""
    if received.kind not in KINDS:
        raise ValueError(f"an inbox message is one of {', '.join(sorted(KINDS))}, not {received.kind!r}")
    waits = received.for_an_analyst
    handled = not (received.kind in FOR_AN_ANALYST if waits is None else waits)
    mail_id = _cut(received.mail_id, 255)
    values: dict[str, Any] = {
        "received_at": now,
        "channel": received.channel,
        "kind": received.kind,
        "sender": received.sender.strip().lower()[:320],
        "notice_id": received.notice_id,
        "case_ids": sorted(set(received.case_ids)),
        "subject": _cut(received.subject, 300),
        "text": _cut(received.text, MAX_TEXT),
        "ticket": _cut(received.ticket, 100),
        "attachments": list(received.attachments),
        "mail_id": mail_id,
        "problem": _cut(received.problem, 300),
        "handled_at": now if handled else None,
        "handled_by": HANDLED_BY_PIPELINE if handled else None,
    }
    try:
        with session.begin_nested():  # a mail taken in before (or by another reader meanwhile)
            return int(
                session.execute(insert(InboxMessage).values(values).returning(InboxMessage.id)).scalar_one()
            )
    except IntegrityError:
        if received.mail_id is not None and mail_recorded(session, mail_id):
            return None
        raise


def mark_handled(
    session: Session, ids: Sequence[int], *, actor: str, now: datetime, note: str = ""
) -> list[int]:
    """Mark the waiting messages ``ids`` handled by ``actor``; each of their cases gets an event.
    Those handled meanwhile by someone else are left out of the ids returned."""
    chosen = sorted({int(i) for i in ids})
    if not chosen:
        return []
    rows = session.execute(
        select(InboxMessage.id, InboxMessage.case_ids).where(
            InboxMessage.id.in_(chosen), InboxMessage.handled_at.is_(None)
        )
    ).all()
    done: list[int] = []
    events: list[dict[str, Any]] = []
    for message_id, case_ids in rows:
        taken = session.execute(
            update(InboxMessage)
            .where(InboxMessage.id == message_id, InboxMessage.handled_at.is_(None))
            .values(handled_at=now, handled_by=actor[:200])
        )
        if not getattr(taken, "rowcount", 0):
            continue
        done.append(message_id)
        detail = {"inbox": message_id, **({"note": note.strip()[:500]} if note.strip() else {})}
        events += [event_row(case_id, now, actor, "inbox_handled", detail) for case_id in case_ids or ()]
    if events:
        session.execute(insert(Event), events)
    return done


def mail_recorded(session: Session, mail_id: str | None) -> bool:
    """Whether the mail ``mail_id`` (its Message-ID) was taken in before."""
    return session.scalar(select(InboxMessage.id).where(InboxMessage.mail_id == mail_id)) is not None


def _cut(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"
