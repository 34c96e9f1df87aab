"""Reading mail to the reply address: any bytes at all are read without an exception, and what
could not be read is said; the kinds of mail are told apart as RFC 3464 and RFC 3834 define them."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from notices.inbound_mail import MAX_DEPTH, MAX_MAIL_BYTES, MAX_PARTS, read_mail
from sandbox.desk_mail import (
    exchange_style_bounce,
    gmail_style_bounce,
    postfix_style_report,
    ticket_auto_reply,
)


def notice() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Hotline <reports@hotline.test>"
    message["To"] = "abuse@host-a.test"
    message["Subject"] = "[TD-20261130-ABC123] Child sexual abuse material at 2 URLs on host-a.test"
    message["Message-ID"] = "<notice.1@hotline.test>"
    message.set_content("Dear abuse team,\n")
    return message


def test_delivery_reports_give_each_recipients_status_and_the_returned_message() -> None:
    webmail = read_mail(gmail_style_bounce(notice(), recipient="abuse@host-a.test"))
    assert webmail.kind == "bounce" and webmail.returned_message_id == "<notice.1@hotline.test>"
    [status] = webmail.report or []
    assert (status.recipient, status.action, status.status, status.permanent) == (
        "abuse@host-a.test", "failed", "5.1.1", True,
    )  # fmt: skip
    exchange = read_mail(exchange_style_bounce(notice(), recipient="abuse@host-a.test"))
    assert exchange.returned_message_id == "<notice.1@hotline.test>" and exchange.report
    assert exchange.report[0].status == "5.1.10" and "RecipientNotFound" in exchange.report[0].diagnostic
    delayed = read_mail(
        postfix_style_report(notice(), recipient="abuse@host-a.test", action="delayed", status="4.2.2")
    )
    assert delayed.report and not delayed.report[0].permanent and not delayed.report[0].transient
    gave_up = read_mail(
        postfix_style_report(notice(), recipient="abuse@host-a.test", action="failed", status="4.2.2")
    )
    assert gave_up.report and gave_up.report[0].transient


def test_automatic_replies_are_known_by_rfc_3834_and_give_their_ticket_never_our_reference() -> None:
    reply = read_mail(ticket_auto_reply(notice(), sender="abuse@host-a.test", ticket="2026113010000017"))
    assert (reply.kind, reply.ticket, reply.our_reference) == (
        "auto_reply",
        "2026113010000017",
        "TD-20261130-ABC123",
    )
    assert reply.references == ["<notice.1@hotline.test>"]
    for subject, ticket in [
        ("Re: [TD-20261130-ABC123] abuse report [example.net #48213]", "48213"),
        ("Ticket ID: ABU-77120 - Re: [TD-20261130-ABC123]", "ABU-77120"),
        ("Incident #INC0012345 opened", "INC0012345"),
        ("Re: [TD-20261130-ABC123] Child sexual abuse material", None),
    ]:
        raw = f"From: a@h.test\r\nSubject: {subject}\r\nAuto-Submitted: auto-replied\r\n\r\nReceived.\r\n"
        assert read_mail(raw.encode()).ticket == ticket, subject
    vacation = b"From: a@h.test\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nAway.\r\n"
    assert read_mail(vacation).kind == "auto_reply"
    person = b"From: a@h.test\r\nSubject: Re: hello\r\nAuto-Submitted: no\r\n\r\nHi.\r\n"
    assert read_mail(person).kind == "reply"


def test_hostile_mail_is_read_as_far_as_it_can_be_and_says_what_was_not() -> None:
    deep = "Content-Type: multipart/mixed; boundary=b0\r\n\r\n"
    for level in range(1, 300):
        deep += f"--b{level - 1}\r\nContent-Type: multipart/mixed; boundary=b{level}\r\n\r\n"
    nested = read_mail(b"From: x@h.test\r\nMessage-ID: <deep@h>\r\n" + deep.encode())
    assert any(f"more than {MAX_DEPTH} deep" in p for p in nested.problems)

    parts = "".join(f"--B\r\nContent-Type: text/plain\r\n\r\npart {n}\r\n" for n in range(MAX_PARTS + 50))
    many = read_mail(
        f"From: x@h.test\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n{parts}--B--\r\n".encode()
    )
    assert any(f"more than {MAX_PARTS} parts" in p for p in many.problems)

    odd = read_mail(
        b"From: x@h.test\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\ncaf\xc3\xa9 \xff\r\n"
    )
    assert odd.text.startswith("caf\u00e9") and any("x-no-such-charset" in p for p in odd.problems)

    huge = read_mail(
        b"From: x@h.test\r\nSubject: big\r\nMessage-ID: <big@h>\r\n\r\n" + b"a" * (MAX_MAIL_BYTES + 1)
    )
    assert huge.subject == "big" and huge.mail_id == "<big@h>" and huge.text == ""
    assert any("only its headers were read" in p for p in huge.problems)

    broken_headers = read_mail(
        b"From: =?utf-8?q?broken <\r\nSubject: =?x-bad?B?////?=\r\n"
        b"In-Reply-To: <<<>>>\r\nTo: ,,,@,\r\n\r\nhi\r\n"
    )
    assert broken_headers.text.strip() == "hi" and broken_headers.references == []

    garbage = read_mail(bytes(range(256)) * 40)
    assert garbage.mail_id == f"sha256:{hashlib.sha256(bytes(range(256)) * 40).hexdigest()}"


def test_html_only_mail_is_read_as_text_without_its_scripts() -> None:
    raw = (
        b"From: x@h.test\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Removed &amp; closed.</p><script>steal()</script><style>p{}</style><p>Bye</p>\r\n"
    )
    assert read_mail(raw).text == "Removed & closed.\nBye"


def test_attachments_are_described_by_digest_and_a_forwarded_mail_is_not_read_as_text() -> None:
    message = EmailMessage()
    message["From"] = "x@h.test"
    message.set_content("See attached.")
    message.add_attachment(
        b"\x00\x01secret-bytes", maintype="application", subtype="octet-stream", filename="../../x.bin"
    )
    forwarded = EmailMessage()
    forwarded["Subject"] = "inner"
    forwarded.set_content("inner text that must not become the reply's text")
    message.add_attachment(forwarded)
    mail = read_mail(message.as_bytes())
    assert mail.text.strip() == "See attached."
    assert mail.attachments[0] == {
        "name": ".._.._x.bin", "type": "application/octet-stream", "size": 14,
        "sha256": hashlib.sha256(b"\x00\x01secret-bytes").hexdigest(),
    }  # fmt: skip
    assert mail.attachments[1]["type"] == "message/rfc822"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_any_bytes_are_read_without_an_exception(raw: bytes) -> None:
    mail = read_mail(raw)
    assert mail.mail_id and len(mail.text) <= 20_000


header_names = st.sampled_from(
    ["From", "Subject", "Message-ID", "In-Reply-To", "References", "Content-Type", "Auto-Submitted",
     "Content-Transfer-Encoding", "Content-Disposition"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(header_names, st.text(max_size=80)), max_size=12), st.text(max_size=500))
def test_any_headers_and_body_are_read_without_an_exception(
    headers: list[tuple[str, str]], body: str
) -> None:
    raw = "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n" + body
    mail = read_mail(raw.encode("utf-8", "surrogatepass"))
    assert isinstance(mail.kind, str)
