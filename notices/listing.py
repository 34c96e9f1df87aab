"""The outbox as ``notices list``, the console and the API list it: who, what, how delivery went.

Written once in plain SQL (:mod:`takedown.sql_reads`), so the terminal reads it through the
database driver alone, without importing SQLAlchemy, the models or the outbox, and the console
reads the same text through its session.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from takedown.sql_reads import mark, reading, stored_time, stored_time_or_none

if TYPE_CHECKING:
    from takedown.sql_reads import ReadSource


@dataclass(frozen=True)
class NoticeListing:
    """One notice as ``notices list`` shows it: who, what, how delivery went, never the message."""

    id: int
    recipient: str
    role: str | None
    level: str
    status: str
    cases: int
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    subject: str
    message_id: str


_COLUMNS = ", ".join(
    "count(notice_case.case_id)" if shown.name == "cases" else f"notice.{shown.name}"
    for shown in fields(NoticeListing)
)
"""The listing's own columns, in :class:`NoticeListing`'s order, never the message (the whole MIME
text, tens of KB a notice); ``cases`` is how many cases the notice covers."""


def list_notices(
    source: ReadSource,
    *,
    status: str | None = None,
    limit: int = 100,
    notice_id: int | None = None,
    recipient: str | None = None,
    before_id: int | None = None,
) -> list[NoticeListing]:
    """The outbox, newest first (``status``: only those with it; ``recipient``: only to that
    address, any case; ``before_id``: the next page, older than that notice), with how many cases
    each covers. ``source``: a store or a reader of its own (:func:`takedown.sql_reads.reading`)."""
    with reading(source) as reads:
        bound = mark(reads)
        terms: list[str] = []
        values: list[Any] = []
        for term, value in (
            (f"notice.status = {bound}", status or None),
            (f"notice.id = {bound}", notice_id),
            (f"notice.id < {bound}", before_id),
            (f"lower(notice.recipient) = {bound}", recipient.strip().lower() if recipient else None),
        ):
            if value is not None:
                terms.append(term)
                values.append(value)
        where = f" WHERE {' AND '.join(terms)}" if terms else ""
        sql = (
            f"SELECT {_COLUMNS} FROM notice LEFT OUTER JOIN notice_case ON notice_case.notice_id = notice.id"
            f"{where} GROUP BY notice.id ORDER BY notice.id DESC LIMIT {bound}"
        )
        listed = []
        for row in reads.stream(sql, (*values, limit)):
            shown = dict(zip((field.name for field in fields(NoticeListing)), row, strict=True))
            listed.append(
                NoticeListing(
                    **{
                        **shown,
                        "cases": int(shown["cases"]),
                        "created_at": stored_time(shown["created_at"]),
                        "sent_at": stored_time_or_none(shown["sent_at"]),
                        "next_attempt_at": stored_time_or_none(shown["next_attempt_at"]),
                    }
                )
            )
    return listed
