"""The notice as an e-mail: 7-bit clean, CRLF line ends, and no header a reported string wrote.

Every header value passes through :func:`header_text` (control characters, CR and LF removed), so
nothing reported (a URL, an RDAP answer's mailbox or organisation) can end a header and start
another; text that is not ASCII goes into RFC 2047 encoded words. URLs appear only in the bodies
and the attached reports, exactly as recorded. The bodies are quoted-printable and the reports
base64, so no relay has to re-encode a part, which would break its signature (:mod:`notices.signing`).

The message is put together with the ``email`` package's MIME classes under its ``compat32``
policy rather than ``EmailMessage``: the same structure, a quarter of the time (composing is
measured in ``bench/bench_notices.py``), because headers are not parsed into objects and back.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import Any

from notices.render import Rendered
from takedown.errors import ConfigurationError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP
_WIRE = compat32.clone(linesep="\r\n")
"""How a notice is written out: CRLF, as it travels; every part is already 7-bit."""


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
) -> bytes:
    """The whole message: multipart/mixed of multipart/alternative (text, HTML), then one X-ARF
    JSON per case."""
    message = MIMEMultipart("mixed", boundary=_boundary())
    name, address = sender
    message["From"] = formataddr((header_text(name), address), charset="utf-8")
    message["To"] = header_text(recipient)
    message["Subject"] = _header(rendered.subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = header_text(message_id)
    if in_reply_to:
        message["In-Reply-To"] = header_text(in_reply_to)
        message["References"] = header_text(in_reply_to)
    # No RFC 3834 Auto-Submitted: an abuse desk's ticket system would then, rightly, not acknowledge
    # the notice, and its acknowledgement is how the provider's ticket number reaches the case
    # (takedown inbox). Out-of-office replies are still asked not to come (Exchange's header), and
    # are recorded without bothering anybody when they do.
    message["X-Auto-Response-Suppress"] = "OOF"
    body = MIMEMultipart("alternative", boundary=_boundary())
    # A Charset (not a name) makes the body quoted-printable: readable where it is ASCII.
    body.attach(_part(MIMEText(rendered.text, "plain", _UTF8)))  # type: ignore[arg-type]
    body.attach(_part(MIMEText(rendered.html, "html", _UTF8)))  # type: ignore[arg-type]
    message.attach(_part(body))
    for case_id, report in reports:
        data = json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8")
        attachment = MIMEApplication(data, "json")
        attachment.add_header("Content-Disposition", "attachment", filename=f"xarf-case-{case_id}.json")
        message.attach(_part(attachment))
    message["Content-Language"] = header_text(rendered.language)
    return message.as_bytes(policy=_WIRE)


def _header(value: str) -> str:
    """One header's text; RFC 2047 encoded words when it is not ASCII."""
    text = header_text(value)
    return text if text.isascii() else Header(text, "utf-8").encode(maxlinelen=76)


def _boundary() -> str:
    """A boundary no part can hold by chance or by design (128 random bits): given, so the email
    package does not search every part's text for the one it would draw (a twentieth of
    composing)."""
    return "=_td_" + secrets.token_hex(16)


def _part(part: Message) -> Message:
    del part["MIME-Version"]  # once, on the message itself
    return part


def signed_content(message: EmailMessage) -> EmailMessage:
    """What a signed notice says (the first part of ``multipart/signed``); ``message`` itself when
    it is not signed. The notice's own headers (From, Subject, Message-ID) stay on ``message``."""
    if message.get_content_type() == "multipart/signed":
        payload = message.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], EmailMessage):
            return payload[0]
    return message
