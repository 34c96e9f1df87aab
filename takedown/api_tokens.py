"""Bearer tokens for the JSON API: made by a supervisor, shown once, kept as a SHA-256, revocable.

A token is 256 random bits, so a hash without salt or stretching is enough: nobody guesses one,
and a copy of the store opens nothing. ``read`` tokens list and show; ``write`` tokens also queue
and withdraw. What a token does is written to the audit trail as ``api:<name>``.

Written once in plain SQL (:mod:`takedown.sql_writes`): the terminal makes and revokes tokens
through the database driver alone, the console's API finds them through its session.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from takedown.errors import AccountError
from takedown.sql_reads import mark, stored_time, stored_time_or_none
from takedown.sql_writes import SqlWrites, insert_rows, time_to_store, writing
from takedown.staff_names import token_digest, validate_name
from takedown.token_views import TokenScope, TokenView

if TYPE_CHECKING:
    from takedown.sql_writes import WriteTarget

PREFIX = "tdk_"
"""Marks a takedown API token, so a secret scanner (or a person) knows one when it sees one."""
TOUCH_EVERY = timedelta(minutes=5)
_COLUMNS = "id, name, scope, created_by, created_at, last_used_at, revoked_at"


@dataclass(frozen=True, slots=True)
class NewToken:
    token: str
    """Shown once; only its hash is kept."""
    view: TokenView


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    view: TokenView
    last_used_at: datetime | None


def add_token(
    target: WriteTarget, name: str, scope: TokenScope, *, created_by: str, now: datetime
) -> NewToken:
    """A new token, in the caller's transaction (``target``: a session of the store, or the
    terminal's direct writer); :class:`AccountError` if the name is taken or not acceptable."""
    name = validate_name(name, "token")
    token = PREFIX + secrets.token_urlsafe(32)
    with writing(target) as writes:
        if _find(writes, "name", name) is not None:
            raise AccountError(f"there is already a token named {name!r}; revoke it or choose another name")
        row = {
            "name": name,
            "scope": scope.value,
            "token_hash": token_digest(token),
            "created_by": created_by,
            "created_at": now,
        }
        insert_rows(writes, "api_token", [row], times=("created_at",))
    return NewToken(token, TokenView(name, scope, created_by, now, None, False))


def revoke_token(target: WriteTarget, name: str, *, now: datetime) -> TokenView:
    """Revoke the token named ``name`` (already revoked: left as it was); :class:`AccountError` if
    there is none."""
    with writing(target) as writes:
        found = _find(writes, "name", name.strip().lower())
        if found is None:
            raise AccountError(f"no token named {name!r}; `takedown tokens list` shows them")
        if not found.view.revoked:
            _set_time(writes, "revoked_at", found.id, now)
    view = found.view
    return TokenView(view.name, view.scope, view.created_by, view.created_at, view.last_used_at, True)


def find_token(target: WriteTarget, token: str, *, now: datetime) -> TokenView | None:
    """The live token for a bearer value, or ``None`` (unknown, revoked, malformed). Its last use
    is noted, at most every :data:`TOUCH_EVERY`."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    with writing(target) as writes:
        found = _find(writes, "token_hash", token_digest(token))
        if found is None or found.view.revoked:
            return None
        if found.last_used_at is None or now - found.last_used_at > TOUCH_EVERY:
            _set_time(writes, "last_used_at", found.id, now)
            view = found.view
            return TokenView(view.name, view.scope, view.created_by, view.created_at, now, False)
    return found.view


def _find(writes: SqlWrites, column: str, value: str) -> _Row | None:
    rows = list(writes.stream(f"SELECT {_COLUMNS} FROM api_token WHERE {column} = {mark(writes)}", (value,)))
    if not rows:
        return None
    token_id, name, scope, created_by, created_at, last_used_at, revoked_at = rows[0]
    last_used = stored_time_or_none(last_used_at)
    view = TokenView(
        name, TokenScope(scope), created_by, stored_time(created_at), last_used, revoked_at is not None
    )
    return _Row(token_id, view, last_used)


def _set_time(writes: SqlWrites, column: str, token_id: int, when: datetime) -> None:
    stored: Any = time_to_store(writes.dialect)(when)
    writes.execute(
        f"UPDATE api_token SET {column} = {mark(writes)} WHERE id = {mark(writes)}", (stored, token_id)
    )
