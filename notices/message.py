"""The notice as an e-mail: 7-bit clean, CRLF line ends, and no header a reported string wrote.

Every header value passes through :func:`header_text` (control characters, CR and LF removed), so
nothing reported (a URL, an RDAP answer's mailbox or organisation) can end a header and start
another; text that is not ASCII goes into RFC 2047 encoded words. URLs appear only in the bodies
and the attached reports, exactly as recorded. The bodies are quoted-printable and the reports
base64, so no relay has to re-encode a part, which would break its signature (:mod:`notices.signing`).

The headers are folded by the ``email`` package (its ``compat32`` policy, which folds the text as
given rather than parsing it into objects and back); the MIME structure around the encoded bodies
is fixed text, written here with boundaries of 128 random bits. Building it from the package's MIME
classes and flattening those cost a tenth of composing (``bench/bench_notices.py``); the
encodings are the package's own (its quoted-printable, ``base64.encodebytes``), as before.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import EmailMessage
from email.policy import compat32
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any

from notices.indented_json import indented_json
from takedown.errors import ConfigurationError

if TYPE_CHECKING:
    from notices.render import Rendered

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP
_JSON_PART = b"Content-Type: application/json\r\nContent-Transfer-Encoding: base64\r\n"
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
    mixed, alternative = new_boundary(), new_boundary()
    name, address = sender
    headers = [
        ("Content-Type", f'multipart/mixed; boundary="{mixed}"'),
        ("MIME-Version", "1.0"),
        ("From", formataddr((header_text(name), address), charset="utf-8")),
        ("To", header_text(recipient)),
        ("Subject", _header("Subject", rendered.subject)),
        ("Date", format_datetime(date)),
        ("Message-ID", header_text(message_id)),
    ]
    if in_reply_to:
        headers += [("In-Reply-To", header_text(in_reply_to)), ("References", header_text(in_reply_to))]
    # No RFC 3834 Auto-Submitted: an abuse desk's ticket system would then, rightly, not acknowledge
    # the notice, and its acknowledgement is how the provider's ticket number reaches the case
    # (takedown inbox). Out-of-office replies are still asked not to come (Exchange's header), and
    # are recorded without bothering anybody when they do.
    headers += [("X-Auto-Response-Suppress", "OOF"), ("Content-Language", header_text(rendered.language))]
    text = _multipart(alternative, [_text_part("plain", rendered.text), _text_part("html", rendered.html)])
    parts = [f'Content-Type: multipart/alternative; boundary="{alternative}"\r\n\r\n'.encode() + text]
    for case_id, report in reports:
        data = indented_json(report).encode("utf-8")
        disposition = f'Content-Disposition: attachment; filename="xarf-case-{case_id}.json"\r\n\r\n'
        parts.append(_JSON_PART + disposition.encode() + base64.encodebytes(data).replace(b"\n", b"\r\n"))
    # Each header folded as the email package folds it (encoded words already made above); the
    # parts are fixed text around encoded bodies, written here: building them as MIME objects and
    # flattening those was a tenth of composing.
    head = b"".join(_WIRE.fold_binary(field, value) for field, value in headers)
    return head + b"\r\n" + _multipart(mixed, parts)


def _text_part(subtype: str, text: str) -> bytes:
    """A text part, quoted-printable UTF-8 (readable where it is ASCII), as ``MIMEText`` encodes it."""
    encoded = (_UTF8.body_encode(text) or "").replace("\r\n", "\n").replace("\n", "\r\n")
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n'
    return (head + "\r\n" + encoded).encode("ascii")


def _multipart(boundary: str, parts: list[bytes]) -> bytes:
    """The body of a multipart entity: each part after its boundary line, then the closing one."""
    delimiter = b"--" + boundary.encode()
    return b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts) + delimiter + b"--\r\n"


def _header(name: str, value: str) -> str:
    """Header ``name``'s text; RFC 2047 encoded words when it is not ASCII, the first of them on
    the header's own line (a reader would otherwise take the fold for a leading space)."""
    text = header_text(value)
    return text if text.isascii() else Header(text, "utf-8", header_name=name).encode(maxlinelen=76)


def new_boundary() -> str:
    """A MIME boundary no part can hold by chance or by design: 128 random bits."""
    return "=_td_" + secrets.token_hex(16)


def signed_content(message: EmailMessage) -> EmailMessage:
    """What a signed notice says (the first part of ``multipart/signed``); ``message`` itself when
    it is not signed. The notice's own headers (From, Subject, Message-ID) stay on ``message``."""
    if message.get_content_type() == "multipart/signed":
        payload = message.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], EmailMessage):
            return payload[0]
    return message
