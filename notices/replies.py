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
from typing import TYPE_CHECKING

from notices.bounces import bounced, notice_cases
from notices.inbound_mail import DeliveryStatus, InboundMail, read_mail
from takedown.case_moves import bring_next_round_forward, event_row, insert_events
from takedown.inbox import Received, mail_recorded, record
from takedown.sql_reads import SqlReads, among, mark
from takedown.sql_writes import SqlWrites, writing

if TYPE_CHECKING:
    from takedown.sql_writes import WriteTarget

log = logging.getLogger(__name__)

ACTOR = "inbox"


@dataclass(frozen=True, slots=True)
class Threaded:
    """The notice a mail answers, as far as taking the mail in needs it."""

    id: int
    recipient: str


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


def take_in(target: WriteTarget, raw: bytes, *, now: datetime) -> Taken:
    """Read, thread, act on and record one mail, in one transaction; see the module's docstring.

    ``target``: the store (a transaction of its own, as the SMTP endpoint takes each mail) or the
    terminal's direct writer (``takedown inbox take``, which imports no SQLAlchemy). Written once in
    plain SQL (:mod:`takedown.sql_writes`), so both take a mail in alike.

    The mail is recorded before anything is acted on: its row is what makes it once, so a mail
    handed over twice at once, to two readers, is acted on by the one whose row went in, and the
    other changes nothing. What the row keeps (kind, cases, problems, whether it waits) is decided
    by reading alone."""
    mail = read_mail(raw)
    with writing(target) as writes:
        if mail_recorded(writes, mail.mail_id):
            return Taken(mail.mail_id, mail.kind, None)
        notice, taken, status = _decide(writes, mail)
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
        taken.inbox_id = record(writes, received, now=now)
        if taken.inbox_id is None:  # another reader took the same mail in meanwhile
            return Taken(mail.mail_id, mail.kind, None)
        if notice is not None and status is not None:
            _bounce(writes, notice, status, taken, now)
        _case_events(writes, taken, now)
    log.info(
        "mail %s: %s, notice %s, %s",
        taken.inbox_id,
        taken.kind,
        taken.notice_id,
        "; ".join(taken.done) or "recorded",
    )
    return taken


def _decide(reads: SqlReads, mail: InboundMail) -> tuple[Threaded | None, Taken, DeliveryStatus | None]:
    """What ``mail`` is and whom it concerns, by reading alone: its notice, what the inbox keeps of
    it, and the delivery status to act on, if any."""
    notice = _thread(reads, mail)
    taken = Taken(mail.mail_id, mail.kind, None, problems=list(mail.problems))
    status = None
    if notice is not None:
        taken.notice_id = notice.id
        taken.case_ids = tuple(notice_cases(reads, notice.id))
    else:
        taken.problems.insert(0, "not matched to any notice")
    if mail.report is not None:
        status = _status_to_act_on(mail, notice, taken)
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
    return notice, taken, status


def _thread(reads: SqlReads, mail: InboundMail) -> Threaded | None:
    """The notice ``mail`` answers: by Message-ID first, by the reference in its subject after."""
    bound = mark(reads)
    wanted = ([mail.returned_message_id] if mail.returned_message_id else []) + mail.references
    if wanted:
        named, parameters = among(reads, "message_id", wanted)
        found = {
            message_id: Threaded(int(notice_id), recipient)
            for notice_id, message_id, recipient in reads.stream(
                f"SELECT id, message_id, recipient FROM notice WHERE {named}", parameters
            )
        }
        for message_id in wanted:  # the closest first: the returned message, In-Reply-To, References
            if message_id in found:
                return found[message_id]
    if mail.our_reference:
        # The reference is letters, digits and dashes (InboundMail reads no other), so it holds
        # nothing LIKE would read as a pattern.
        for notice_id, recipient in reads.stream(
            f"SELECT id, recipient FROM notice WHERE subject LIKE {bound} ORDER BY id DESC LIMIT 1",
            (f"[{mail.our_reference}]%",),
        ):
            return Threaded(int(notice_id), recipient)
    return None


def _status_to_act_on(mail: InboundMail, notice: Threaded | None, taken: Taken) -> DeliveryStatus | None:
    """The status in a delivery status notification to act on: only one about the notice's own
    recipient (anyone can send a report; one naming another address changes nothing), a permanent
    failure before a transient one. A report nobody can act on waits for an analyst, with why."""
    statuses = mail.report or []
    if notice is None:
        taken.waiting = True
        return None
    about = [status for status in statuses if status.recipient == notice.recipient.strip().lower()]
    if not about:
        named = ", ".join(sorted({s.recipient for s in statuses})) or "no recipient"
        taken.problems.append(f"the report names {named[:200]}, not {notice.recipient}: nothing changed")
        taken.waiting = True
        return None
    status = next((s for s in about if s.permanent), None) or next((s for s in about if s.transient), None)
    if status is None:
        taken.done.append(f"delivery {about[0].action} ({about[0].status}): recorded only")
    return status


def _bounce(writes: SqlWrites, notice: Threaded, status: DeliveryStatus, taken: Taken, now: datetime) -> None:
    """Act on a delivery status about the notice's own recipient."""
    detail = f"{status.status} {status.diagnostic}".strip()
    if not bounced(writes, notice.id, permanent=status.permanent, detail=detail, actor=ACTOR, now=now):
        taken.done.append(f"notice {notice.id} was already settled: nothing changed")
        return
    if status.permanent:
        taken.done.append(f"notice {notice.id} failed; mailbox {notice.recipient} marked bad")
        forward = bring_next_round_forward(
            writes, taken.case_ids, actor=ACTOR, now=now, reason=f"{notice.recipient} bounced"
        )
        if forward:
            taken.done.append(f"next notice round due now for {len(forward)} case(s)")
    else:
        taken.done.append(f"notice {notice.id} will be sent again")


def _case_events(writes: SqlWrites, taken: Taken, now: datetime) -> None:
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
    insert_events(writes, [event_row(case_id, now, ACTOR, action, detail) for case_id in taken.case_ids])
