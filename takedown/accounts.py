"""Staff accounts: who may sign in to the console, with what role, and how they prove it.

Passwords are kept only as argon2id hashes (argon2-cffi's defaults, RFC 9106's second
recommended profile); the second factor is a TOTP secret (RFC 6238, 30-second steps, six digits),
required for supervisors and optional for the others. Each code is accepted once: the step it
belongs to is remembered, so a code seen over a shoulder or in a proxy's log cannot be replayed.

Failed logins lock an account for a while, doubling with each further failure, so guessing a
password over the network takes centuries; the face adds a limit per client address on top.
Every answer to a failed login is the same, whatever failed.

Written once in plain SQL (:mod:`takedown.sql_writes`): ``takedown users add``, ``disable`` and
``reset`` write through the database driver alone, without importing SQLAlchemy; the console sends
the same text through its session, in its transaction. An account is read for a change with
PostgreSQL's ``FOR UPDATE``, so two failed logins at once both count.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from takedown.account_views import AccountView
from takedown.errors import AccountError
from takedown.sql_reads import SqlReads, mark, stored_time, stored_time_or_none
from takedown.sql_writes import SqlWrites, insert_rows_with_ids, update_row, writing
from takedown.staff_names import validate_name
from takedown.vocabulary import StaffRole
from takedown.web_sessions import end_sessions_of

if TYPE_CHECKING:
    import pyotp

    from takedown.sql_writes import WriteTarget

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
"""Longer is refused before hashing: hashing megabytes is a way to tie up the server."""
LOCK_AFTER_FAILURES = 5
FIRST_LOCK = timedelta(minutes=15)
LONGEST_LOCK = timedelta(hours=24)
TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
TOTP_ISSUER = "takedown"

_HASHER = PasswordHasher()
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$B0UEn5qRZLZY0KL5hjikBw$FrTMsEp8xTFHTbh1I+X74ZU5rB2K5Ir4rKK8hI1Kc4U"
)
"""Verified (and its answer ignored) when the name is unknown or the account locked, so that such a
login takes as long as a real one. Written out, not hashed at import: that took 0.14 s of every
command that imports accounts; ``tests/test_accounts.py`` holds its parameters to the hasher's."""


@dataclass(frozen=True, slots=True)
class Enrolment:
    """An account just created or reset: the TOTP secret is shown once, to be put in an
    authenticator app, and never again."""

    account: AccountView
    totp_secret: str | None
    totp_uri: str | None


UNKNOWN_NAME = "unknown name"
"""Why a sign-in failed when no account has the name given."""


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """What a password check found: the account on success, otherwise why not (for the log only;
    the person is told the same thing whatever the reason)."""

    account: AccountView | None
    reason: str | None = None


@dataclass(slots=True)
class StoredAccount:
    """An account's row, as the checks and changes here read and write it."""

    id: int
    name: str
    role: str
    password_hash: str
    totp_secret: str | None
    totp_last_step: int | None
    failed_logins: int
    locked_until: datetime | None
    disabled_at: datetime | None
    created_at: datetime
    password_changed_at: datetime

    def view(self) -> AccountView:
        return AccountView.of(self)


_COLUMNS = tuple(field.name for field in fields(StoredAccount))
_TIMES = ("locked_until", "disabled_at", "created_at", "password_changed_at")


