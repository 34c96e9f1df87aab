"""Notices end to end on the sandbox: composed per recipient, rendered, X-ARF attached, delivered
over SMTP to the sandbox's server, exactly once whatever crashes in between."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import xarf
from click.testing import CliRunner
from sqlalchemy import select, update

from faces.cli import App, cli
from hosting.contact_entries import list_contacts
from hosting.contact_writes import set_contact
from hosting.contacts import ContactBook
from notices.message import header_text, signed_content
from notices.outbox import MAX_ATTEMPTS, Outbox
from sandbox import Sandbox
from takedown import exitcodes
from takedown.clock import ManualClock
from takedown.models import Case, Check, Notice
from takedown.revisits import Fetch, record_fetches
from takedown.settings import Settings
from takedown.store import Store
from tests.worlds import composer, make_live


@pytest.fixture
def settings(world: Sandbox, tmp_path: Path) -> Settings:
    return Settings.from_env({**world.environment(), "TAKEDOWN_HOME": str(tmp_path)})


def make_due(store: Store, case_id: int, clock: ManualClock) -> None:
    """What the chase does when a reminder or escalation falls due."""
    with store.session() as session:
        session.query(Case).filter_by(id=case_id).update({"next_notice_at": clock.now()})


def round_and_send(store: Store, settings: Settings, clock: ManualClock, **outbox_options: object) -> Outbox:
    notices = composer(store, settings, clock)
    notices.compose_round(notices.due_case_ids(clock.now()), level="initial", now=clock.now())
    outbox = Outbox(store, settings, clock, **outbox_options)  # type: ignore[arg-type]
    outbox.deliver_due()
    return outbox


def decoded(message: EmailMessage) -> str:
    """Every header and every part's content, decoded, as a recipient's mail client reads it (the
    signature left out: it is random bytes, which may hold any short string)."""
    leaves = [
        part for part in message.walk() if not part.is_multipart() and "pkcs7" not in part.get_content_type()
    ]
    contents = [(part.get_payload(decode=True) or b"").decode("utf-8", "replace") for part in leaves]
    return "\n".join([str(value) for _, value in message.items()] + contents)


def received(world: Sandbox, recipient: str) -> list[EmailMessage]:
    return [m.message for m in world.smtp.received_by(recipient)]


def test_one_notice_per_recipient_lists_all_its_cases_with_a_report_each(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    a_urls = [world.url("host-a.test", f"/gallery/{n}.jpg") for n in range(3)]
    b_url = world.url("host-b.test", "/x.jpg")
    ids = make_live(store, clock, {**dict.fromkeys(a_urls, "127.0.40.1"), b_url: "127.0.41.1"})
    round_and_send(store, settings, clock)

    [to_a] = received(world, "abuse@host-a.test")
    [to_b] = received(world, "abuse@host-b.test")
    assert len(world.smtp.messages) == 2
    assert b_url in to_b.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert to_a["From"] == "Sandbox Hotline <reports@hotline.test>"
    assert to_a["To"] == "abuse@host-a.test" and to_a["Auto-Submitted"] is None  # ticket systems may answer
    assert to_a["X-Auto-Response-Suppress"] == "OOF"
    assert str(to_a["Subject"]).startswith("[TD-") and "3 URLs" in str(to_a["Subject"])
    text = to_a.get_body(preferencelist=("plain",))
    assert text is not None
    body = text.get_content()
    for url in a_urls:
        assert url in body  # exactly as recorded
    assert b_url not in body
    assert "Alpha Hosting B.V." in body and "AS64540" in body and "/ripe/ip/127.0.40.1" in body
    attachments = {a.get_filename(): a for a in signed_content(to_a).iter_attachments()}
    assert sorted(attachments) == sorted(f"xarf-case-{ids[url]}.json" for url in a_urls)
    with store.session() as session:
        notice = session.query(Notice).filter_by(recipient="abuse@host-a.test").one()
        assert notice.status == "sent" and notice.message_id == to_a["Message-ID"]
        assert all(session.get(Case, ids[url]).first_notice_at == clock.now() for url in a_urls)  # type: ignore[union-attr]

    round_and_send(store, settings, clock)  # a second round finds nothing due
    assert len(world.smtp.messages) == 2


def test_every_attached_report_passes_strict_xarf_validation_and_holds_no_content(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    url = world.url("host-a.test", "/v/clip.mp4")
    make_live(store, clock, {url: "127.0.40.1"})
    round_and_send(store, settings, clock)
    [message] = received(world, "abuse@host-a.test")
    [attachment] = list(signed_content(message).iter_attachments())
    report = json.loads(attachment.get_content())
    parsed = xarf.parse(report, strict=True)
    assert parsed.errors == [] and parsed.report is not None
    assert (report["type"], report["category"], report["url"]) == ("csam", "content", url)
    assert report["hash_values"] == {"sha256": "ab" * 32, "md5": "cd" * 16}
    assert report["source_identifier"] == "127.0.40.1" and report["asn"] == 64540
    assert report["classification"] == "baseline"  # none recorded: TAKEDOWN_CSAM_CLASSIFICATION
    evidence = json.loads(base64.b64decode(report["evidence"][0]["payload"]))
    assert set(evidence) == {"checked_at", "http_status", "connected_ip", "sha256", "md5"}


def test_the_analysts_classification_is_reported(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    url = world.url("host-a.test", "/graded.jpg")
    ids = make_live(store, clock, {url: "127.0.40.1"})
    with store.session() as session:
        session.query(Case).filter_by(id=ids[url]).update({"classification": "A1"})
    round_and_send(store, settings, clock)
    [message] = received(world, "abuse@host-a.test")
    [attachment] = list(signed_content(message).iter_attachments())
    assert json.loads(attachment.get_content())["classification"] == "A1"


def test_the_report_gives_what_the_latest_live_check_saw(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    """Content that changed while it stayed up: the notice reports the body seen last, when it
    was seen, not the first one."""
    url = world.url("host-a.test", "/changed.jpg")
    ids = make_live(store, clock, {url: "127.0.40.1"})
    clock.advance(timedelta(hours=2))
    with store.session() as session:
        later = Fetch(ids[url], clock.now(), http_status=200, final_url=url, connected_ip="127.0.40.1",
                      sha256="ef" * 32, md5="01" * 16, size_bytes=99)  # fmt: skip
        record_fetches(session, [later])
    round_and_send(store, settings, clock)
    [message] = received(world, "abuse@host-a.test")
    [attachment] = list(signed_content(message).iter_attachments())
    content = attachment.get_content().decode()
    assert "ef" * 32 in content and "ab" * 32 not in content
    assert clock.now().strftime("%Y-%m-%dT%H:%M") in content


@pytest.mark.parametrize(
    ("content_type", "media_type"), [("video/mp4", "video"), ("image/png", "image"), (None, "mixed")]
)
def test_the_reports_media_type_is_what_the_live_check_was_served_as(
    world: Sandbox,
    store: Store,
    settings: Settings,
    clock: ManualClock,
    content_type: str | None,
    media_type: str,
) -> None:
    url = world.url("host-a.test", f"/typed-{media_type}")
    ids = make_live(store, clock, {url: "127.0.40.1"})
    with store.session() as session:
        session.query(Check).filter_by(case_id=ids[url]).update({"content_type": content_type})
    round_and_send(store, settings, clock)
    [message] = received(world, "abuse@host-a.test")
    [attachment] = list(signed_content(message).iter_attachments())
    assert json.loads(attachment.get_content())["media_type"] == media_type


def test_the_contact_books_language_is_used(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    set_contact(store, "asn", "64541", email="abuse@host-b.test", language="de", actor="a", clock=clock)
    make_live(store, clock, {world.url("host-b.test", "/x.jpg"): "127.0.41.1"})
    round_and_send(store, settings, clock)
    [message] = received(world, "abuse@host-b.test")
    assert signed_content(message)["Content-Language"] == "de"
    assert "Löschersuchen" in str(message["Subject"])
    html = message.get_body(preferencelist=("html",))
    assert html is not None and '<html lang="de">' in html.get_content()


def test_a_reminder_lists_the_history_and_answers_the_first_notice(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    url = world.url("host-a.test", "/1.jpg")
    ids = make_live(store, clock, {url: "127.0.40.1"})
    round_and_send(store, settings, clock)
    clock.advance(timedelta(days=2))
    notices = composer(store, settings, clock)
    notices.compose_round([ids[url]], level="reminder", now=clock.now())  # not due: nothing composed
    make_due(store, ids[url], clock)
    notices.compose_round([ids[url]], level="reminder", now=clock.now())
    Outbox(store, settings, clock).deliver_due()
    first, reminder = received(world, "abuse@host-a.test")
    assert str(reminder["Subject"]).split("] ", 1)[1].startswith("Reminder: takedown request")
    assert reminder["In-Reply-To"] == first["Message-ID"]
    body = reminder.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Notified before: notice to the hosting provider" in body
    # A second reminder answers the latest notice of the thread, not the first.
    clock.advance(timedelta(days=3))
    make_due(store, ids[url], clock)
    notices.compose_round([ids[url]], level="reminder", now=clock.now())
    Outbox(store, settings, clock).deliver_due()
    *_, last = received(world, "abuse@host-a.test")
    assert last["In-Reply-To"] == reminder["Message-ID"] != first["Message-ID"]


def test_an_escalation_goes_to_the_registrar_and_the_upstream(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    url = world.url("host-a.test", "/1.jpg")
    ids = make_live(store, clock, {url: "127.0.40.1"})
    round_and_send(store, settings, clock)
    clock.advance(timedelta(days=7))
    make_due(store, ids[url], clock)
    notices = composer(store, settings, clock)
    notices.compose_round([ids[url]], level="escalation", now=clock.now())
    Outbox(store, settings, clock).deliver_due()
    [to_registrar] = received(world, "abuse@registrar.test")
    [to_upstream] = received(world, "abuse@transit.test")
    assert len(received(world, "abuse@host-a.test")) == 1  # the host is not escalated to
    registrar_body = to_registrar.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "as the domain's registrar" in registrar_body and "suspend the domain" in registrar_body
    upstream_body = to_upstream.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "upstream network provider" in upstream_body and "stop routing it" in upstream_body
    assert "Notified before: notice to the hosting provider" in upstream_body


def test_a_cdn_is_asked_to_pass_the_report_on_and_disclose_the_origin(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    make_live(store, clock, {world.url("cdn-fronted.test", "/v/1.mp4"): "127.0.42.1"})
    round_and_send(store, settings, clock)
    [message] = received(world, "abuse@sandcdn.test")
    body = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "pass this report on to your customer" in body and "origin server" in body


def test_without_a_hosting_mailbox_the_registrar_is_written_to(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    make_live(store, clock, {world.url("nomail.test", "/p/1"): "127.0.43.1"})
    round_and_send(store, settings, clock)
    assert [m["To"] for m in received(world, "abuse@registrar.test")] == ["abuse@registrar.test"]


def test_hostile_urls_and_mailboxes_cannot_inject_headers_or_markup(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    hostile = world.url("host-a.test", "/{{ 7*7 }}/<script>alert(1)</script>/%0D%0ABcc:%20x@y.test")
    ids = make_live(store, clock, {hostile: "127.0.40.1", world.url("evil.test", "/e"): "127.0.44.1"})
    with store.session() as session:
        recorded = session.get(Case, ids[hostile])
        assert recorded is not None
        hostile = recorded.url  # whatever intake kept is what must appear, unchanged
    round_and_send(store, settings, clock)
    for message in (m.message for m in world.smtp.messages):
        assert message["Bcc"] is None and "victim@other.test" not in str(message.get("To"))
    [message] = received(world, "abuse@host-a.test")
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert hostile in text and "{{ 7*7 }}" in text  # printed as written, never evaluated
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert received(world, "victim@other.test") == []
    assert header_text("Subject\r\nBcc: x@y.test") == "Subject Bcc: x@y.test"


def test_a_crash_after_claiming_sends_once_after_recovery(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    make_live(store, clock, {world.url("host-a.test", "/1.jpg"): "127.0.40.1"})

    def crash(point: str) -> None:
        if point == "claimed":
            raise SystemExit("killed")

    with pytest.raises(SystemExit):
        round_and_send(store, settings, clock, checkpoint=crash)
    Outbox(store, settings, clock).deliver_due()  # the claim is still fresh: nobody else sends it
    assert world.smtp.messages == []
    clock.advance(timedelta(minutes=16))
    summary = Outbox(store, settings, clock).deliver_due()
    assert summary.recovered["retry"] == 1 and summary.counts == {"sent": 1}
    Outbox(store, settings, clock).deliver_due()
    assert len(received(world, "abuse@host-a.test")) == 1


@pytest.mark.parametrize(("point", "delivered"), [("transmitting", 0), ("answered", 1)])
def test_a_crash_inside_the_transmission_window_never_sends_twice(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock, point: str, delivered: int
) -> None:
    make_live(store, clock, {world.url("host-a.test", "/1.jpg"): "127.0.40.1"})

    def crash(at: str) -> None:
        if at == point:
            raise SystemExit("killed")

    with pytest.raises(SystemExit):
        round_and_send(store, settings, clock, checkpoint=crash)
    clock.advance(timedelta(minutes=16))
    summary = Outbox(store, settings, clock).deliver_due()
    assert summary.recovered["uncertain"] == 1
    for _ in range(3):
        clock.advance(timedelta(hours=1))
        Outbox(store, settings, clock).deliver_due()
    assert len(received(world, "abuse@host-a.test")) == delivered
    with store.session() as session:
        notice = session.query(Notice).one()
        assert notice.status == "uncertain"  # listed for an analyst, counted as sent in the history


def test_a_sender_presumed_dead_sends_nothing_once_its_successor_settled_its_claim(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    make_live(store, clock, {world.url("host-a.test", "/1.jpg"): "127.0.40.1"})
    notices = composer(store, settings, clock)
    notices.compose_round(notices.due_case_ids(clock.now()), level="initial", now=clock.now())

    def successor_takes_over(point: str) -> None:
        if point == "claimed":  # the old sender stalls here; its lock is taken over meanwhile
            Outbox(
                store, settings, clock, sender_id="successor", dead_senders=frozenset({"old"})
            ).deliver_due()

    Outbox(store, settings, clock, sender_id="old", checkpoint=successor_takes_over).deliver_due()
    assert len(received(world, "abuse@host-a.test")) == 1
    with store.session() as session:
        notice = session.query(Notice).one()
        assert (notice.status, notice.claimed_by) == ("sent", "successor")


def test_a_connection_lost_after_data_is_uncertain_and_not_resent(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    world.smtp.drop_after_data = 1
    make_live(store, clock, {world.url("host-a.test", "/1.jpg"): "127.0.40.1"})
    round_and_send(store, settings, clock)
    clock.advance(timedelta(days=1))
    Outbox(store, settings, clock).deliver_due()
    assert len(received(world, "abuse@host-a.test")) == 1
    with store.session() as session:
        assert session.query(Notice).one().status == "uncertain"


def test_temporary_failures_are_retried_later_and_sent_once(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    world.smtp.temporary_failures = 1
    make_live(store, clock, {world.url("host-a.test", "/1.jpg"): "127.0.40.1"})
    round_and_send(store, settings, clock)
    with store.session() as session:
        notice = session.query(Notice).one()
        assert (notice.status, notice.next_attempt_at) == ("retry", clock.now() + timedelta(minutes=5))
    Outbox(store, settings, clock).deliver_due()
    assert world.smtp.messages == []
    clock.advance(timedelta(minutes=5))
    assert Outbox(store, settings, clock).deliver_due().counts == {"sent": 1}
    assert len(received(world, "abuse@host-a.test")) == 1


def test_retries_running_out_fail_the_notice_without_blaming_the_mailbox(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    world.smtp.temporary_failures = 1
    make_live(store, clock, {world.url("host-a.test", "/1.jpg"): "127.0.40.1"})
    notices = composer(store, settings, clock)
    notices.compose_round(notices.due_case_ids(clock.now()), level="initial", now=clock.now())
    with store.session() as session:
        session.query(Notice).update({"attempts": MAX_ATTEMPTS - 1})
    Outbox(store, settings, clock).deliver_due()
    with store.session() as session:
        assert session.query(Notice).one().status == "failed"
    assert [e for e in list_contacts(store) if e.value == "abuse@host-a.test"] == []


def test_a_permanent_refusal_marks_the_mailbox_bad_and_bars_it(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    world.smtp.rcpt_replies["abuse@host-a.test"] = "550 5.1.1 No such user"
    make_live(store, clock, {world.url("host-a.test", "/1.jpg"): "127.0.40.1"})
    round_and_send(store, settings, clock)
    with store.session() as session:
        notice = session.query(Notice).one()
        assert notice.status == "failed" and "550" in (notice.last_error or "")
    [entry] = [e for e in list_contacts(store) if e.value == "abuse@host-a.test"]
    assert entry.bad_since == clock.now() and "550" in (entry.note or "")
    assert "abuse@host-a.test" in ContactBook.load(store).barred


def test_notices_commands(world: Sandbox, store: Store, settings: Settings, clock: ManualClock) -> None:
    url = world.url("host-a.test", "/1.jpg")
    [case_id] = make_live(store, clock, {url: "127.0.40.1"}).values()
    app = App(settings=settings, clock=clock, _store=store)
    runner = CliRunner()
    preview = runner.invoke(cli, ["notices", "preview", "abuse@host-a.test"], obj=app)
    assert preview.exit_code == 0, preview.output
    assert "To: abuse@host-a.test" in preview.output and url in preview.output
    assert f"Attachments: xarf-case-{case_id}.json\n" in preview.output  # the signed notice's own
    assert "Content-Language: en\n" in preview.output
    assert world.smtp.messages == []  # a preview sends nothing
    missing = runner.invoke(cli, ["notices", "preview", "999"], obj=app)
    assert missing.exit_code == exitcodes.NOT_FOUND
    sent = runner.invoke(cli, ["notices", "send", "--due", "--json"], obj=app)
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.output)["delivered"] == {"sent": 1}
    # Unless told a level, a case's preview is of its next round as the chase policy has it.
    after_one = runner.invoke(cli, ["notices", "preview", str(case_id), "--json"], obj=app)
    assert after_one.exit_code == 0, after_one.output
    assert json.loads(after_one.output)["level"] == "reminder"
    assert len(world.smtp.messages) == 1  # still only the one sent
    listed = runner.invoke(cli, ["notices", "list", "--status", "sent"], obj=app)
    assert "sent" in listed.output and "abuse@host-a.test" in listed.output and "1 case(s)" in listed.output
    silent = make_live(store, clock, {world.url("nomail.test", "/2.jpg"): "127.0.43.1"})
    set_contact(store, "email", "abuse@registrar.test", never_notify=True, actor="a", clock=clock)
    nobody = runner.invoke(cli, ["notices", "preview", str(*silent.values()), "--level", "reminder"], obj=app)
    assert nobody.exit_code == exitcodes.PARTIAL  # the case exists; nobody can be written to
    assert "nobody would be notified" in nobody.output


def test_several_connections_deliver_each_notice_once_and_record_it(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    """Side-by-side SMTP connections (TAKEDOWN_SMTP_CONNECTIONS, 4 by default) against a slow relay:
    every notice arrives once, and each is recorded sent with its cases marked notified."""
    assert settings.smtp_connections == 4
    world.smtp.stall_after_data = 0.2  # a relay slow enough that the connections overlap
    try:
        urls = {
            world.url("host-a.test", "/1.jpg"): "127.0.40.1",
            world.url("host-b.test", "/2.jpg"): "127.0.41.1",
            world.url("cdn-fronted.test", "/3.jpg"): "127.0.42.1",
        }
        ids = make_live(store, clock, urls)
        outbox = round_and_send(store, settings, clock)
    finally:
        world.smtp.stall_after_data = 0.0
    message_ids = [m.message["Message-ID"] for m in world.smtp.messages]
    assert len(message_ids) == 3 and len(set(message_ids)) == 3
    assert outbox.deliver_due().counts == {}  # nothing left to send, nothing sent twice
    with store.session() as session:
        assert {n.status for n in session.query(Notice)} == {"sent"}
        assert all(session.get(Case, case_id).first_notice_at is not None for case_id in ids.values())


def test_a_crash_in_the_middle_of_a_chunk_never_sends_twice_and_loses_nothing(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    """One connection claims a chunk of notices in one commit and records their answers in
    another. Killed after the second answer: the two answered become ``uncertain`` (presumed
    delivered, never resent), the rest of the chunk is sent once after the lease."""
    make_live(
        store,
        clock,
        {
            world.url("host-a.test", "/1.jpg"): "127.0.40.1",
            world.url("host-b.test", "/2.jpg"): "127.0.41.1",
            world.url("nomail.test", "/3.jpg"): "127.0.43.1",
        },
    )
    answers = 0
    one_connection = dataclasses.replace(settings, smtp_connections=1)

    def crash(point: str) -> None:
        nonlocal answers
        answers += point == "answered"
        if answers == 2:
            raise SystemExit("killed")

    with pytest.raises(SystemExit):
        round_and_send(store, one_connection, clock, checkpoint=crash, chunk=16)
    with store.session() as session:
        total = session.query(Notice).count()
    assert total >= 3 and len(world.smtp.messages) == 2
    clock.advance(timedelta(minutes=16))
    summary = Outbox(store, settings, clock).deliver_due()
    assert summary.recovered == {"retry": total - 2, "uncertain": 2}
    assert summary.counts == {"sent": total - 2}
    message_ids = [m.message["Message-ID"] for m in world.smtp.messages]
    assert len(message_ids) == total == len(set(message_ids))
    with store.session() as session:
        statuses = sorted(n.status for n in session.query(Notice))
    assert statuses == ["sent"] * (total - 2) + ["uncertain"] * 2


def test_claims_a_stopped_connection_did_not_start_are_given_back_at_once(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    """When one of several connections fails, the others stop; what they had claimed and not
    started goes back to the outbox at once, not after the lease, and is sent once later."""
    make_live(
        store,
        clock,
        {world.url("host-a.test", "/1.jpg"): "127.0.40.1", world.url("host-b.test", "/2.jpg"): "127.0.41.1"},
    )
    notices = composer(store, settings, clock)
    notices.compose_round(notices.due_case_ids(clock.now()), level="initial", now=clock.now())
    outbox = Outbox(store, settings, clock)
    with store.session() as session:
        ids = sorted(session.scalars(select(Notice.id)))
    stopped = threading.Event()
    stopped.set()  # another connection has failed
    assert list(outbox._send_chunks(iter([ids]), outbox.transport, stop=stopped)) == []
    assert world.smtp.messages == []
    with store.session() as session:
        assert {(n.status, n.attempts, n.claimed_by) for n in session.query(Notice)} == {("pending", 0, None)}
    assert Outbox(store, settings, clock).deliver_due().counts == {"sent": len(ids)}  # no lease to wait out
    assert len(world.smtp.messages) == len(ids)


def test_an_analyst_settles_notices_in_doubt_from_the_command_line(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    url = world.url("host-a.test", "/doubt.jpg")
    make_live(store, clock, {url: "127.0.40.1"})
    notices = composer(store, settings, clock)
    notices.compose_round(notices.due_case_ids(clock.now()), level="initial", now=clock.now())
    with store.session() as session:
        notice_id = session.scalars(select(Notice.id)).one()
        session.execute(update(Notice).values(status="uncertain", sent_at=clock.now()))
    app = App(settings=settings, clock=clock, _store=store)
    runner = CliRunner()
    resend = runner.invoke(cli, ["notices", "settle", str(notice_id), "--resend", "--json"], obj=app)
    assert resend.exit_code == 0, resend.output
    assert json.loads(resend.output) == {"settled": [notice_id], "not_in_doubt": [], "delivered": False}
    Outbox(store, settings, clock).deliver_due()
    [sent] = world.smtp.messages  # sent again, as the analyst asked, with its own Message-ID
    with store.session() as session:
        notice = session.get_one(Notice, notice_id)
        assert notice.status == "sent" and sent.message["Message-ID"] == notice.message_id
    twice = runner.invoke(cli, ["notices", "settle", str(notice_id), "--delivered"], obj=app)
    assert twice.exit_code == exitcodes.NOT_FOUND and "not in doubt" in twice.output
    assert runner.invoke(cli, ["notices", "settle", str(notice_id)], obj=app).exit_code == exitcodes.USAGE


def test_a_notice_says_the_content_is_on_a_recognised_hash_list_and_never_which(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    from takedown.hash_list_import import HashRow, ReadHashRow, import_hash_list

    row = ReadHashRow(2, HashRow(sha256="ab" * 32, category="csam", reference="SECRET-ENTRY-7"))
    import_hash_list(store.session, iter([row]), name="secret-list", version="v9", actor="t", clock=clock)
    make_live(store, clock, {world.url("host-a.test", "/known.jpg"): "127.0.40.1"})
    round_and_send(store, settings, clock)
    [received] = world.smtp.messages
    text = received.message.get_body(preferencelist=("plain",)).get_content()
    assert "It matches a recognised hash list of known child sexual abuse imagery." in text
    [report] = [part for part in signed_content(received.message).iter_attachments()]
    assert "matches a recognised hash list" in json.loads(report.get_content())["description"]
    whole = decoded(received.message)
    assert "SECRET-ENTRY-7" not in whole and "secret-list" not in whole and "v9" not in whole


def test_each_notice_carries_a_link_to_its_own_recipients_page(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    from takedown.provider_access import check_access, provider_key

    secret = "notice-link-test-key-0123456789abcdefgh"
    linked = dataclasses.replace(settings, provider_key=secret, public_url="https://hotline.test/td")
    make_live(store, clock, {world.url("host-a.test", "/1.jpg"): "127.0.40.1",
                             world.url("host-b.test", "/2.jpg"): "127.0.41.1"})  # fmt: skip
    round_and_send(store, linked, clock)
    for recipient in ("abuse@host-a.test", "abuse@host-b.test"):
        [message] = received(world, recipient)
        text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
        [link] = [line for line in text.splitlines() if line.startswith("https://hotline.test/td/provider/")]
        assert f'<a href="{link}">' in html
        with store.reading() as session:
            access = check_access(session, provider_key(secret), link.rsplit("/", 1)[1], now=clock.now())
        assert (access.recipient, access.message_id) == (recipient, message["Message-ID"])


def test_without_a_public_address_notices_carry_no_link(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    keyed = dataclasses.replace(settings, provider_key="notice-link-test-key-0123456789abcdefgh")
    make_live(store, clock, {world.url("host-a.test", "/1.jpg"): "127.0.40.1"})
    round_and_send(store, keyed, clock)
    [message] = received(world, "abuse@host-a.test")
    assert "/provider/" not in decoded(message)
