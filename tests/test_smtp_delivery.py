"""SMTP delivery against the sandbox's server configured as a real relay: STARTTLS and AUTH."""

from __future__ import annotations

import gc
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from notices.delivery import DeliveryOutcome, SMTPTransport
from sandbox.smtp_server import SMTPSink
from takedown.settings import Settings
from tests.conftest import serving_tls

MESSAGE = b"From: reports@hotline.test\r\nTo: abuse@host.test\r\nSubject: test\r\n\r\nbody\r\n"


@pytest.fixture(scope="module")
def relay(authority: trustme.CA) -> Iterator[SMTPSink]:
    sink = SMTPSink(tls_context=serving_tls(authority), credentials=("notifier", "s3cret-pass")).start()
    yield sink
    sink.stop()


def settings_for(relay: SMTPSink, tmp_path: Path, authority: trustme.CA | None, **extra: str) -> Settings:
    env = {
        "TAKEDOWN_HOME": str(tmp_path),
        "TAKEDOWN_SMTP_HOST": relay.address[0],
        "TAKEDOWN_SMTP_PORT": str(relay.address[1]),
        "TAKEDOWN_SMTP_STARTTLS": "1",
        "TAKEDOWN_SMTP_USERNAME": "notifier",
        "TAKEDOWN_SMTP_PASSWORD": "s3cret-pass",
    }
    if authority is not None:
        path = tmp_path / "ca.pem"
        authority.cert_pem.write_to_path(str(path))
        env["TAKEDOWN_SMTP_CA_FILE"] = str(path)
    return Settings.from_env({**env, **extra})


def send(settings: Settings) -> tuple[DeliveryOutcome, str]:
    transport = SMTPTransport(settings)
    try:
        attempt = transport.send("reports@hotline.test", "abuse@host.test", MESSAGE, before_data=lambda: True)
    finally:
        transport.close()
    return attempt.outcome, attempt.detail


def test_starttls_and_login_deliver(relay: SMTPSink, tmp_path: Path, authority: trustme.CA) -> None:
    before = len(relay.messages)
    assert send(settings_for(relay, tmp_path, authority))[0] is DeliveryOutcome.SENT
    assert len(relay.messages) == before + 1


def test_a_wrong_password_is_retried_later_and_never_logged(
    relay: SMTPSink, tmp_path: Path, authority: trustme.CA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = settings_for(relay, tmp_path, authority, TAKEDOWN_SMTP_PASSWORD="wrong-pass")
    outcome, detail = send(settings)
    assert outcome is DeliveryOutcome.RETRY and "login refused" in detail
    assert "wrong-pass" not in caplog.text and "wrong-pass" not in repr(settings)


def test_an_unverifiable_certificate_is_refused(relay: SMTPSink, tmp_path: Path) -> None:
    outcome, detail = send(settings_for(relay, tmp_path, None))
    assert outcome is DeliveryOutcome.RETRY and "CERTIFICATE_VERIFY_FAILED" in detail


def test_a_relay_that_insists_on_tls_refuses_plain_text(
    relay: SMTPSink, tmp_path: Path, authority: trustme.CA
) -> None:
    outcome, detail = send(settings_for(relay, tmp_path, authority, TAKEDOWN_SMTP_STARTTLS="0"))
    assert outcome is DeliveryOutcome.RETRY
    assert "does not offer what is configured: SMTP AUTH extension not supported" in detail


@pytest.mark.parametrize(
    "refusal",
    [
        {"TAKEDOWN_SMTP_STARTTLS": "0"},  # no TLS, so no AUTH offered
        {"TAKEDOWN_SMTP_PASSWORD": "wrong-pass"},
        {"TAKEDOWN_SMTP_CA_FILE": ""},  # its certificate cannot be verified
    ],
    ids=["plain text", "wrong password", "unverifiable certificate"],
)
def test_a_relay_that_refuses_the_connection_leaves_no_socket_open(
    relay: SMTPSink, tmp_path: Path, authority: trustme.CA, refusal: dict[str, str]
) -> None:
    settings = settings_for(relay, tmp_path, authority, **refusal)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        outcome, _detail = send(settings)
        gc.collect()
    assert outcome is DeliveryOutcome.RETRY
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
