"""Hosting providers' links: a token opens the cases of the notice's recipient and nobody else's,
until it expires or the recipient's links are revoked; a forged or mangled token opens nothing."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from takedown.clock import ManualClock
from takedown.errors import ConfigurationError
from takedown.models import Notice
from takedown.provider_access import (
    ProviderTokenRefused,
    check_access,
    issue_token,
    provider_key,
    read_token,
    revoke,
)
from takedown.store import Store

KEY = provider_key("a-test-key-that-is-long-enough-0123456789")
OTHER_KEY = provider_key("another-key-just-as-long-as-the-first-one!")


def notice_to(store: Store, clock: ManualClock, recipient: str) -> str:
    with store.session() as session:
        message_id = f"<{recipient}.{clock.now().timestamp()}@t>"
        notice = Notice(
            recipient=recipient,
            level="initial",
            message_id=message_id,
            subject="s",
            status="sent",
            created_at=clock.now(),
        )
        session.add(notice)
        return message_id


def refusal(store: Store, token: str, clock: ManualClock, key: bytes = KEY) -> str:
    with store.session() as session, pytest.raises(ProviderTokenRefused) as refused:
        check_access(session, key, token, now=clock.now())
    return refused.value.reason


def test_a_link_opens_its_recipients_notice_until_it_expires(store: Store, clock: ManualClock) -> None:
    notice = notice_to(store, clock, "Abuse@Host-A.test")
    token = issue_token(KEY, "abuse@host-a.test", notice, now=clock.now(), lifetime=timedelta(days=30))
    with store.session() as session:
        access = check_access(session, KEY, token, now=clock.now() + timedelta(days=29))
    assert (access.recipient, access.message_id) == ("abuse@host-a.test", notice)
    assert refusal(store, token, ManualClock(clock.now() + timedelta(days=30))) == "expired"


def test_a_link_is_its_recipients_alone(store: Store, clock: ManualClock) -> None:
    theirs = notice_to(store, clock, "abuse@host-a.test")
    someone_elses = notice_to(store, clock, "abuse@host-b.test")
    aimed_elsewhere = issue_token(KEY, "abuse@host-a.test", someone_elses, now=clock.now())
    assert refusal(store, aimed_elsewhere, clock) == "unknown notice"
    assert (
        refusal(store, issue_token(KEY, "abuse@host-a.test", "<never-sent@t>", now=clock.now()), clock)
        == "unknown notice"
    )
    token = issue_token(KEY, "abuse@host-a.test", theirs, now=clock.now())
    assert refusal(store, token, clock, key=OTHER_KEY) == "forged"


def test_revoking_refuses_every_earlier_link_and_none_made_after(store: Store, clock: ManualClock) -> None:
    notice = notice_to(store, clock, "abuse@host-a.test")
    old = issue_token(KEY, "abuse@host-a.test", notice, now=clock.now())
    clock.advance(timedelta(seconds=1))
    with store.session() as session:
        revoke(session, "ABUSE@host-a.test ", actor="analyst:t", now=clock.now())
    assert refusal(store, old, clock) == "revoked"
    clock.advance(timedelta(milliseconds=5))
    fresh = issue_token(KEY, "abuse@host-a.test", notice, now=clock.now())
    with store.session() as session:
        assert check_access(session, KEY, fresh, now=clock.now()).message_id == notice
        with pytest.raises(ConfigurationError):
            revoke(session, "not-an-address", actor="analyst:t", now=clock.now())


def test_a_changed_or_mangled_token_opens_nothing(clock: ManualClock) -> None:
    token = issue_token(KEY, "abuse@host-a.test", "<7@t>", now=clock.now())
    body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["r"] = "abuse@host-b.test"  # someone else's address, signature kept
    changed = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    for bad in (f"{changed}.{signature}", token[:-2], token + "A", f"{body}.", ".", "", "x" * 5000,
                f"{body}.{signature}.more", token.replace(".", "")):  # fmt: skip
        with pytest.raises(ProviderTokenRefused):
            read_token(KEY, bad, now=clock.now())


@given(st.text(max_size=300))
def test_any_text_is_refused_cleanly(text: str) -> None:
    from datetime import UTC, datetime

    with pytest.raises(ProviderTokenRefused):
        read_token(KEY, text, now=datetime(2026, 1, 1, tzinfo=UTC))


def test_the_key_must_be_set_and_long_enough() -> None:
    with pytest.raises(ConfigurationError, match="TAKEDOWN_PROVIDER_KEY is not set"):
        provider_key(None)
    with pytest.raises(ConfigurationError, match="at least 32"):
        provider_key("short")


def test_the_command_revokes_a_mailboxs_links(store: Store, clock: ManualClock) -> None:
    import json

    from click.testing import CliRunner

    from faces.cli import App, cli
    from takedown.settings import Settings

    notice = notice_to(store, clock, "abuse@host-a.test")
    token = issue_token(KEY, "abuse@host-a.test", notice, now=clock.now())
    clock.advance(timedelta(seconds=1))
    app = App(settings=Settings(database_url="sqlite://", actor="analyst:t"), clock=clock, _store=store)
    done = CliRunner().invoke(cli, ["contacts", "revoke-links", "--json", "Abuse@Host-A.test"], obj=app)
    assert done.exit_code == 0 and json.loads(done.output)["revoked"] == "abuse@host-a.test"
    assert refusal(store, token, clock) == "revoked"
    bad = CliRunner().invoke(cli, ["contacts", "revoke-links", "abuse@host-b.test", "nobody"], obj=app)
    assert bad.exit_code == 65 and "'nobody' is not an email address; nothing was revoked" in bad.output
