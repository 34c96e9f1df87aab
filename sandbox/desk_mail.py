"""Mail as it comes back to a hotline from abuse desks: a person's reply, a ticket system's
automatic reply, and delivery status notifications shaped like those the big mail services and
common mail servers send (written for the sandbox, to the layouts of RFC 3464 and RFC 3834 those
services follow). The sandbox's desks send them; the tests read them."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def _headers_of(notice: EmailMessage) -> str:
    names = ("From", "To", "Subject", "Date", "Message-ID")
    return "\n".join(f"{name}: {notice[name]}" for name in names if notice[name] is not None)


def person_reply(
    notice: EmailMessage,
    *,
    sender: str,
    text: str,
    html: str | None = None,
    attachment: tuple[str, str, bytes] | None = None,
    thread: bool = True,
) -> bytes:
    """A reply from a mail client: In-Reply-To and References (unless ``thread`` is off), the notice
    quoted below, an HTML alternative and an attachment if given."""
    reply = EmailMessage()
    reply["From"] = f"Abuse Desk <{sender}>"
    reply["To"] = str(notice["From"])
    reply["Subject"] = f"Re: {notice['Subject']}"
    reply["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    if thread:
        reply["In-Reply-To"] = str(notice["Message-ID"])
        reply["References"] = str(notice["Message-ID"])
    body = notice.get_body(preferencelist=("plain",))
    quoted = "\n".join(f"> {line}" for line in (body.get_content() if body else "").splitlines())
    reply.set_content(f"{text}\n\nOn Monday you wrote:\n{quoted}\n")
    if html is not None:
        reply.add_alternative(html, subtype="html")
    if attachment is not None:
        name, content_type, data = attachment
        maintype, subtype = content_type.split("/")
        reply.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return reply.as_bytes(policy=SMTP)  # CRLF, as mail travels


def ticket_auto_reply(notice: EmailMessage, *, sender: str, ticket: str) -> bytes:
    """A ticket system's acknowledgement (the OTRS/Znuny layout): RFC 3834's Auto-Submitted, the
    ticket in brackets in the subject, the notice's Message-ID in In-Reply-To."""
    return _crlf(
        f"""Return-Path: <>
From: "Example Hosting Abuse" <{sender}>
To: {notice["From"]}
Subject: [Ticket#{ticket}] Re: {notice["Subject"]}
Date: Mon, 30 Nov 2026 10:00:05 +0000
Message-ID: <{ticket}.auto@{sender.rpartition("@")[2]}>
In-Reply-To: {notice["Message-ID"]}
References: {notice["Message-ID"]}
Auto-Submitted: auto-replied
X-Loop: {sender}
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit

Thank you for your report. It has been received by our abuse team and
registered under ticket number {ticket}. Please keep [Ticket#{ticket}]
in the subject of any further correspondence about it.

This is an automatic message; replies to it are read.
"""
    )


def gmail_style_bounce(notice: EmailMessage, *, recipient: str, status: str = "5.1.1") -> bytes:
    """A permanent failure as a large webmail service reports it: multipart/report with a human
    part, message/delivery-status, and the whole returned message (message/rfc822)."""
    return _crlf(
        f"""Return-Path: <>
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {notice["From"]}
Subject: Delivery Status Notification (Failure)
Date: Mon, 30 Nov 2026 10:01:00 +0000
Message-ID: <bounce-{status}-{recipient}@mx.google.com>
X-Failed-Recipients: {recipient}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000b1f2"; report-type=delivery-status

--000000000000b1f2
Content-Type: text/plain; charset="UTF-8"

** Address not found **

Your message wasn't delivered to {recipient} because the address couldn't be found,
or is unable to receive mail.

--000000000000b1f2
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; hotline.test
Arrival-Date: Mon, 30 Nov 2026 02:00:57 -0800 (PST)
X-Original-Message-ID: {notice["Message-ID"]}

Final-Recipient: rfc822; {recipient}
Action: failed
Status: {status}
Remote-MTA: dns; mx.host-a.test. (127.0.40.25, the server for the domain host-a.test.)
Diagnostic-Code: smtp; {status[0]}50-{status} The email account that you tried to reach
 does not exist.
Last-Attempt-Date: Mon, 30 Nov 2026 02:01:00 -0800 (PST)

--000000000000b1f2
Content-Type: message/rfc822

{notice.as_string()}
--000000000000b1f2--
"""
    )


def exchange_style_bounce(notice: EmailMessage, *, recipient: str) -> bytes:
    """A permanent failure as a hosted Exchange service reports it: the returned message's headers
    only (text/rfc822-headers), an HTML human part, vendor headers."""
    return _crlf(
        f"""From: Microsoft Outlook <postmaster@outlook.example>
To: {notice["From"]}
Subject: Undeliverable: {notice["Subject"]}
Date: Mon, 30 Nov 2026 10:02:00 +0000
Message-ID: <ndr-{recipient}@outlook.example>
Auto-Submitted: auto-replied
X-MS-Exchange-Message-Is-Ndr: true
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="_000_ndr_boundary_"

--_000_ndr_boundary_
Content-Type: text/html; charset="us-ascii"

<html><body><p><b><font color="#000066">Your message to {recipient} couldn't be delivered.</font></b></p>
<p>{recipient.partition("@")[0]} wasn't found at {recipient.partition("@")[2]}.</p></body></html>

--_000_ndr_boundary_
Content-Type: message/delivery-status

Reporting-MTA: dns;AM0PR01MB0001.eurprd01.prod.outlook.example
Received-From-MTA: dns;hotline.test
Arrival-Date: Mon, 30 Nov 2026 10:01:58 +0000

Original-Recipient: rfc822;{recipient}
Final-Recipient: rfc822;{recipient}
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup

--_000_ndr_boundary_
Content-Type: text/rfc822-headers

{_headers_of(notice)}

--_000_ndr_boundary_--
"""
    )


def postfix_style_report(notice: EmailMessage, *, recipient: str, action: str, status: str) -> bytes:
    """A report from a mail server like Postfix: ``failed`` with a 4.x.x status when it gave up
    retrying a passing failure, or ``delayed`` while it still retries."""
    subject = (
        "Undelivered Mail Returned to Sender" if action == "failed" else "Delayed Mail (still being retried)"
    )
    return _crlf(
        f"""From: MAILER-DAEMON@mx.host-a.test (Mail Delivery System)
To: {notice["From"]}
Subject: {subject}
Date: Mon, 30 Nov 2026 10:03:00 +0000
Message-ID: <postfix-{action}-{status}@mx.host-a.test>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4B1A2C3D.1764496980/mx.host-a.test"

--4B1A2C3D.1764496980/mx.host-a.test
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.host-a.test.

--4B1A2C3D.1764496980/mx.host-a.test
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.host-a.test
X-Postfix-Queue-ID: 4B1A2C3D
Arrival-Date: Mon, 23 Nov 2026 10:03:00 +0000 (UTC)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 452 4.2.2 Mailbox full

--4B1A2C3D.1764496980/mx.host-a.test
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

{_headers_of(notice)}

--4B1A2C3D.1764496980/mx.host-a.test--
"""
    )
