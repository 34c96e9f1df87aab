"""Signed notices: every notice the sandbox's abuse desks receive verifies with a standard tool
(``openssl smime -verify``) against the CA the hotline's certificate comes from; a changed byte
does not; and no notice is sent while it cannot be signed."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hosting.contact_writes import set_contact
from notices.outbox import Outbox
from notices.signing import NoticeSigner, SigningUnavailable, signer_for
from sandbox import Sandbox
from takedown.clock import ManualClock
from takedown.models import Event, Notice
from takedown.settings import Settings
from takedown.store import Store
from tests.worlds import composer, make_live

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(
    OPENSSL is None and not os.environ.get("TAKEDOWN_TEST_REQUIRE_SERVICES"),
    reason="openssl is not installed (apt-get install openssl)",
)


@pytest.fixture
def settings(world: Sandbox, tmp_path: Path) -> Settings:
    return Settings.from_env({**world.environment(), "TAKEDOWN_HOME": str(tmp_path)})


def compose_and_send(store: Store, settings: Settings, clock: ManualClock) -> list[str]:
    """One round for whatever is due, delivered; why the round was held back, if it was."""
    notices = composer(store, settings, clock)
    summary = notices.compose_round(notices.due_case_ids(clock.now()), level="initial", now=clock.now())
    Outbox(store, settings, clock).deliver_due()
    return [summary.unsigned] if summary.unsigned else []


def openssl_verify(message: bytes, root: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None, "openssl is needed to check signatures with a standard tool"
    path = tmp_path / f"notice-{len(list(tmp_path.iterdir()))}.eml"
    path.write_bytes(message)
    return subprocess.run(
        [OPENSSL, "smime", "-verify", "-in", str(path), "-CAfile", str(root), "-out", os.devnull],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


@needs_openssl
def test_every_notice_verifies_with_openssl_and_a_changed_byte_does_not(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    # a German notice: its umlauts travel quoted-printable
    set_contact(store, "asn", "64541", email="abuse@host-b.test", language="de", actor="t", clock=clock)
    make_live(store, clock, {world.url("host-a.test", "/s/1.jpg"): "127.0.40.1",
                             world.url("host-b.test", "/s/2.jpg"): "127.0.41.1"})  # fmt: skip
    assert compose_and_send(store, settings, clock) == []
    received = list(world.smtp.messages)
    assert len(received) == 2
    for mail in received:
        assert mail.message.get_content_type() == "multipart/signed"
        verified = openssl_verify(mail.data, world.authority.root_file, tmp_path)
        assert verified.returncode == 0 and "Verification successful" in verified.stderr, verified.stderr
    german = next(m for m in received if "host-b.test" in m.recipients[0])
    tampered = german.data.replace(
        b"Content-Language: de", b"Content-Language: en", 1
    )  # inside the signed part
    assert tampered != german.data
    refused = openssl_verify(tampered, world.authority.root_file, tmp_path)
    assert refused.returncode != 0 and "Verification successful" not in refused.stderr
    with store.session() as session:  # what is kept is what was sent, signature and all
        kept = session.scalars(select(Notice.message).where(Notice.recipient == "abuse@host-a.test")).one()
    assert kept is not None and kept.encode() in (m.data for m in received)


@pytest.mark.parametrize("trouble", ["missing", "expired", "another address"])
def test_no_notice_is_sent_unsigned_and_the_round_says_why(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock, trouble: str
) -> None:
    if trouble == "missing":
        broken = dataclasses.replace(settings, signing_key=None)
        expected = "TAKEDOWN_SIGNING_KEY is not set"
    elif trouble == "expired":
        key, certificate = world.authority.issue(
            "reports@hotline.test", not_before=datetime(2020, 1, 1, tzinfo=UTC), not_after=clock.now()
        )
        broken = dataclasses.replace(settings, signing_key=str(key), signing_certificate=str(certificate))
        expected = "the signing certificate expired on"
    else:
        key, certificate = world.authority.issue("someone@elsewhere.test")
        broken = dataclasses.replace(settings, signing_key=str(key), signing_certificate=str(certificate))
        expected = "the signing certificate is for someone@elsewhere.test, but notices come from reports@"
    make_live(store, clock, {world.url("host-a.test", "/u/1.jpg"): "127.0.40.1"}).values()
    [why] = compose_and_send(store, broken, clock)
    assert expected in why
    assert world.smtp.messages == []
    with store.session() as session:
        assert session.scalars(select(Notice.id)).all() == []
        [deferred] = session.scalars(select(Event.detail).where(Event.action == "notice_deferred")).all()
    assert deferred["reason"].startswith("notices cannot be signed: ")
    clock.advance(timedelta(hours=1))  # still broken an hour later: held back, and not said again
    assert compose_and_send(store, broken, clock) != []
    with store.session() as session:
        assert len(session.scalars(select(Event.id).where(Event.action == "notice_deferred")).all()) == 1
    clock.advance(timedelta(hours=1))  # fixed: the case's notice goes out, signed, at the next round
    assert compose_and_send(store, settings, clock) == []
    assert [m.message.get_content_type() for m in world.smtp.messages] == ["multipart/signed"]


def test_signing_off_only_by_saying_so_and_bad_files_named(
    world: Sandbox, settings: Settings, tmp_path: Path
) -> None:
    assert signer_for(dataclasses.replace(settings, sign_notices=False)) is None
    assert signer_for(Settings.from_env({**world.environment(), "TAKEDOWN_SIGN_NOTICES": "0"})) is None
    assert isinstance(signer_for(settings), NoticeSigner)
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    with pytest.raises(SigningUnavailable, match=r"TAKEDOWN_SIGNING_CERT=.*not a PEM certificate"):
        NoticeSigner.load(str(world.signing[0]), str(not_pem))
    with pytest.raises(SigningUnavailable, match=r"TAKEDOWN_SIGNING_KEY=.*No such file"):
        NoticeSigner.load(str(tmp_path / "absent.key"), str(world.signing[1]))
    other_key, _ = world.authority.issue("reports@hotline.test")
    with pytest.raises(SigningUnavailable, match="is not for the key"):
        NoticeSigner.load(str(other_key), str(world.signing[1]))


def test_the_scheduler_says_on_the_dashboard_that_notices_cannot_be_signed(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    import threading
    import time

    from schedules.daemon import Cadence, run_daemon
    from takedown.vocabulary import StaffRole
    from tests.console_support import serve_console, sign_in

    url = store.engine.url.render_as_string(hide_password=False)
    unsigned = dataclasses.replace(settings, signing_key=None, database_url=url)
    stop = threading.Event()
    cadence = Cadence(crawl_every=timedelta(hours=1), notify_every=timedelta(seconds=0.2))
    running = threading.Thread(
        target=run_daemon, args=(unsigned, store, clock, cadence), kwargs={"stop": stop}
    )
    running.start()
    warning = (
        "no notice is sent: notices cannot be signed: notices are signed, and TAKEDOWN_SIGNING_KEY is not set"
    )
    try:
        with serve_console(store, clock) as served, served.client() as client:
            served.account("aud", StaffRole.AUDITOR)
            sign_in(client, "aud")
            deadline = time.monotonic() + 60
            while warning not in (page := client.get("/").text) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert warning in page
    finally:
        stop.set()
        running.join(60)


@needs_openssl
def test_the_provider_page_names_the_certificate_as_openssl_prints_it(
    world: Sandbox, store: Store, settings: Settings, clock: ManualClock
) -> None:
    from faces.provider.app import SignedBy
    from takedown.provider_access import issue_token, provider_key
    from tests.console_support import serve_console

    assert OPENSSL is not None
    signer = signer_for(settings)
    assert signer is not None
    printed = subprocess.run(
        [OPENSSL, "x509", "-noout", "-fingerprint", "-sha256", "-in", str(world.signing[1])],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert printed.strip().endswith("=" + signer.fingerprint())
    with store.session() as session:
        session.add(Notice(recipient="abuse@host-a.test", level="initial", message_id="<n@t>", subject="s",
                           status="sent", created_at=clock.now()))  # fmt: skip
    key = provider_key("signing-page-test-key-0123456789abcdef")
    signed_by = SignedBy("reports@hotline.test", signer.fingerprint(), signer.issuer())
    with (
        serve_console(store, clock, provider_key=key, signed_by=signed_by) as served,
        served.client() as client,
    ):
        page = client.get(f"/provider/{issue_token(key, 'abuse@host-a.test', '<n@t>', now=clock.now())}").text
    assert (
        signer.fingerprint() in page and "openssl smime -verify" in page and "CN=Sandbox S/MIME Root" in page
    )
