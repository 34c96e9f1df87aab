"""What a hosting provider sees and does through its link: its own open cases, and its answers.

Scope is the recipient: the cases of every notice sent to that address that are still open, and
nothing else. Each answer is an event on the case, attributed to ``provider:ADDRESS``. "Removed"
makes the case due for a revisit now, ahead of the schedule (the next crawl takes it); the case
closes only when revisits confirm the content is gone, as for every case. "Not ours" and "need more
information" carry the provider's reason, and wait in the console's inbox (:mod:`takedown.inbox`);
a ticket number is kept with the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from takedown.case_moves import event_row
from takedown.cases import recheck_now
from takedown.errors import TakedownError
from takedown.inbox import Received, record
from takedown.models import Case, Event, Notice, NoticeCase
from takedown.states import OPEN_STATES

ANSWERS = {
    "removed": "provider_removed",
    "not_ours": "provider_not_ours",
    "need_information": "provider_needs_information",
}
"""What a provider may answer about a case, and the event each becomes."""
MAX_REASON = 1000
MAX_TICKET = 100


class ProviderAnswerRefused(TakedownError):
    """The answer cannot be taken as given; the message says what to change."""


@dataclass(frozen=True, slots=True)
class ProviderCase:
    id: int
    url: str
    state: str
    first_seen_live_at: datetime | None
    last_seen_live_at: datetime | None
    notices: int
    """Notices sent to this recipient about it."""


def provider_cases(session: Session, recipient: str) -> list[ProviderCase]:
    """The recipient's open cases, oldest first."""
    sent = (
        select(NoticeCase.case_id, func.count(Notice.id).label("notices"))
        .join(Notice, Notice.id == NoticeCase.notice_id)
        .where(func.lower(Notice.recipient) == recipient.strip().lower(), Notice.status == "sent")
        .group_by(NoticeCase.case_id)
        .subquery()
    )
    rows = session.execute(
        select(Case.id, Case.url, Case.state, Case.first_seen_live_at, Case.last_seen_live_at, sent.c.notices)
        .join(sent, sent.c.case_id == Case.id)
        .where(Case.state.in_([state.value for state in OPEN_STATES]))
        .order_by(Case.id)
    )
    return [ProviderCase(*row) for row in rows]


def answer_cases(
    session: Session,
    recipient: str,
    case_ids: Sequence[int],
    answer: str,
    *,
    now: datetime,
    reason: str = "",
    ticket: str = "",
) -> list[int]:
    """The provider's ``answer`` on those of ``case_ids`` that are its own open cases (others are
    left out, silently: a provider learns nothing of cases that are not theirs); their ids."""
    if answer not in ANSWERS:
        raise ProviderAnswerRefused(f"an answer is one of {', '.join(ANSWERS)}")
    reason, ticket = reason.strip(), ticket.strip()
    if answer != "removed" and not reason:
        raise ProviderAnswerRefused("say why, so that an analyst can act on it")
    if len(reason) > MAX_REASON or len(ticket) > MAX_TICKET:
        raise ProviderAnswerRefused(f"the reason: at most {MAX_REASON} characters; the ticket: {MAX_TICKET}")
    own = {case.id for case in provider_cases(session, recipient)}
    chosen = sorted(own & {int(case_id) for case_id in case_ids})
    if not chosen:
        return []
    detail: dict[str, object] = {
        key: value for key, value in (("reason", reason), ("ticket", ticket)) if value
    }
    actor = f"provider:{recipient.strip().lower()}"
    if answer != "removed":  # an analyst must act on it: it waits in the console's inbox
        detail["inbox"] = record(
            session,
            Received("page", answer, recipient, tuple(chosen), text=reason, ticket=ticket or None),
            now=now,
        )
    session.execute(
        insert(Event), [event_row(case_id, now, actor, ANSWERS[answer], detail) for case_id in chosen]
    )
    if answer == "removed":  # due now: the next crawl revisits it; it closes only when that confirms
        recheck_now(session, chosen, actor=actor, now=now)
    return chosen
