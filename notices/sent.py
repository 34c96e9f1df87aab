"""A notice exactly as it was composed and sent, taken apart for a person to read: its headers,
its text, its HTML (as source, never rendered) and each X-ARF report.

The outbox keeps the whole message (``notice.message``): what is shown here is what the recipient
got, not a rendering of it again from today's templates.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy import select

from notices.outbox import NoticeListing, list_notices
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
    headers = tuple((name, str(message[name])) for name in HEADERS if message[name] is not None)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    reports = tuple(
        Attachment(part.get_filename() or "", part.get_content_type(), _text_of(part))
        for part in message.iter_attachments()
    )
    return MessageParts(
        headers,
        _text_of(text) if text is not None else None,
        _text_of(html) if html is not None else None,
        reports,
    )


def read_notice(store: Store, notice_id: int) -> SentNotice:
    with store.session() as session:
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


def _text_of(part: object) -> str:
    content = part.get_content()  # type: ignore[attr-defined]
    return content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
