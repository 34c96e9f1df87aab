"""Staff accounts and console sessions in the store, on each backend: hashed passwords, lockout,
TOTP codes used once, sessions that end, and the CLI that manages them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from faces.cli import App, cli
from takedown import exitcodes
from takedown.accounts import (
    TOTP_STEP_SECONDS,
    add_account,
    check_password,
    check_second_factor,
    disable_account,
    reset_account,
    totp_code,
)
from takedown.clock import ManualClock
from takedown.errors import AccountError
from takedown.models import Account
from takedown.settings import Settings
from takedown.store import Store
from takedown.vocabulary import StaffRole
from takedown.web_sessions import SIGNED_IN, find_session, start_session
from tests.conftest import printed_both_ways

PASSWORD = "a long enough password"
IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=12)


def code_now(secret: str, clock: ManualClock, steps: int = 0) -> str:
    return totp_code(secret, int(clock.now().timestamp()) // TOTP_STEP_SECONDS + steps)


def test_a_password_is_kept_only_as_an_argon2id_hash(store: Store, clock: ManualClock) -> None:
    with store.session() as session:
        add_account(session, "ana", StaffRole.ANALYST, PASSWORD, now=clock.now())
    with store.session() as session:
        stored = session.scalar(select(Account.password_hash))
        assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored
        assert check_password(session, "ana", PASSWORD, now=clock.now()).account is not None
        assert check_password(session, "ANA ", PASSWORD, now=clock.now()).account is not None
        assert check_password(session, "ana", PASSWORD + "x", now=clock.now()).account is None


def test_an_unknown_name_is_verified_against_a_hash_as_costly_as_a_real_one(
    store: Store, clock: ManualClock
) -> None:
    """The written-out dummy hash has the parameters the hasher gives new passwords: a login for
    a name nobody has must not answer faster than a wrong password for a real one."""
    from takedown import accounts

    assert not accounts._HASHER.check_needs_rehash(accounts._DUMMY_HASH)
    with store.session() as session:
        assert check_password(session, "nobody", PASSWORD, now=clock.now()).account is None


@pytest.mark.parametrize(
    ("name", "password", "problem"),
    [
        ("a", PASSWORD, "not allowed"),
        ("ana; drop", PASSWORD, "not allowed"),
        ("ana", "short", "too short"),
        ("ana", "x" * 1025, "too long"),
        ("ana", "ana-is-my-password", "must not contain"),
    ],
)
def test_names_and_passwords_that_are_refused(
    store: Store, clock: ManualClock, name: str, password: str, problem: str
) -> None:
    with pytest.raises(AccountError, match=problem), store.session() as session:
        add_account(session, name, StaffRole.ANALYST, password, now=clock.now())


def test_a_name_is_taken_once(store: Store, clock: ManualClock) -> None:
    with store.session() as session:
        add_account(session, "ana", StaffRole.ANALYST, PASSWORD, now=clock.now())
    with pytest.raises(AccountError, match="already an account"), store.session() as session:
        add_account(session, "Ana", StaffRole.AUDITOR, PASSWORD, now=clock.now())


def test_failures_lock_the_account_for_longer_each_time(store: Store, clock: ManualClock) -> None:
    with store.session() as session:
        add_account(session, "ana", StaffRole.ANALYST, PASSWORD, now=clock.now())
    for _ in range(5):
        with store.session() as session:
            assert (
                check_password(session, "ana", "wrong wrong wrong", now=clock.now()).reason
                == "wrong password"
            )
    with store.session() as session:
        assert check_password(session, "ana", PASSWORD, now=clock.now()).reason.startswith("locked until")
    clock.advance(timedelta(minutes=15, seconds=1))
    with store.session() as session:  # one more failure after the lock: twice as long
        assert check_password(session, "ana", "wrong wrong wrong", now=clock.now()).account is None
    clock.advance(timedelta(minutes=16))
    with store.session() as session:
        assert check_password(session, "ana", PASSWORD, now=clock.now()).account is None
    clock.advance(timedelta(minutes=15))
    with store.session() as session:
        assert check_password(session, "ana", PASSWORD, now=clock.now()).account is not None


def test_a_supervisor_always_has_a_second_factor_and_a_code_works_once(
    store: Store, clock: ManualClock
) -> None:
    with store.session() as session:
        enrolment = add_account(session, "sue", StaffRole.SUPERVISOR, PASSWORD, now=clock.now())
    secret = enrolment.totp_secret
    assert secret and enrolment.totp_uri and enrolment.totp_uri.startswith("otpauth://totp/takedown:sue?")
    with store.session() as session:
        assert check_second_factor(session, "sue", code_now(secret, clock, -1), now=clock.now()).account
    with store.session() as session:  # the step before, or the same one again: a replay
        assert (
            check_second_factor(session, "sue", code_now(secret, clock, -1), now=clock.now()).account is None
        )
    with store.session() as session:
        assert check_second_factor(session, "sue", code_now(secret, clock), now=clock.now()).account
    with store.session() as session:  # two steps away is too far
        assert (
            check_second_factor(session, "sue", code_now(secret, clock, 3), now=clock.now()).account is None
        )


def test_sessions_end_when_idle_when_old_and_when_the_account_is_disabled(
    store: Store, clock: ManualClock
) -> None:
    with store.session() as session:
        add_account(session, "ana", StaffRole.ANALYST, PASSWORD, now=clock.now())
        token = start_session(session, "ana", stage=SIGNED_IN, now=clock.now())
        other = start_session(session, "ana", stage=SIGNED_IN, now=clock.now())
    with store.session() as session:
        found = find_session(session, token, now=clock.now(), idle=IDLE, lifetime=LIFETIME)
        assert found is not None and found.actor == "analyst:ana" and found.role is StaffRole.ANALYST
    clock.advance(IDLE + timedelta(seconds=1))
    with store.session() as session:
        assert find_session(session, token, now=clock.now(), idle=IDLE, lifetime=LIFETIME) is None
    with store.session() as session:
        disable_account(session, "ana", now=clock.now())
    with store.session() as session:
        assert (
            find_session(session, other, now=clock.now(), idle=timedelta(days=1), lifetime=LIFETIME) is None
        )


def test_a_reset_clears_the_lock_and_enrols_a_new_secret(store: Store, clock: ManualClock) -> None:
    with store.session() as session:
        first = add_account(session, "ana", StaffRole.ANALYST, PASSWORD, now=clock.now(), second_factor=True)
    for _ in range(6):
        with store.session() as session:
            check_password(session, "ana", "wrong wrong wrong", now=clock.now())
    with store.session() as session:
        again = reset_account(
            session, "ana", now=clock.now(), password="another long password", second_factor=True
        )
    assert again.totp_secret and again.totp_secret != first.totp_secret
    with store.session() as session:
        assert check_password(session, "ana", "another long password", now=clock.now()).account is not None
    with pytest.raises(AccountError, match="no account named"), store.session() as session:
        reset_account(session, "nobody", now=clock.now(), password=PASSWORD)


# --- the CLI ------------------------------------------------------------------------------------


def run(store: Store, clock: ManualClock, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    app = App(settings=Settings(database_url="unused", actor="t"), clock=clock, _store=store)
    result = CliRunner().invoke(cli, list(args), obj=app, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_users_from_the_command_line(store: Store, clock: ManualClock) -> None:
    code, out, _ = run(
        store, clock, "users", "add", "sue", "--role", "supervisor", "--password-stdin", stdin=PASSWORD
    )
    assert code == 0 and "supervisor, second factor on" in out and "otpauth://totp/" in out
    code, _, err = run(
        store, clock, "users", "add", "sue", "--role", "analyst", "--password-stdin", stdin=PASSWORD
    )
    assert code == exitcodes.REFUSED and "already an account" in err
    code, _, err = run(
        store, clock, "users", "add", "bob", "--role", "analyst", "--password-stdin", stdin="short"
    )
    assert code == exitcodes.DATA_ERROR and "too short" in err
    code, out, _ = run(
        store, clock, "users", "add", "ana", "--role", "analyst", "--password-stdin", stdin=PASSWORD
    )
    assert code == 0 and "secret" not in out
    code, out, _ = run(store, clock, "users", "list")
    assert out.splitlines() == [
        "ana                      analyst     password only",
        "sue                      supervisor  2fa",
    ]
    assert PASSWORD not in out
    code, out, _ = run(store, clock, "users", "disable", "ana", "--json")
    assert code == 0 and '"disabled": true' in out
    assert run(store, clock, "users", "disable", "nobody")[0] == exitcodes.NOT_FOUND
    code, out, _ = run(
        store, clock, "users", "reset", "ana", "--password-stdin", stdin="a brand new password"
    )
    assert code == 0 and "analyst, second factor off" in out
    with store.session() as session:
        assert check_password(session, "ana", "a brand new password", now=clock.now()).account is not None
    code, out, _ = run(store, clock, "users", "log", "--json")
    logged = [json.loads(line) for line in out.splitlines()]
    assert [(e["actor"], e["action"], e["subject"]) for e in logged] == [
        ("t", "account_reset", "ana"),
        ("t", "account_disabled", "ana"),
        ("t", "account_added", "ana"),
        ("t", "account_added", "sue"),
    ]
    assert logged[0]["detail"] == {"password": True, "new_code": False} and PASSWORD not in out
    code, out, _ = run(store, clock, "users", "log", "--account", "sue")
    assert code == 0 and out.count("\n") == 1 and "account_added" in out and "role=supervisor" in out


def test_accounts_tokens_and_the_staff_log_read_the_same_through_the_driver_alone(
    store: Store, clock: ManualClock
) -> None:
    """``users list``, ``users log`` and ``tokens list`` at the terminal read through sqlite3 or
    psycopg alone (no SQLAlchemy to import): each account, token and log entry as the mapped models
    hold them (a second factor and a revocation as yes or no, never the secret or the hash; times
    in UTC; details decoded), and the commands print what they print through the store."""
    from dataclasses import astuple

    from sqlalchemy import update

    from takedown.account_views import AccountView, list_accounts
    from takedown.api_tokens import add_token, find_token, revoke_token
    from takedown.direct_reads import DirectReader
    from takedown.models import ApiToken, StaffEvent
    from takedown.staff_log import record_staff_event
    from takedown.staff_log_views import staff_events
    from takedown.token_views import TokenScope, TokenView, list_tokens

    with store.session() as session:
        add_account(session, "sam", StaffRole.SUPERVISOR, PASSWORD, now=clock.now())
        add_account(session, "ana", StaffRole.ANALYST, PASSWORD, now=clock.now())
        add_account(session, "aud", StaffRole.AUDITOR, PASSWORD, now=clock.now())
        disable_account(session, "aud", now=clock.now())
        session.execute(update(Account).where(Account.name == "ana").values(locked_until=clock.now()))
        used = add_token(session, "feed", TokenScope.READ, created_by="supervisor:sam", now=clock.now())
        add_token(session, "old", TokenScope.WRITE, created_by="supervisor:sam", now=clock.now())
        assert find_token(session, used.token, now=clock.now()) is not None  # last used now
        revoke_token(session, "old", now=clock.now())
        record_staff_event(session, at=clock.now(), actor="t", action="account_added", subject="ana",
                           detail={"role": "analyst", "note": "ünïcode 'quoted'"})  # fmt: skip
        record_staff_event(session, at=clock.now(), actor="analyst:ana", action="signed_in")
    with store.reading() as session:
        logged = [
            (e.id, e.at, e.actor, e.action, e.subject, e.detail or {})
            for e in session.scalars(select(StaffEvent).order_by(StaffEvent.id.desc()))
        ]
        accounts = [AccountView.of(a) for a in session.scalars(select(Account).order_by(Account.name))]
        tokens = [TokenView.of(t) for t in session.scalars(select(ApiToken).order_by(ApiToken.name))]
    url = store.engine.url.render_as_string(hide_password=False)
    with DirectReader.open(url) as direct:  # type: ignore[union-attr]
        assert list_accounts(direct) == accounts == list_accounts(store)
        assert list_tokens(direct) == tokens == list_tokens(store)
        assert [astuple(entry) for entry in staff_events(direct)] == logged
        assert [entry.action for entry in staff_events(direct, subject=" ANA ")] == ["account_added"]
        assert [entry.action for entry in staff_events(direct, before_id=logged[0][0])] == ["account_added"]
    assert [(a.name, a.second_factor, a.disabled) for a in accounts] == [
        ("ana", False, False),
        ("aud", False, True),
        ("sam", True, False),
    ]
    assert [(t.name, t.revoked, t.last_used_at is not None) for t in tokens] == [
        ("feed", False, True),
        ("old", True, False),
    ]
    listed, *_ = printed_both_ways(
        store,
        clock,
        ["users", "list", "--json"],
        ["users", "list"],
        ["tokens", "list"],
        ["tokens", "list", "--json"],
        ["users", "log"],
        ["users", "log", "--json", "--account", "ana"],
    )
    assert '"second_factor": true' in listed and "totp" not in listed and "argon2" not in listed
