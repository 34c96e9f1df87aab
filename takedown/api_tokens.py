"""Bearer tokens for the JSON API: made by a supervisor, shown once, kept as a SHA-256, revocable.

A token is 256 random bits, so a hash without salt or stretching is enough: nobody guesses one,
and a copy of the store opens nothing. ``read`` tokens list and show; ``write`` tokens also queue
and withdraw. What a token does is written to the audit trail as ``api:<name>``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from takedown.accounts import validate_name
from takedown.errors import AccountError
from takedown.models import ApiToken
from takedown.token_views import TokenScope, TokenView
from takedown.web_sessions import token_digest

PREFIX = "tdk_"
"""Marks a takedown API token, so a secret scanner (or a person) knows one when it sees one."""
TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class NewToken:
    token: str
    """Shown once; only its hash is kept."""
    view: TokenView


def add_token(session: Session, name: str, scope: TokenScope, *, created_by: str, now: datetime) -> NewToken:
    name = validate_name(name, "token")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise AccountError(f"there is already a token named {name!r}; revoke it or choose another name")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name, scope=scope.value, token_hash=token_digest(token), created_by=created_by, created_at=now
    )
    session.add(row)
    session.flush()
    return NewToken(token, TokenView.of(row))


def revoke_token(session: Session, name: str, *, now: datetime) -> TokenView:
    row = session.scalar(select(ApiToken).where(ApiToken.name == name.strip().lower()))
    if row is None:
        raise AccountError(f"no token named {name!r}; `takedown tokens list` shows them")
    if row.revoked_at is None:
        row.revoked_at = now
    return TokenView.of(row)


def find_token(session: Session, token: str, *, now: datetime) -> TokenView | None:
    """The live token for a bearer value, or ``None`` (unknown, revoked, malformed)."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        row.last_used_at = now
    return TokenView.of(row)
