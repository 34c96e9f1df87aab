"""A reporter who left an address gets one acknowledgement, in their language, saying only that
the report was received; the address is then deleted, and never used twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from notices.acknowledgements import acknowledge_reports
from sandbox.smtp_server import SMTPSink
from takedown.clock import ManualClock
from takedown.models import ReporterAddress
from takedown.portal_reports import claim_acknowledgements, receive_report
from takedown.portals import PortalChange, add_portal
from takedown.settings import Settings
from takedown.store import Store


@pytest.fixture
def sink() -> Iterator[SMTPSink]:
    server = SMTPSink().start()
    try:
        yield server
    finally:
        server.stop()


def settings_for(sink: SMTPSink) -> Settings:
    host, port = sink.address
    return Settings.from_env(
        {
            "TAKEDOWN_SMTP_HOST": host,
            "TAKEDOWN_SMTP_PORT": str(port),
            "TAKEDOWN_NOTICE_FROM": "Hotline <reports@hotline.example>",
        }
    )


def addresses(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count(ReporterAddress.id))) or 0)


def test_one_acknowledgement_in_the_reporters_language_then_the_address_is_gone(
    store: Store, clock: ManualClock, sink: SMTPSink
) -> None:
    with store.session() as session:
        add_portal(
            session,
            "ke",
            PortalChange(
                country="KE", languages=["sw", "en"], partner="Watoto Salama", acknowledgements=True
            ),
            actor="t",
            now=clock.now(),
        )
        swahili = receive_report(
            session,
            "ke",
            ["http://a.example/1"],
            content="images",
            reporter_address="mtu@example.org",
            reporter_language="sw",
            now=clock.now(),
        )
        unsaid = receive_report(
            session,
            "ke",
            ["http://a.example/2"],
            content="videos",
            reporter_address="other@example.org",
            now=clock.now(),
        )
        receive_report(session, "ke", ["http://a.example/3"], content="other", now=clock.now())
    sink.rcpt_replies["later@example.org"] = "450 4.2.1 Mailbox busy"
    with store.session() as session:
        receive_report(
            session,
            "ke",
            ["http://a.example/4"],
            content="other",
            reporter_address="later@example.org",
            now=clock.now(),
        )

    summary = acknowledge_reports(settings_for(sink), store, clock)

    assert (summary.sent, summary.refused, summary.later) == (2, 0, 1)
    by_recipient = {received.recipients[0]: received.message for received in sink.messages}
    message = by_recipient["mtu@example.org"]
    assert message["Subject"] == f"Ripoti yako {swahili.reference} imepokelewa"
    assert message["Auto-Submitted"] == "auto-generated" and message["Content-Language"] == "sw"
    body = message.get_content()
    assert "Watoto Salama" in body and swahili.reference in body and "http" not in body  # no URL, no outcome
    assert by_recipient["other@example.org"]["Content-Language"] == "sw"  # the portal's first language
    assert unsaid.reference in by_recipient["other@example.org"]["Subject"]
    assert addresses(store) == 1  # only the one the server asked to try later

    sink.rcpt_replies.clear()
    again = acknowledge_reports(settings_for(sink), store, clock)
    assert (again.sent, again.later) == (1, 0) and addresses(store) == 0
    assert len(sink.messages) == 3  # each reporter once
    assert acknowledge_reports(settings_for(sink), store, clock).sent == 0


def test_an_interrupted_run_sends_nothing_twice_and_a_week_is_the_limit(
    store: Store, clock: ManualClock
) -> None:
    with store.session() as session:
        add_portal(
            session,
            "ke",
            PortalChange(country="KE", languages=["en"], partner="P", acknowledgements=True),
            actor="t",
            now=clock.now(),
        )
        for n in range(2):
            receive_report(
                session,
                "ke",
                [f"http://b.example/{n}"],
                content="images",
                reporter_address=f"r{n}@example.org",
                now=clock.now(),
            )
    with store.session() as session:  # a run claims both, then dies before sending
        assert len(claim_acknowledgements(session, now=clock.now())) == 2
    with store.session() as session:
        receive_report(
            session,
            "ke",
            ["http://b.example/new"],
            content="images",
            reporter_address="new@example.org",
            now=clock.now(),
        )
    with store.session() as session:
        claimed = claim_acknowledgements(session, now=clock.now())
    assert [ack.address for ack in claimed] == ["new@example.org"]  # the interrupted ones are gone
    assert addresses(store) == 1
    with store.session() as session:
        receive_report(
            session,
            "ke",
            ["http://b.example/old"],
            content="images",
            reporter_address="old@example.org",
            now=clock.now(),
        )
    with store.session() as session:
        assert claim_acknowledgements(session, now=clock.now() + timedelta(days=8)) == []
    assert addresses(store) == 0