def validate_password(password: str, name: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password is too short: at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password is too long: at most {MAX_PASSWORD_LENGTH} characters")
    if name in password.lower():
        raise AccountError("the password must not contain the account's name")
    return password


def add_account(
    target: WriteTarget,
    name: str,
    role: StaffRole,
    password: str,
    *,
    now: datetime,
    second_factor: bool = False,
) -> Enrolment:
    """Create an account; supervisors always get a second factor."""
    name = validate_name(name)
    with writing(target) as writes:
        if _read(writes, name) is not None:
            raise AccountError(
                f"there is already an account named {name!r}; `takedown users reset` changes it"
            )
        validate_password(password, name)
        secret = new_totp_secret() if second_factor or role is StaffRole.SUPERVISOR else None
        account = StoredAccount(
            id=0,
            name=name,
            role=role.value,
            password_hash=_HASHER.hash(password),
            totp_secret=secret,
            totp_last_step=None,
            failed_logins=0,
            locked_until=None,
            disabled_at=None,
            created_at=now,
            password_changed_at=now,
        )
        row = {column: getattr(account, column) for column in _COLUMNS if column != "id"}
        [account.id] = insert_rows_with_ids(writes, "account", [row], times=_TIMES)
    return _enrolment(account)


def disable_account(target: WriteTarget, name: str, *, now: datetime) -> AccountView:
    """Nobody can sign in as it any more, and its open sessions end now."""
    with writing(target) as writes:
        account = _named(writes, name)
        if account.disabled_at is None:
            account.disabled_at = now
            _write(writes, account, "disabled_at")
        end_sessions_of(writes, account.id)
    return account.view()


def reset_account(
    target: WriteTarget,
    name: str,
    *,
    now: datetime,
    password: str | None = None,
    role: StaffRole | None = None,
    second_factor: bool | None = None,
    enable: bool = True,
) -> Enrolment:
    """A new password, role or second factor; the lock and every open session are cleared.
    A new second factor is a new secret (the old authenticator stops working)."""
    with writing(target) as writes:
        account = _named(writes, name)
        if password is not None:
            account.password_hash = _HASHER.hash(validate_password(password, account.name))
            account.password_changed_at = now
        if role is not None:
            account.role = role.value
        wants_factor = second_factor if second_factor is not None else account.totp_secret is not None
        new_secret = None
        if wants_factor or StaffRole(account.role) is StaffRole.SUPERVISOR:
            if second_factor or account.totp_secret is None:
                new_secret = new_totp_secret()
                account.totp_secret = new_secret
                account.totp_last_step = None
        else:
            account.totp_secret = None
            account.totp_last_step = None
        if enable:
            account.disabled_at = None
        account.failed_logins = 0
        account.locked_until = None
        _write(
            writes, account, *(column for column in _COLUMNS if column not in ("id", "name", "created_at"))
        )
        end_sessions_of(writes, account.id)
    enrolment = _enrolment(account)
    return enrolment if new_secret else Enrolment(enrolment.account, None, None)


def check_password(target: WriteTarget, name: str, password: str, *, now: datetime) -> LoginAttempt:
    """Verify a password, counting failures and locking the account after too many. The caller
    commits either way: a failure must be counted even though the login is refused."""
    with writing(target) as writes:
        account = _read(writes, name.strip().lower())
        if len(password) > MAX_PASSWORD_LENGTH:
            password = password[:MAX_PASSWORD_LENGTH]  # still verified (and failing): same time taken
        if account is None:
            _verify(_DUMMY_HASH, password)
            return LoginAttempt(None, UNKNOWN_NAME)
        if account.locked_until is not None and account.locked_until > now:
            _verify(_DUMMY_HASH, password)
            return LoginAttempt(None, f"locked until {account.locked_until.isoformat()}")
        if not _verify(account.password_hash, password):
            _count_failure(writes, account, now)
            return LoginAttempt(None, "wrong password")
        if account.disabled_at is not None:
            return LoginAttempt(None, "disabled")
        if _HASHER.check_needs_rehash(account.password_hash):
            account.password_hash = _HASHER.hash(password)
            _write(writes, account, "password_hash")
        if account.totp_secret is None and (account.failed_logins or account.locked_until is not None):
            account.failed_logins = 0
            account.locked_until = None
            _write(writes, account, "failed_logins", "locked_until")
    return LoginAttempt(account.view())


def check_second_factor(target: WriteTarget, name: str, code: str, *, now: datetime) -> LoginAttempt:
    """Verify a TOTP code (this step or the one either side, for clocks that drift), once."""
    with writing(target) as writes:
        account = _read(writes, name)
        if account is None or account.totp_secret is None or account.disabled_at is not None:
            return LoginAttempt(None, "no second factor")
        if account.locked_until is not None and account.locked_until > now:
            return LoginAttempt(None, f"locked until {account.locked_until.isoformat()}")
        code = code.strip().replace(" ", "")
        current = int(now.timestamp()) // TOTP_STEP_SECONDS
        for step in (current - 1, current, current + 1):
            if hmac.compare_digest(totp_code(account.totp_secret, step), code):
                if account.totp_last_step is not None and step <= account.totp_last_step:
                    _count_failure(writes, account, now)
                    return LoginAttempt(None, "code already used")
                account.totp_last_step = step
                account.failed_logins = 0
                account.locked_until = None
                _write(writes, account, "totp_last_step", "failed_logins", "locked_until")
                return LoginAttempt(account.view())
        _count_failure(writes, account, now)
    return LoginAttempt(None, "wrong code")


def new_totp_secret() -> str:
    """160 random bits in base32, as authenticator apps expect."""
    import pyotp

    return pyotp.random_base32(length=32)


def totp_code(secret: str, step: int) -> str:
    """The code for a time step (RFC 6238: HMAC-SHA-1, six digits)."""
    return _totp(secret).at(step * TOTP_STEP_SECONDS)


def totp_uri(secret: str, name: str) -> str:
    """The ``otpauth://`` address an authenticator app reads (usually as a QR code)."""
    return _totp(secret).provisioning_uri(name=name, issuer_name=TOTP_ISSUER)


def _totp(secret: str) -> pyotp.TOTP:
    import pyotp  # 14 ms: loaded where a second factor is made or checked, not by every command

    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS)


def _enrolment(account: StoredAccount) -> Enrolment:
    secret = account.totp_secret
    return Enrolment(account.view(), secret, totp_uri(secret, account.name) if secret else None)


def _read(reads: SqlReads, name: str) -> StoredAccount | None:
    """The account named ``name`` (as stored: lower case), locked for this transaction on
    PostgreSQL (on SQLite the writer already holds the store's write lock)."""
    lock = " FOR UPDATE" if reads.dialect == "postgresql" else ""
    found = list(
        reads.stream(f"SELECT {', '.join(_COLUMNS)} FROM account WHERE name = {mark(reads)}{lock}", (name,))
    )
    if not found:
        return None
    values: dict[str, Any] = dict(zip(_COLUMNS, found[0], strict=True))
    for column in _TIMES:
        values[column] = stored_time_or_none(values[column])
    values["created_at"] = stored_time(values["created_at"])
    values["password_changed_at"] = stored_time(values["password_changed_at"])
    return StoredAccount(**values)


def _write(writes: SqlWrites, account: StoredAccount, *columns: str) -> None:
    """Write back ``columns`` of ``account``."""
    values = {column: getattr(account, column) for column in columns}
    update_row(writes, "account", account.id, values, times=[c for c in columns if c in _TIMES])


def _named(reads: SqlReads, name: str) -> StoredAccount:
    account = _read(reads, name.strip().lower())
    if account is None:
        raise AccountError(f"no account named {name!r}; `takedown users list` shows them")
    return account


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _count_failure(writes: SqlWrites, account: StoredAccount, now: datetime) -> None:
    account.failed_logins += 1
    beyond = account.failed_logins - LOCK_AFTER_FAILURES
    if beyond >= 0:
        account.locked_until = now + min(FIRST_LOCK * 2**beyond, LONGEST_LOCK)
    _write(writes, account, "failed_logins", "locked_until")
