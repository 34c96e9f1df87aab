"""The notice as it travels: whatever the templates render and the reports hold, the message is
7-bit, CRLF, within SMTP's line limit, and any mail client's parser gets back exactly what was
written: the text and HTML parts, and each report as its JSON."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from notices.message import build_message, header_text
from notices.render import Rendered

TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=400)
"""Any text a template can render (lone surrogates cannot be UTF-8, so no template yields one)."""


def lines_as_sent(text: str) -> str:
    """Text as it reads after the trip: every line break a CRLF."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


@settings(max_examples=200, deadline=None)
@given(
    subject=TEXT,
    plain=TEXT,
    html=TEXT,
    name=TEXT,
    reports=st.lists(st.dictionaries(TEXT, st.one_of(TEXT, st.integers()), max_size=4), max_size=3),
)
def test_a_notice_reads_back_as_written_and_travels_unchanged(
    subject: str, plain: str, html: str, name: str, reports: list[dict[str, Any]]
) -> None:
    whole = build_message(
        rendered=Rendered(subject=subject, text=plain, html=html, language="en"),
        sender=(name, "reports@hotline.test"),
        recipient="abuse@host.test",
        message_id="<1@hotline.test>",
        date=datetime(2026, 12, 1, tzinfo=UTC),
        reports=list(enumerate(reports, start=1)),
    )
    assert whole.isascii()  # 7-bit: no relay re-encodes a part (which would break its signature)
    assert b"\n" not in whole.replace(b"\r\n", b"") and b"\r" not in whole.replace(b"\r\n", b"")
    assert max(len(line) for line in whole.split(b"\r\n")) <= 998  # RFC 5321's limit

    message = email.message_from_bytes(whole, policy=email.policy.default)
    assert [part.get_content_type() for part in message.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html",
        *["application/json"] * len(reports),
    ]  # fmt: skip
    text_part, html_part = list(message.walk())[2:4]
    assert text_part.get_payload(decode=True).decode("utf-8") == lines_as_sent(plain)
    assert html_part.get_payload(decode=True).decode("utf-8") == lines_as_sent(html)
    attached = list(message.iter_attachments())
    assert [part.get_filename() for part in attached] == [
        f"xarf-case-{n}.json" for n in range(1, len(reports) + 1)
    ]
    assert [json.loads(part.get_payload(decode=True)) for part in attached] == reports
    assume("=?" not in subject)  # a subject that looks like an encoded word is read as one
    assert str(message["Subject"]) == header_text(subject)
