"""A mail to the notices' reply address, read defensively: what it is, what it answers, what it says.

Anybody can write to the reply address, so every mail is hostile until read: it may be huge, its
MIME broken or nested thousands deep, its charsets unknown, its headers malformed. :func:`read_mail`
never raises on any bytes. It walks at most :data:`MAX_PARTS` parts, :data:`MAX_DEPTH` deep,
decodes text with a fallback, and reports what it could not read in ``problems`` instead of
failing. What it returns holds text and descriptions only: an attachment is its name, type, size
and SHA-256, and its bytes are dropped as soon as they are hashed.

Three kinds of mail are told apart:

* a delivery status notification (RFC 3464, ``multipart/report; report-type=delivery-status``):
  each recipient's action and status, and the Message-ID of the notice it returns;
* an automatic reply (RFC 3834 ``Auto-Submitted`` other than ``no``, or the older markers ticket
  systems and vacation responders still send): usually a ticket system's acknowledgement;
* anything else, which a person wrote.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
import hashlib
import html
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser

from notices.message import header_text

MAX_MAIL_BYTES = 10 * 1024 * 1024
"""The largest mail read: a reply quoting a notice with its reports is a few hundred kilobytes."""
MAX_PARTS = 200
MAX_DEPTH = 12
MAX_TEXT_CHARS = 20_000
MAX_REFERENCES = 50

_MESSAGE_ID = re.compile(r"<([^<>\s]{1,250})>")
_OUR_REFERENCE = re.compile(r"\[(TD-\d{8}-[0-9A-F]{6})\]")
_ANY_OUR_REFERENCE = re.compile(r"\bTD-\d{8}-[0-9A-F]{6}\b")
"""Our reference, bracketed or not: never mistaken for a provider's ticket."""
_TICKET_PATTERNS = (
    # "[Ticket#2026113010000017]" (OTRS/Znuny), "[example.net #48213]" (Request Tracker)
    re.compile(r"\[(?:ticket|case|incident)?\s*#\s*([A-Za-z0-9][\w.-]{2,40})\]", re.I),
    re.compile(r"\[[\w.-]{1,60} #([A-Za-z0-9][\w.-]{2,40})\]"),
    # "Ticket ID: ABU-77120", "case number 4410", "Incident #INC0012345", "Ref: SR-2026-118"
    re.compile(
        r"\b(?:ticket|case|incident|request|reference|ref)\b(?:\s*(?:id|number|no\.?|nr\.?))?\s*[:#]?\s*#?"
        r"\s*([A-Za-z]{0,8}[-_]?\d[\w-]{2,40})",
        re.I,
    ),
)
_AUTOMATIC_MARKERS = ("x-autoreply", "x-autorespond", "x-autoresponder")
_BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon)@", re.I)


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """One recipient's block of a delivery status notification."""

    recipient: str
    action: str
    """failed, delayed, delivered, relayed or expanded (RFC 3464 2.3.3)."""
    status: str
    """The enhanced status code, ``5.1.1``; its first digit says permanent (5) or transient (4)."""
    diagnostic: str = ""

    @property
    def permanent(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")

    @property
    def transient(self) -> bool:
        return self.action == "failed" and self.status.startswith("4")


@dataclass
class InboundMail:
    """What a mail is, as far as it could be read."""

    mail_id: str
    """Its Message-ID; for a mail without one, a digest of its bytes (so a redelivery is known)."""
    sender: str
    subject: str
    references: list[str] = field(default_factory=list)
    """Message-IDs it answers (In-Reply-To, then References, newest first), without brackets."""
    our_reference: str | None = None
    """A notice's reference (``TD-20261130-ABC123``) found in the subject."""
    automatic: bool = False
    report: list[DeliveryStatus] | None = None
    """The recipients' statuses, when this is a delivery status notification."""
    returned_message_id: str | None = None
    """The Message-ID of the message a delivery status notification returns."""
    text: str = ""
    ticket: str | None = None
    attachments: list[dict[str, object]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if self.report is not None:
            return "bounce"
        if self.automatic:
            return "auto_reply"
        return "reply"

    @property
    def looks_like_a_bounce(self) -> bool:
        """From a mailer daemon but without a readable delivery status: a person must look."""
        return self.report is None and bool(_BOUNCE_SENDERS.match(self.sender))


def read_mail(raw: bytes) -> InboundMail:
    """Read ``raw`` (a whole message as received); never raises."""
    digest = hashlib.sha256(raw).hexdigest()
    problems: list[str] = []
    if len(raw) > MAX_MAIL_BYTES:
        head = raw[:65536].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        mail = _read_headers_only(head, digest)
        mail.problems.append(
            f"the mail is {len(raw)} bytes; only its headers were read (limit {MAX_MAIL_BYTES})"
        )
        return mail
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as exc:  # the parser is lenient, but this is hostile input
        mail = _read_headers_only(raw[:65536], digest)
        mail.problems.append(f"the mail could not be parsed: {type(exc).__name__}")
        return mail
    mail = _from_headers(message, digest, problems)
    _walk(message, mail)
    if not mail.text and not mail.report:
        mail.problems.append("the mail has no text that could be read")
    mail.ticket = _ticket(mail)
    return mail


def _read_headers_only(head: bytes, digest: str) -> InboundMail:
    problems: list[str] = []
    try:
        headers = HeaderParser(policy=email.policy.compat32).parsestr(
            head.decode("latin-1"), headersonly=True
        )
    except Exception:
        return InboundMail(mail_id=f"sha256:{digest}", sender="", subject="", problems=problems)
    return _from_headers(headers, digest, problems)


def _from_headers(message: Message, digest: str, problems: list[str]) -> InboundMail:
    subject = _header(message, "Subject", problems)
    sender = _address(_header(message, "From", problems))
    own_ids = _MESSAGE_ID.findall(_header(message, "Message-ID", problems))
    replied = _MESSAGE_ID.findall(_header(message, "In-Reply-To", problems))
    referenced = list(reversed(_MESSAGE_ID.findall(_header(message, "References", problems))))
    references = list(dict.fromkeys(replied + referenced))[:MAX_REFERENCES]
    found = _OUR_REFERENCE.search(subject)
    return InboundMail(
        mail_id=f"<{own_ids[0]}>" if own_ids else f"sha256:{digest}",
        sender=sender,
        subject=subject[:300],
        references=[f"<{ref}>" for ref in references],
        our_reference=found.group(1) if found else None,
        automatic=_automatic(message, problems),
        problems=problems,
    )


def _header(message: Message, name: str, problems: list[str]) -> str:
    """A header's value as one line of text; a malformed one is read raw, and said so."""
    try:
        value = message.get(name)
    except Exception as exc:  # a header the parser chokes on: its raw text will do
        problems.append(f"the {name} header could not be read ({type(exc).__name__})")
        value = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
    if value is None:
        return ""
    return header_text(str(value))[:2000]


def _address(value: str) -> str:
    _name, address = email.utils.parseaddr(value)
    return address.strip().lower()[:320] if "@" in address else ""


def _automatic(message: Message, problems: list[str]) -> bool:
    auto_submitted = _header(message, "Auto-Submitted", problems).lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if any(_header(message, marker, problems) for marker in _AUTOMATIC_MARKERS):
        return True
    return _header(message, "Precedence", problems).lower() in ("auto_reply", "auto-reply")


def _walk(root: Message, mail: InboundMail) -> None:
    """Every part, breadth first, at most :data:`MAX_PARTS` and :data:`MAX_DEPTH` deep: the text
    (plain preferred to HTML), the delivery status, and a description of each attachment."""
    plain: list[str] = []
    markup: list[str] = []
    queue: list[tuple[Message, int]] = [(root, 0)]
    seen = 0
    while queue:
        part, depth = queue.pop(0)
        seen += 1
        if seen > MAX_PARTS:
            mail.problems.append(f"the mail has more than {MAX_PARTS} parts; the rest were not read")
            break
        if depth > MAX_DEPTH:
            mail.problems.append(
                f"the mail nests parts more than {MAX_DEPTH} deep; the deeper ones were not read"
            )
            continue
        content_type = _content_type(part)
        if content_type == "message/delivery-status":
            _delivery_status(part, mail)
            continue
        if content_type in ("message/rfc822", "text/rfc822-headers"):
            if _is_report(root):  # the notice coming back: only its Message-ID matters
                _returned(part, content_type, mail)
            else:  # a forwarded mail: described like any attachment, not read into the text
                _describe(part, content_type, mail)
            continue
        if part.is_multipart():
            children = _children(part, mail)
            queue.extend((child, depth + 1) for child in children)
            continue
        if _is_attachment(part, content_type):
            _describe(part, content_type, mail)
            continue
        if content_type == "text/plain":
            plain.append(_text(part, mail))
        elif content_type == "text/html":
            markup.append(_from_html(_text(part, mail)))
        else:
            _describe(part, content_type, mail)
    text = "\n\n".join(t for t in plain if t.strip()) or "\n\n".join(t for t in markup if t.strip())
    mail.text = text[:MAX_TEXT_CHARS]


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "application/octet-stream"


def _children(part: Message, mail: InboundMail) -> list[Message]:
    try:
        payload = part.get_payload()
    except Exception:
        mail.problems.append("a multipart part could not be taken apart")
        return []
    return [child for child in payload if isinstance(child, Message)] if isinstance(payload, list) else []


def _is_report(root: Message) -> bool:
    try:
        return root.get_content_type() == "multipart/report" and (
            str(root.get_param("report-type", "")).lower() == "delivery-status"
        )
    except Exception:
        return False


def _is_attachment(part: Message, content_type: str) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
        named = part.get_filename() is not None
    except Exception:
        return True
    return disposition == "attachment" or (named and not content_type.startswith("text/"))


def _payload_bytes(part: Message) -> bytes:
    try:
        if part.is_multipart():  # a forwarded mail: its bytes as they came
            return part.as_bytes(policy=email.policy.compat32)
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            return payload
        raw = part.get_payload()
        return raw.encode("utf-8", "replace") if isinstance(raw, str) else b""
    except Exception:
        return b""


def _describe(part: Message, content_type: str, mail: InboundMail) -> None:
    """Name, type, size and digest; the bytes go no further than this function."""
    data = _payload_bytes(part)
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    name = re.sub(r"[\x00-\x1f\x7f/\\]+", "_", str(name))[:200]
    mail.attachments.append(
        {
            "name": name,
            "type": content_type[:100],
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    )


def _text(part: Message, mail: InboundMail) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]  # policy.default's parts have it
        if isinstance(content, str):
            return content
    except Exception:  # an unknown or lying charset: read it as UTF-8, marking what does not decode
        charset = ""
        with contextlib.suppress(Exception):
            charset = str(part.get_content_charset() or "")
        mail.problems.append(f"a text part's charset {charset[:40]!r} could not be used; read as UTF-8")
    return _payload_bytes(part).decode("utf-8", "replace")


def _from_html(markup: str) -> str:
    """The text of an HTML part: tags dropped, entities decoded, scripts and styles left out."""
    without = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", markup)
    without = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>|</tr\s*>", "\n", without)
    text = html.unescape(re.sub(r"<[^>]{0,2000}>", "", without))
    return "\n".join(line.strip() for line in text.splitlines()).strip()


def _delivery_status(part: Message, mail: InboundMail) -> None:
    """The per-recipient blocks of a ``message/delivery-status`` part (RFC 3464 section 2)."""
    blocks = _status_blocks(part)
    statuses: list[DeliveryStatus] = []
    for block in blocks:  # the message's own block names no recipient and is passed over
        recipient = _typed_address(block.get("final-recipient") or block.get("original-recipient") or "")
        action = (block.get("action") or "").strip().lower()
        status = (block.get("status") or "").strip().split(" ")[0]
        if not recipient or not action:
            continue
        if not re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", status):
            status = "5.0.0" if action == "failed" else "4.0.0" if action == "delayed" else "2.0.0"
        statuses.append(DeliveryStatus(recipient, action, status, (block.get("diagnostic-code") or "")[:300]))
    if not statuses:
        mail.problems.append("a delivery status part names no recipient with an action")
    mail.report = (mail.report or []) + statuses


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The blocks as dictionaries of lower-cased field names, whatever shape the parser left them in."""
    try:
        payload = part.get_payload()
    except Exception:
        payload = None
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list) and all(isinstance(p, Message) for p in payload):
        for block in payload:
            assert isinstance(block, Message)
            # raw: a malformed field is still text
            blocks.append(
                {str(name).lower(): " ".join(str(value).split()) for name, value in block.raw_items()}
            )
        return blocks
    text = payload if isinstance(payload, str) else _payload_bytes(part).decode("utf-8", "replace")
    for chunk in re.split(r"\r?\n\s*\r?\n", text.strip()):
        fields: dict[str, str] = {}
        for line in re.sub(r"\r?\n[ \t]+", " ", chunk).splitlines():
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = " ".join(value.split())
        if fields:
            blocks.append(fields)
    return blocks


def _typed_address(value: str) -> str:
    """``rfc822; abuse@host.example`` -> ``abuse@host.example``."""
    address = value.split(";", 1)[1] if ";" in value else value
    address = address.strip().strip("<>").strip().lower()
    return address[:320] if "@" in address else ""


def _returned(part: Message, content_type: str, mail: InboundMail) -> None:
    """The Message-ID of the message a report returns, from its copy or its headers."""
    headers: Message | None = None
    try:
        if content_type == "message/rfc822":
            payload = part.get_payload()
            first = payload[0] if isinstance(payload, list) and payload else None
            headers = first if isinstance(first, Message) else None
        else:
            headers = HeaderParser(policy=email.policy.compat32).parsestr(
                _payload_bytes(part).decode("utf-8", "replace"), headersonly=True
            )
    except Exception:
        headers = None
    if headers is None:
        mail.problems.append("the returned message's headers could not be read")
        return
    found = _MESSAGE_ID.findall(_header(headers, "Message-ID", mail.problems))
    if found and mail.returned_message_id is None:
        mail.returned_message_id = f"<{found[0]}>"


def _ticket(mail: InboundMail) -> str | None:
    """A ticket number in the subject (or, for an automatic reply, its first lines), never our own
    reference."""
    places = [mail.subject]
    if mail.automatic:
        places.append(mail.text[:2000])
    for place in places:
        cleaned = _ANY_OUR_REFERENCE.sub(" ", place)
        for pattern in _TICKET_PATTERNS:
            found = pattern.search(cleaned)
            if found:
                return found.group(1)[:100]
    return None
