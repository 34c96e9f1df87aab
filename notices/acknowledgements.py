"""Acknowledgements to reporters who left an address on a portal: one short message each, in the
language they wrote in, saying only that their report (its reference) was received.

It never says what became of the report, and it is the only message: the address is deleted once
it is sent (or refused for good by the mail server), kept only while the server says "later", and
deleted unsent after a week. A run that stops between claiming and settling leaves its claims
marked; the next run deletes those unsent (see :func:`takedown.portal_reports.claim_acknowledgements`).
The messages say they are automatic (``Auto-Submitted: auto-generated``, RFC 3834), so a vacation
responder does not answer them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from notices.delivery import DeliveryOutcome, SMTPTransport
from notices.render import SHIPPED_TEMPLATES
from takedown.clock import Clock
from takedown.portal_reports import Acknowledgement, claim_acknowledgements, settle_acknowledgements
from takedown.portals import LANGUAGES
from takedown.settings import Settings
from takedown.store import Store

log = logging.getLogger(__name__)

ACKNOWLEDGEMENT_TEMPLATES = SHIPPED_TEMPLATES / "acknowledgements"


@dataclass
class AcknowledgementSummary:
    sent: int = 0
    refused: int = 0
    """Refused for good by the mail server: the address is deleted all the same."""
    later: int = 0
    """The mail server said later: tried again at the next run."""
    counts: dict[str, int] = field(default_factory=dict)


def acknowledgement_message(ack: Acknowledgement, settings: Settings, clock: Clock) -> EmailMessage:
    """The message for ``ack``, in its language (English when there is no template for it)."""
    language = ack.language if ack.language in LANGUAGES else "en"
    pages = Environment(
        loader=FileSystemLoader(ACKNOWLEDGEMENT_TEMPLATES),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    text = pages.get_template(f"{language}.txt.j2").render(
        reference=ack.reference, partner=ack.partner, received_on=ack.received_at.strftime("%Y-%m-%d")
    )
    subject_line, _, body = text.partition("\n\n")
    message = EmailMessage(policy=SMTP)
    message["From"] = settings.notice_from
    message["To"] = ack.address
    message["Subject"] = subject_line.removeprefix("Subject:").strip()
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = make_msgid(
        idstring="ack", domain=parseaddr(settings.notice_from)[1].rpartition("@")[2]
    )
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    message["Content-Language"] = language  # after the content: setting it drops Content-* headers
    return message


def acknowledge_reports(
    settings: Settings, store: Store, clock: Clock, *, transport: SMTPTransport | None = None
) -> AcknowledgementSummary:
    """Send the acknowledgements due, then forget the addresses they went to."""
    summary = AcknowledgementSummary()
    with store.session() as session:  # committed before anything is sent
        claimed = claim_acknowledgements(session, now=clock.now())
    if not claimed:
        return summary
    transport = transport or SMTPTransport(settings)
    sender = parseaddr(settings.notice_from)[1]
    done, again = [], []
    try:
        for ack in claimed:
            message = acknowledgement_message(ack, settings, clock)
            attempt = transport.send(sender, ack.address, message.as_bytes(), before_data=lambda: True)
            if attempt.outcome is DeliveryOutcome.RETRY:
                again.append(ack.id)
                summary.later += 1
            else:  # sent, refused for good, or lost in DATA: never sent a second time
                done.append(ack.id)
                if attempt.outcome is DeliveryOutcome.SENT:
                    summary.sent += 1
                else:
                    summary.refused += 1
                    log.info("an acknowledgement of %s was not delivered: %s", ack.reference, attempt.detail)
    finally:
        transport.close()
        with store.session() as session:
            settle_acknowledgements(session, done=done, again=again)
    return summary
