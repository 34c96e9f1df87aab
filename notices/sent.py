"""A notice exactly as it was composed and sent, taken apart for a person to read: its headers,
its text, its HTML (as source, never rendered) and each X-ARF report.

The outbox keeps the whole message (``notice.message``): what is shown here is what the recipient
got, not a rendering of it again from today's templates.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from notices.listing import NoticeListing, list_notices
from notices.message import signed_content
from takedown.models import Notice, NoticeCase
from takedown.store import Store

HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "Content-Language")


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    text: str


@dataclass(frozen=True, slots=True)
class MessageParts:
    """An e-mail taken apart for reading; every part is text, nothing in it is rendered."""

    headers: tuple[tuple[str, str], ...]
    signed: bool
    """Sent as S/MIME ``multipart/signed`` (:mod:`notices.signing`)."""
    text: str | None
    html_source: str | None
    """The HTML part as text: a face shows it escaped, never as markup."""
    reports: tuple[Attachment, ...]


@dataclass(frozen=True, slots=True)
class SentNotice:
    listing: NoticeListing
    case_ids: tuple[int, ...]
    message: MessageParts | None
    """``None`` for a notice whose message was never kept (written before the outbox kept them)."""


class NoticeNotFound(LookupError):
    def __init__(self, notice_id: int) -> None:
        super().__init__(f"no notice with id {notice_id}; `takedown notices list` shows them")


def take_apart(raw: str) -> MessageParts:
    """``raw`` (a whole message, as the outbox keeps it) as headers, text, HTML source and
    attachments."""
    message = email.message_from_string(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    content = signed_content(message)  # a signed notice: its headers outside, what it says inside
    headers = tuple(
        (name, str(found))
        for name in HEADERS
        if (found := message[name] if message[name] is not None else content[name]) is not None
    )
    text = content.get_body(preferencelist=("plain",))
    html = content.get_body(preferencelist=("html",))
    reports = tuple(
        Attachment(part.get_filename() or "", part.get_content_type(), _text_of(part))
        for part in content.iter_attachments()
    )
    return MessageParts(
        headers,
        content is not message,
        _text_of(text) if text is not None else None,
        _text_of(html) if html is not None else None,
        reports,
    )


def read_notice(store: Store, notice_id: int) -> SentNotice:
    with store.reading() as session:
        notice = session.get(Notice, notice_id)
        if notice is None:
            raise NoticeNotFound(notice_id)
        raw = notice.message
        case_ids = tuple(
            session.scalars(
                select(NoticeCase.case_id)
                .where(NoticeCase.notice_id == notice_id)
                .order_by(NoticeCase.case_id)
            )
        )
    listing = next(row for row in list_notices(store, limit=1, notice_id=notice_id))
    return SentNotice(listing, case_ids, take_apart(raw) if raw is not None else None)


def reports_as_sent(session: Session, recipient: str, case_ids: Iterable[int]) -> dict[int, str]:
    """The X-ARF report of each of ``case_ids`` exactly as ``recipient`` last received it (the
    attachment of the latest notice sent to that address about the case), by case; a case they were
    never sent a kept message about is left out."""
    wanted = sorted(set(case_ids))
    if not wanted:
        return {}
    latest: dict[int, int] = {}
    for case_id, notice_id in session.execute(
        select(NoticeCase.case_id, Notice.id)
        .join(Notice, Notice.id == NoticeCase.notice_id)
        .where(
            NoticeCase.case_id.in_(wanted),
            func.lower(Notice.recipient) == recipient.strip().lower(),
            Notice.status == "sent",
            Notice.message.is_not(None),
        )
        .order_by(Notice.sent_at.desc(), Notice.id.desc())
    ):
        latest.setdefault(case_id, notice_id)
    found: dict[int, str] = {}
    for notice_id in sorted(set(latest.values())):  # each message read and taken apart once
        raw = session.scalar(select(Notice.message).where(Notice.id == notice_id))
        attached = {a.filename: a.text for a in take_apart(raw or "").reports}
        for case_id in (c for c, n in latest.items() if n == notice_id):
            report = attached.get(f"xarf-case-{case_id}.json")
            if report is not None:
                found[case_id] = report
    return found


def _text_of(part: object) -> str:
    content = part.get_content()  # type: ignore[attr-defined]
    return content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
