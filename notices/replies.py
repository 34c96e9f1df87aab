"""Taking in a mail to the notices' reply address: threaded to its notice, acted on, recorded.

A mail is matched to the notice it answers by the Message-IDs it names (In-Reply-To, References;
for a delivery status notification, the returned message's own Message-ID), else by the notice's
reference in its subject (``[TD-20261130-ABC123]``). Then:

* a delivery status notification about the notice's own recipient: a permanent failure (5.x.x)
  fails the notice, marks the mailbox bad and brings the cases' next round forward, so whoever is
  next on the ladder hears of them; a transient one (4.x.x) sends the notice again later; a delay
  is only recorded;
* an automatic reply: its ticket number, if it has one, is recorded on the cases;
* a person's reply: it waits in the console's inbox, on its cases, and is never answered.

Everything is recorded in the providers' inbox (:mod:`takedown.inbox`) in the same transaction as
what it caused, once per mail however often the mail server hands it over. What cannot be matched
or read waits for an analyst with what was wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from notices.inbound_mail import InboundMail, read_mail
from notices.outbox import bounced
from takedown.case_moves import event_row
from takedown.cases import notice_now
from takedown.inbox import Received, mail_recorded, record
from takedown.models import Event, Notice, NoticeCase
from takedown.store import Store

log = logging.getLogger(__name__)

ACTOR = "inbox"


@dataclass
class Taken:
    """What became of one mail."""

    mail_id: str
    kind: str
    inbox_id: int | None
    """``None`` when the mail had been taken in before (a redelivery): nothing was done again."""
    notice_id: int | None = None
    case_ids: tuple[int, ...] = ()
    ticket: str | None = None
    done: list[str] = field(default_factory=list)
    """What it caused, for the log and the command's output."""
    problems: list[str] = field(default_factory=list)
    waiting: bool = False
    """It waits in the inbox for an analyst."""


def take_in(store: Store, raw: bytes, *, now: datetime) -> Taken:
    """Read, thread, act on and record one mail, in one transaction; see the module's docstring."""
    mail = read_mail(raw)
    with store.session() as session:
        if mail_recorded(session, mail.mail_id):
            return Taken(mail.mail_id, mail.kind, None)
        taken = _act(session, mail, now)
        received = Received(
            channel="mail",
            kind=taken.kind,
            sender=mail.sender or "(no sender)",
            case_ids=taken.case_ids,
            notice_id=taken.notice_id,
            subject=mail.subject,
            text=mail.text,
            ticket=taken.ticket,
            attachments=tuple(mail.attachments),
            mail_id=mail.mail_id,
            problem="; ".join(taken.problems) or None,
            for_an_analyst=taken.waiting,
        )
        taken.inbox_id = record(session, received, now=now)
        if taken.inbox_id is None:  # another reader took the same mail in meanwhile
            session.rollback()
            return Taken(mail.mail_id, mail.kind, None)
        _case_events(session, taken, now)
    log.info(
        "mail %s: %s, notice %s, %s",
        taken.inbox_id,
        taken.kind,
        taken.notice_id,
        "; ".join(taken.done) or "recorded",
    )
    return taken


def _act(session: Session, mail: InboundMail, now: datetime) -> Taken:
    notice = _thread(session, mail)
    taken = Taken(mail.mail_id, mail.kind, None, problems=list(mail.problems))
    if notice is not None:
        taken.notice_id = notice.id
        taken.case_ids = tuple(
            session.scalars(
                select(NoticeCase.case_id)
                .where(NoticeCase.notice_id == notice.id)
                .order_by(NoticeCase.case_id)
            )
        )
    else:
        taken.problems.insert(0, "not matched to any notice")
    if mail.report is not None:
        _bounce(session, mail, notice, taken, now)
    elif mail.automatic:
        taken.ticket = mail.ticket
        taken.waiting = notice is None
        if mail.ticket and notice is not None:
            taken.done.append(f"their ticket {mail.ticket} recorded")
    else:
        taken.ticket = mail.ticket
        taken.waiting = True
        if mail.looks_like_a_bounce:
            taken.problems.append("from a mailer daemon, but with no delivery status that could be read")
    if mail.report is None and not mail.text and mail.problems:
        taken.kind = "unreadable"
        taken.waiting = True
    return taken


def _thread(session: Session, mail: InboundMail) -> Notice | None:
    """The notice ``mail`` answers: by Message-ID first, by the reference in its subject after."""
    wanted = ([mail.returned_message_id] if mail.returned_message_id else []) + mail.references
    if wanted:
        found = {
            notice.message_id: notice
            for notice in session.scalars(select(Notice).where(Notice.message_id.in_(wanted)))
        }
        for message_id in wanted:  # the closest first: the returned message, In-Reply-To, References
            if message_id in found:
                return found[message_id]
    if mail.our_reference:
        return session.scalars(
            select(Notice).where(Notice.subject.like(f"[{mail.our_reference}]%")).order_by(Notice.id.desc())
        ).first()
    return None


def _bounce(session: Session, mail: InboundMail, notice: Notice | None, taken: Taken, now: datetime) -> None:
    """Act on a delivery status notification: only on statuses about the notice's own recipient
    (anyone can send a report; one naming another address changes nothing)."""
    statuses = mail.report or []
    if notice is None:
        taken.waiting = True
        return
    about = [status for status in statuses if status.recipient == notice.recipient.strip().lower()]
    if not about:
        named = ", ".join(sorted({s.recipient for s in statuses})) or "no recipient"
        taken.problems.append(f"the report names {named[:200]}, not {notice.recipient}: nothing changed")
        taken.waiting = True
        return
    status = next((s for s in about if s.permanent), None) or next((s for s in about if s.transient), None)
    if status is None:
        taken.done.append(f"delivery {about[0].action} ({about[0].status}): recorded only")
        return
    detail = f"{status.status} {status.diagnostic}".strip()
    if not bounced(session, notice.id, permanent=status.permanent, detail=detail, actor=ACTOR, now=now):
        taken.done.append(f"notice {notice.id} was already settled: nothing changed")
        return
    if status.permanent:
        taken.done.append(f"notice {notice.id} failed; mailbox {notice.recipient} marked bad")
        forward = notice_now(
            session, taken.case_ids, actor=ACTOR, now=now, reason=f"{notice.recipient} bounced"
        )
        if forward:
            taken.done.append(f"next notice round due now for {len(forward)} case(s)")
    else:
        taken.done.append(f"notice {notice.id} will be sent again")


def _case_events(session: Session, taken: Taken, now: datetime) -> None:
    """What a provider's mail says, on each of its cases' timelines (bounces wrote their own)."""
    if not taken.case_ids or taken.inbox_id is None:
        return
    detail: dict[str, object] = {"inbox": taken.inbox_id}
    if taken.ticket:
        detail["ticket"] = taken.ticket
    if taken.kind == "reply":
        action = "provider_replied"
    elif taken.kind == "auto_reply" and taken.ticket:
        action = "provider_ticket"
    else:
        return
    session.execute(insert(Event), [event_row(cid, now, ACTOR, action, detail) for cid in taken.case_ids])
