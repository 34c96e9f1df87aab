"""The notice as an e-mail, built with the ``email`` package so no reported string can add a header.

Every header value passes through :func:`header_text` (control characters, CR and LF removed), and
the ``email`` package refuses any that would still fold into a new header. URLs appear only in the
bodies and the attached reports, exactly as recorded.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from notices.render import Rendered
from takedown.errors import ConfigurationError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
SEVEN_BIT = SMTP.clone(cte_type="7bit")
"""The policy notices are built with: every part 7-bit clean (quoted-printable or base64), so no
relay has to re-encode one, which would break its signature (:mod:`notices.signing`)."""


def header_text(value: str) -> str:
    """One line of text fit for a header: control characters (CR, LF, NUL...) become spaces."""
    return " ".join(_CONTROL.sub(" ", value).split())


def sender_address(notice_from: str) -> tuple[str, str]:
    """``("Example Hotline", "reports@hotline.example")`` from ``TAKEDOWN_NOTICE_FROM``."""
    name, address = parseaddr(notice_from)
    if "@" not in address:
        raise ConfigurationError(f"TAKEDOWN_NOTICE_FROM={notice_from!r}: expected 'Name <address@domain>'")
    return header_text(name), address


def new_message_id(sender: str) -> str:
    return make_msgid(idstring="takedown", domain=sender.rpartition("@")[2])


def build_message(
    *,
    rendered: Rendered,
    sender: tuple[str, str],
    recipient: str,
    message_id: str,
    date: datetime,
    reports: list[tuple[int, dict[str, Any]]],
    in_reply_to: str | None = None,
) -> EmailMessage:
    """multipart/mixed: multipart/alternative (text, HTML), then one X-ARF JSON per case."""
    message = EmailMessage(policy=SEVEN_BIT)
    name, address = sender
    message["From"] = Address(display_name=name, addr_spec=address)
    message["To"] = header_text(recipient)
    message["Subject"] = header_text(rendered.subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    # No RFC 3834 Auto-Submitted: an abuse desk's ticket system would then, rightly, not acknowledge
    # the notice, and its acknowledgement is how the provider's ticket number reaches the case
    # (takedown inbox). Out-of-office replies are still asked not to come (Exchange's header), and
    # are recorded without bothering anybody when they do.
    message["X-Auto-Response-Suppress"] = "OOF"
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    for case_id, report in reports:
        message.add_attachment(
            json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8"),
            maintype="application",
            subtype="json",
            filename=f"xarf-case-{case_id}.json",
        )
    message["Content-Language"] = rendered.language  # last: set_content and attaching move Content-*
    return message


def signed_content(message: EmailMessage) -> EmailMessage:
    """What a signed notice says (the first part of ``multipart/signed``); ``message`` itself when
    it is not signed. The notice's own headers (From, Subject, Message-ID) stay on ``message``."""
    if message.get_content_type() == "multipart/signed":
        payload = message.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], EmailMessage):
            return payload[0]
    return message
