"""Console sessions: a random token in the browser's cookie, only its SHA-256 in the store.

A session is new at each step of signing in (after the password, again after the code), so a
token planted in a browser before login is worth nothing after it (session fixation). It ends
after a spell of idleness and, however busy, after an absolute lifetime; disabling an account or
resetting it ends its sessions at once. Each session carries its own CSRF token, which every form
that changes something must send back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from takedown.models import Account, WebSession
from takedown.staff_names import token_digest
from takedown.vocabulary import StaffRole

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


def start_session(session: Session, name: str, *, stage: str, now: datetime) -> str:
    """A new session for the account; returns the token for the cookie (kept nowhere else)."""
    account_id = session.scalar(select(Account.id).where(Account.name == name))
    if account_id is None:
        raise LookupError(f"no account named {name!r}")
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=token_digest(token),
            account_id=account_id,
            stage=stage,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
    )
    return token


def find_session(
    session: Session, token: str, *, now: datetime, idle: timedelta, lifetime: timedelta
) -> SessionView | None:
    """The live session for ``token``, or ``None`` (an expired one is deleted on the way)."""
    view, _ = _looked_up(session, token, now=now, idle=idle, lifetime=lifetime, write=True)
    return view


def peek_session(
    session: Session, token: str, *, now: datetime, idle: timedelta, lifetime: timedelta
) -> tuple[SessionView | None, bool]:
    """As :func:`find_session`, writing nothing: the live session or ``None``, and whether the
    store needs writing (the session to be marked as used, once a minute, or deleted): then call
    :func:`find_session` in a session that may write. Most requests need only this read."""
    return _looked_up(session, token, now=now, idle=idle, lifetime=lifetime, write=False)


def _looked_up(
    session: Session, token: str, *, now: datetime, idle: timedelta, lifetime: timedelta, write: bool
) -> tuple[SessionView | None, bool]:
    if not token or len(token) > 100:
        return None, False
    found = session.execute(
        select(WebSession, Account)
        .join(Account, Account.id == WebSession.account_id)
        .where(WebSession.token_hash == token_digest(token))
    ).first()
    if found is None:
        return None, False
    web_session, account = found
    expired = now - web_session.last_seen_at > idle or now - web_session.created_at > lifetime
    if expired or account.disabled_at is not None:
        if write:
            session.delete(web_session)
        return None, True
    touch = now - web_session.last_seen_at > TOUCH_EVERY
    if touch and write:
        web_session.last_seen_at = now
    view = SessionView(account.name, StaffRole(account.role), web_session.stage, web_session.csrf_token)
    return view, touch


def end_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == token_digest(token)))


def end_lapsed_sessions(session: Session, *, now: datetime, idle: timedelta, lifetime: timedelta) -> int:
    """Delete the sessions that can no longer be used (idle too long, or too old), however they
    ended: a browser closed without signing out leaves its row behind. Run at each sign-in, so the
    table holds about the sessions in use. How many went."""
    lapsed = delete(WebSession).where(
        (WebSession.last_seen_at < now - idle) | (WebSession.created_at < now - lifetime)
    )
    return int(getattr(session.execute(lapsed), "rowcount", 0) or 0)


def end_sessions_of(session: Session, account_id: int) -> None:
    """Every session of an account ends (it was disabled or reset)."""
    session.execute(delete(WebSession).where(WebSession.account_id == account_id))
