"""Console sessions: a random token in the browser's cookie, only its SHA-256 in the store.

A session is new at each step of signing in (after the password, again after the code), so a
token planted in a browser before login is worth nothing after it (session fixation). It ends
after a spell of idleness and, however busy, after an absolute lifetime; disabling an account or
resetting it ends its sessions at once. Each session carries its own CSRF token, which every form
that changes something must send back.

Written once in plain SQL (:mod:`takedown.sql_writes`): the console sends it through its session;
``takedown users disable`` and ``reset`` end an account's sessions through the database driver
alone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from takedown.sql_reads import mark, reading, stored_time
from takedown.sql_writes import insert_rows, time_to_store, writing
from takedown.staff_names import token_digest
from takedown.vocabulary import StaffRole

if TYPE_CHECKING:
    from takedown.sql_writes import WriteTarget

SECOND_FACTOR = "second_factor"
SIGNED_IN = "signed_in"
TOUCH_EVERY = timedelta(seconds=60)
"""How stale ``last_seen_at`` may get before a request writes it again: one write a minute per
session, not one per page."""


@dataclass(frozen=True, slots=True)
class SessionView:
    """Who a request comes from."""

    name: str
    role: StaffRole
    stage: str
    csrf_token: str

    @property
    def actor(self) -> str:
        """How the event log names them."""
        return f"analyst:{self.name}"


def start_session(target: WriteTarget, name: str, *, stage: str, now: datetime) -> str:
    """A new session for the account; returns the token for the cookie (kept nowhere else)."""
    with writing(target) as writes:
        found = list(writes.stream(f"SELECT id FROM account WHERE name = {mark(writes)}", (name,)))
        if not found:
            raise LookupError(f"no account named {name!r}")
        token = secrets.token_urlsafe(32)
        row = {
            "token_hash": token_digest(token),
            "account_id": int(found[0][0]),
            "stage": stage,
            "csrf_token": secrets.token_urlsafe(32),
            "created_at": now,
            "last_seen_at": now,
        }
        insert_rows(writes, "web_session", [row], times=("created_at", "last_seen_at"))
    return token


def find_session(
    target: WriteTarget, token: str, *, now: datetime, idle: timedelta, lifetime: timedelta
) -> SessionView | None:
    """The live session for ``token``, or ``None`` (an expired one is deleted on the way)."""
    view, _ = _looked_up(target, token, now=now, idle=idle, lifetime=lifetime, write=True)
    return view


def peek_session(
    target: WriteTarget, token: str, *, now: datetime, idle: timedelta, lifetime: timedelta
) -> tuple[SessionView | None, bool]:
    """As :func:`find_session`, writing nothing: the live session or ``None``, and whether the
    store needs writing (the session to be marked as used, once a minute, or deleted): then call
    :func:`find_session` in a session that may write. Most requests need only this read."""
    return _looked_up(target, token, now=now, idle=idle, lifetime=lifetime, write=False)


def _looked_up(
    target: WriteTarget, token: str, *, now: datetime, idle: timedelta, lifetime: timedelta, write: bool
) -> tuple[SessionView | None, bool]:
    if not token or len(token) > 100:
        return None, False
    digest = token_digest(token)
    # Read through the caller's session as it is: the console peeks in a reading session on every
    # request, and only the rare request that must write opens a writing one.
    with reading(target) as reads:
        found = list(
            reads.stream(
                "SELECT s.last_seen_at, s.created_at, s.stage, s.csrf_token, a.name, a.role, a.disabled_at"
                " FROM web_session s JOIN account a ON a.id = s.account_id"
                f" WHERE s.token_hash = {mark(reads)}",
                (digest,),
            )
        )
    if not found:
        return None, False
    last_seen_text, created_text, stage, csrf_token, name, role, disabled_at = found[0]
    last_seen_at, created_at = stored_time(last_seen_text), stored_time(created_text)
    expired = now - last_seen_at > idle or now - created_at > lifetime
    if expired or disabled_at is not None:
        if write:
            end_session(target, token)
        return None, True
    touch = now - last_seen_at > TOUCH_EVERY
    if touch and write:
        with writing(target) as writes:
            bound = mark(writes)
            writes.execute(
                f"UPDATE web_session SET last_seen_at = {bound} WHERE token_hash = {bound}",
                (time_to_store(writes.dialect)(now), digest),
            )
    return SessionView(name, StaffRole(role), stage, csrf_token), touch


def end_session(target: WriteTarget, token: str) -> None:
    with writing(target) as writes:
        writes.execute(f"DELETE FROM web_session WHERE token_hash = {mark(writes)}", (token_digest(token),))


def end_lapsed_sessions(target: WriteTarget, *, now: datetime, idle: timedelta, lifetime: timedelta) -> int:
    """Delete the sessions that can no longer be used (idle too long, or too old), however they
    ended: a browser closed without signing out leaves its row behind. Run at each sign-in, so the
    table holds about the sessions in use. How many went."""
    with writing(target) as writes:
        to_time, bound = time_to_store(writes.dialect), mark(writes)
        return writes.execute(
            f"DELETE FROM web_session WHERE last_seen_at < {bound} OR created_at < {bound}",
            (to_time(now - idle), to_time(now - lifetime)),
        )


def end_sessions_of(target: WriteTarget, account_id: int) -> None:
    """Every session of an account ends (it was disabled or reset)."""
    with writing(target) as writes:
        writes.execute(f"DELETE FROM web_session WHERE account_id = {mark(writes)}", (account_id,))
