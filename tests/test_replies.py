"""Mail to the reply address, after real notices went out through the sandbox: threaded to its
notice, acted on as its kind says, recorded once, and never keeping an attachment's bytes."""

from __future__ import annotations

import base64
import hashlib
import secrets
import smtplib
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from faces.cli import App, cli
from hosting.contacts import bad_mailboxes
from notices.inbox_server import InboxServer
from notices.outbox import Outbox
from notices.replies import Taken, take_in
from sandbox import Sandbox
from sandbox.desk_mail import (
    exchange_style_bounce,
    gmail_style_bounce,
    person_reply,
    postfix_style_report,
    ticket_auto_reply,
)
from takedown.clock import ManualClock
from takedown.direct_writes import DirectWriter
from takedown.inbox_views import inbox
from takedown.models import Case, Event, Notice
from takedown.settings import Settings
from takedown.store import Store
from tests.conftest import printed_both_ways
from tests.worlds import composer, make_live

HOSTING = "abuse@host-a.test"


@pytest.fixture
def settings(world: Sandbox, tmp_path: Path) -> Settings:
    return Settings.from_env({**world.environment(), "TAKEDOWN_HOME": str(tmp_path)})


@pytest.fixture
def sent(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> tuple[EmailMessage, list[int]]:
    """One notice about two cases, delivered to the hosting provider's abuse desk."""
    urls = {world.url("host-a.test", f"/r/{n}.jpg"): "127.0.40.1" for n in range(2)}
    ids = make_live(store, clock, urls)
    notices = composer(store, settings, clock)
    notices.compose_round(notices.due_case_ids(clock.now()), level="initial", now=clock.now())
    Outbox(store, settings, clock).deliver_due()
    [message] = [m.message for m in world.smtp.received_by(HOSTING)]
    clock.advance(timedelta(hours=2))
    return message, sorted(ids.values())


Take = Callable[[bytes, datetime], Taken]


@pytest.fixture(params=["store", "driver"])
def take(request: pytest.FixtureRequest, store: Store) -> Take:
    """``take_in`` as the SMTP endpoint runs it (the store's session) or as ``takedown inbox take``
    does (the database driver alone): the same SQL, so the same outcome, either way."""

    def through_store(raw: bytes, now: datetime) -> Taken:
        return take_in(store, raw, now=now)

    def through_driver(raw: bytes, now: datetime) -> Taken:
        writer = DirectWriter.open(store.engine.url.render_as_string(hide_password=False))
        assert writer is not None, "the direct writer should handle this store"
        with writer:
            return take_in(writer, raw, now=now)

    return through_store if request.param == "store" else through_driver


def events(store: Store, action: str) -> list[tuple[int, dict[str, object]]]:
    with store.session() as session:
        rows = session.execute(
            select(Event.case_id, Event.detail).where(Event.action == action).order_by(Event.id)
        )
        return [(case_id, dict(detail or {})) for case_id, detail in rows]


def notice_id(store: Store) -> int:
    with store.session() as session:
        return session.scalars(select(Notice.id).where(Notice.recipient == HOSTING)).one()


def notice_row(store: Store) -> tuple[str, object]:
    with store.session() as session:
        notice = session.scalars(select(Notice).where(Notice.recipient == HOSTING)).one()
        return notice.status, notice.next_attempt_at


def test_a_ticket_systems_automatic_reply_records_the_ticket_on_the_cases(
    store: Store, take: Take, clock: ManualClock, sent: tuple[EmailMessage, list[int]]
) -> None:
    notice, case_ids = sent
    taken = take(ticket_auto_reply(notice, sender=HOSTING, ticket="2026113010000017"), now=clock.now())
    assert (taken.kind, taken.ticket, list(taken.case_ids), taken.waiting) == (
        "auto_reply", "2026113010000017", case_ids, False,
    )  # fmt: skip
    assert [case for case, _ in events(store, "provider_ticket")] == case_ids
    assert events(store, "provider_ticket")[0][1]["ticket"] == "2026113010000017"
    with store.reading() as session:
        assert inbox(session, limit=10) == []  # nothing for an analyst: the pipeline dealt with it
        [kept] = inbox(session, limit=10, handled=True)
    assert kept.kind == "auto_reply" and kept.handled_by == "inbox"


def test_a_persons_reply_waits_on_its_cases_and_no_attachment_byte_is_kept(
    store: Store, take: Take, clock: ManualClock, sent: tuple[EmailMessage, list[int]], database_url: str
) -> None:
    notice, case_ids = sent
    marker = f"ATTACHED-BYTES-{secrets.token_hex(16)}".encode()
    screenshot = b"\x89PNG\r\n\x1a\n" + marker * 50
    raw = person_reply(
        notice, sender="jane@host-a.test", text="We suspended the account. Our ticket is ABU-4471.",
        html="<p>We suspended the account.</p><script>alert(1)</script>",
        attachment=("screenshot.png", "image/png", screenshot),
    )  # fmt: skip
    taken = take(raw, clock.now())
    assert (taken.kind, taken.waiting, list(taken.case_ids)) == ("reply", True, case_ids)
    with store.reading() as session:
        [item] = inbox(session, limit=10)
    assert item.text is not None and item.text.startswith("We suspended the account.")
    assert item.attachments == (
        {"name": "screenshot.png", "type": "image/png", "size": len(screenshot),
         "sha256": hashlib.sha256(screenshot).hexdigest()},
    )  # fmt: skip
    assert [case for case, _ in events(store, "provider_replied")] == case_ids
    # the attachment's bytes are nowhere in the store: not raw, not as the mail carried them
    with store.session() as session:
        dumped = "\n".join(
            str(row)
            for table in ("inbox_message", "event", "notice")
            for row in session.execute(text(f"SELECT * FROM {table}"))
        )
    assert marker.decode() not in dumped
    assert base64.b64encode(screenshot)[:60].decode() not in dumped
    if database_url.startswith("sqlite:///"):
        database = Path(database_url.removeprefix("sqlite:///"))
        for file in (database, database.with_name(database.name + "-wal")):
            if file.exists():
                assert marker not in file.read_bytes()


def test_a_reply_without_threading_headers_is_matched_by_the_reference_in_its_subject(
    store: Store, clock: ManualClock, sent: tuple[EmailMessage, list[int]]
) -> None:
    notice, case_ids = sent
    raw = person_reply(notice, sender="noc@host-a.test", text="Which server is this on?", thread=False)
    taken = take_in(store, raw, now=clock.now())
    assert list(taken.case_ids) == case_ids and taken.notice_id is not None


@pytest.mark.parametrize("shape", [gmail_style_bounce, exchange_style_bounce], ids=["webmail", "exchange"])
def test_a_permanent_failure_fails_the_notice_bars_the_mailbox_and_brings_the_next_round_forward(
    store: Store, take: Take, clock: ManualClock, sent: tuple[EmailMessage, list[int]], shape: object
) -> None:
    notice, case_ids = sent
    taken = take(shape(notice, recipient=HOSTING), clock.now())  # type: ignore[operator]
    assert taken.kind == "bounce" and not taken.waiting, taken.problems
    assert notice_row(store)[0] == "failed"
    assert [m.value for m in bad_mailboxes(store)] == [HOSTING]
    with store.session() as session:
        due = session.scalars(select(Case.next_notice_at).where(Case.id.in_(case_ids))).all()
    assert due == [clock.now(), clock.now()]
    assert [case for case, _ in events(store, "notice_bounced")] == case_ids


def test_a_transient_failure_sends_the_same_notice_again_later_and_a_delay_changes_nothing(
    world: Sandbox,
    store: Store,
    take: Take,
    settings: Settings,
    clock: ManualClock,
    sent: tuple[EmailMessage, list[int]],
) -> None:
    notice, _ = sent
    delayed = postfix_style_report(notice, recipient=HOSTING, action="delayed", status="4.2.2")
    assert take(delayed, clock.now()).done == ["delivery delayed (4.2.2): recorded only"]
    assert notice_row(store)[0] == "sent"
    gave_up = postfix_style_report(notice, recipient=HOSTING, action="failed", status="4.2.2")
    take(gave_up, clock.now())
    assert notice_row(store) == ("retry", clock.now() + timedelta(hours=1))
    assert bad_mailboxes(store) == []
    clock.advance(timedelta(hours=1))
    Outbox(store, settings, clock).deliver_due()
    again = [m.message for m in world.smtp.received_by(HOSTING)]
    assert len(again) == 2 and again[1]["Message-ID"] == notice["Message-ID"]


def test_a_report_about_another_address_changes_nothing_and_waits_for_an_analyst(
    store: Store, clock: ManualClock, sent: tuple[EmailMessage, list[int]]
) -> None:
    notice, _ = sent
    taken = take_in(store, gmail_style_bounce(notice, recipient="someone@else.test"), now=clock.now())
    assert taken.waiting and "not abuse@host-a.test: nothing changed" in "; ".join(taken.problems)
    assert notice_row(store)[0] == "sent" and bad_mailboxes(store) == []


def test_the_same_mail_twice_is_taken_in_once_and_a_stranger_waits_with_the_reason(
    store: Store, take: Take, clock: ManualClock, sent: tuple[EmailMessage, list[int]]
) -> None:
    notice, _ = sent
    raw = person_reply(notice, sender="jane@host-a.test", text="Done.")
    assert take(raw, clock.now()).inbox_id is not None
    assert take(raw, clock.now()).inbox_id is None
    assert len(events(store, "provider_replied")) == 2  # two cases, once each
    stranger = b"From: someone@else.test\r\nSubject: hello\r\nMessage-ID: <x@else.test>\r\n\r\nAnything?\r\n"
    taken = take(stranger, clock.now())
    assert taken.waiting and taken.problems == ["not matched to any notice"] and taken.case_ids == ()


def test_a_bounce_handed_over_again_past_the_check_is_not_acted_on_twice(
    world: Sandbox,
    store: Store,
    take: Take,
    settings: Settings,
    clock: ManualClock,
    sent: tuple[EmailMessage, list[int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two readers handed the same report at once both pass the check for a mail taken in before.
    The mail's row is written before anything is acted on, so the one that lost changes nothing:
    here the notice the first copy sent again is not put back to be sent a third time."""
    notice, case_ids = sent
    gave_up = postfix_style_report(notice, recipient=HOSTING, action="failed", status="4.4.1")
    assert take(gave_up, clock.now()).done == [f"notice {notice_id(store)} will be sent again"]
    clock.advance(timedelta(hours=1))
    Outbox(store, settings, clock).deliver_due()
    assert notice_row(store)[0] == "sent"
    monkeypatch.setattr("notices.replies.mail_recorded", lambda *_: False)  # the other reader's view
    again = take(gave_up, clock.now())
    assert (again.inbox_id, again.done) == (None, [])
    assert notice_row(store)[0] == "sent"
    assert len(world.smtp.received_by(HOSTING)) == 2
    assert [case for case, _ in events(store, "notice_bounced_will_retry")] == case_ids


def test_the_smtp_endpoint_records_before_it_accepts_and_asks_again_when_the_store_fails(
    store: Store, clock: ManualClock, sent: tuple[EmailMessage, list[int]]
) -> None:
    notice, _ = sent
    with (
        InboxServer(store, clock, ["reports@hotline.test"], port=0) as server,
        smtplib.SMTP(*server.address) as smtp,
    ):
        smtp.ehlo()
        assert smtp.mail("jane@host-a.test")[0] == 250
        assert smtp.rcpt("someone@hotline.test")[0] == 550
        assert smtp.rcpt("Reports@hotline.test")[0] == 250
        code, answer = smtp.data(person_reply(notice, sender="jane@host-a.test", text="Gone now."))
        assert code == 250 and b"Recorded as inbox message" in answer, answer
        with pytest.raises(smtplib.SMTPSenderRefused) as too_big:
            smtp.sendmail(
                "jane@host-a.test", ["reports@hotline.test"], b"Subject: x\r\n\r\n" + b"a" * 11_000_000
            )
        assert too_big.value.smtp_code == 552
    with store.session() as session:
        session.execute(text("DROP TABLE inbox_message"))  # the store fails under the endpoint
    with (
        InboxServer(store, clock, ["reports@hotline.test"], port=0) as server,
        smtplib.SMTP(*server.address) as smtp,
    ):
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail(
                "jane@host-a.test", ["reports@hotline.test"], b"Subject: x\r\nMessage-ID: <y@h>\r\n\r\nhi\r\n"
            )
        assert refused.value.smtp_code == 451


def test_the_command_takes_mail_from_files_and_lists_what_waits(
    store: Store, settings: Settings, clock: ManualClock, sent: tuple[EmailMessage, list[int]], tmp_path: Path
) -> None:
    import json

    notice, case_ids = sent
    (tmp_path / "reply.eml").write_bytes(person_reply(notice, sender="jane@host-a.test", text="Removed it."))
    (tmp_path / "ack.eml").write_bytes(ticket_auto_reply(notice, sender=HOSTING, ticket="555123"))
    runner = CliRunner()
    app = App(settings=settings, clock=clock, _store=store)
    took = runner.invoke(
        cli, ["inbox", "take", "--json", str(tmp_path / "ack.eml"), str(tmp_path / "reply.eml")], obj=app
    )
    assert took.exit_code == 0, took.output
    rows = [json.loads(line) for line in took.output.splitlines()]
    assert [(r["kind"], r["ticket"], r["cases"]) for r in rows] == [
        ("auto_reply", "555123", case_ids),
        ("reply", None, case_ids),
    ]
    listed = runner.invoke(cli, ["inbox", "list", "--json"], obj=app)
    assert [json.loads(line)["kind"] for line in listed.output.splitlines()] == ["reply"]
    missing = runner.invoke(cli, ["inbox", "take", str(tmp_path / "nothing.eml")], obj=app)
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_a_mail_recorded_twice_is_kept_once_even_past_the_readers_own_check(
    store: Store, clock: ManualClock
) -> None:
    """Two readers handed the same mail at once both pass ``take_in``'s check; the store keeps one."""
    from takedown.inbox import Received, record

    mail = Received("mail", "reply", "jane@host-a.test", mail_id="<same@host-a.test>", text="Gone.")
    with store.session() as session:
        first = record(session, mail, now=clock.now())
    with store.session() as session:
        assert record(session, mail, now=clock.now()) is None
    with store.reading() as session:
        assert [item.id for item in inbox(session, limit=10)] == [first]


def test_the_inbox_reads_the_same_through_the_driver_alone(store: Store, clock: ManualClock) -> None:
    """``inbox list`` at the terminal reads through sqlite3 or psycopg alone (no SQLAlchemy to
    import): each message as the mapped models hold it (its cases and attachments decoded, times
    in UTC, handled or waiting), and the command prints what it prints through the store."""
    import json
    from dataclasses import astuple

    from takedown.direct_reads import DirectReader
    from takedown.inbox import Received, mark_handled, record
    from takedown.inbox_views import inbox_message
    from takedown.models import InboxMessage

    attachment = {"filename": "proof 'ünïcode'.pdf", "content_type": "application/pdf", "size": 12}
    with store.session() as session:
        said = Received("mail", "reply", "jane@host-a.test", case_ids=(3, 1), subject="Re: notice",
                        text="Gone.", ticket="T-9", attachments=(attachment,))  # fmt: skip
        reply = record(session, said, now=clock.now())
        clock.advance(timedelta(minutes=5))
        record(
            session,
            Received("mail", "auto_reply", "robot@host-a.test", subject="Out of office"),
            now=clock.now(),
        )
        asked = record(session, Received("page", "need_information", "desk@host-b.test"), now=clock.now())
        assert reply is not None and asked is not None
        mark_handled(session, [asked], actor="analyst:ana", now=clock.now())
    with store.reading() as session:
        held = {
            row.id: (row.id, row.received_at, row.channel, row.kind, row.sender, tuple(row.case_ids),
                     row.notice_id, row.subject, row.text, row.ticket, tuple(row.attachments), row.problem,
                     row.handled_at, row.handled_by, row.handled_at is None)
            for row in session.scalars(select(InboxMessage))
        }  # fmt: skip
        through_session = inbox(session, limit=10)
    url = store.engine.url.render_as_string(hide_password=False)
    with DirectReader.open(url) as direct:  # type: ignore[union-attr]
        waiting = inbox(direct, limit=10)
        handled = inbox(direct, limit=10, handled=True)
        one = inbox_message(direct, reply)
        none = inbox_message(direct, 999)
    assert [astuple(item) for item in waiting] == [held[reply]] and waiting == through_session
    assert [astuple(item) for item in handled] == sorted((held[i] for i in held if i != reply), reverse=True)
    assert one == waiting[0] and none is None and one.attachments == (attachment,) and one.case_ids == (1, 3)
    listed, *_ = printed_both_ways(
        store, clock, ["inbox", "list", "--json"], ["inbox", "list"], ["inbox", "list", "--handled", "--json"]
    )
    assert json.loads(listed)["cases"] == [1, 3]
