"""Bearer tokens for the JSON API: made by a supervisor, shown once, kept as a SHA-256, revocable.

A token is 256 random bits, so a hash without salt or stretching is enough: nobody guesses one,
and a copy of the store opens nothing. ``read`` tokens list and show; ``write`` tokens also queue
and withdraw. What a token does is written to the audit trail as ``api:<name>``.

Written once in plain SQL (:mod:`takedown.sql_writes`): the terminal makes and revokes tokens
through the database driver alone, the console's API finds them through its session.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from takedown.errors import AccountError
from takedown.sql_reads import mark, stored_time, stored_time_or_none
from takedown.sql_writes import SqlWrites, insert_rows, update_row, writing
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
        token_id, view = found
        if not view.revoked:
            update_row(writes, "api_token", token_id, {"revoked_at": now}, times=("revoked_at",))
    return dataclasses.replace(view, revoked=True)


def find_token(target: WriteTarget, token: str, *, now: datetime) -> TokenView | None:
    """The live token for a bearer value, or ``None`` (unknown, revoked, malformed). Its last use
    is noted, at most every :data:`TOUCH_EVERY`."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    with writing(target) as writes:
        found = _find(writes, "token_hash", token_digest(token))
        if found is None or found[1].revoked:
            return None
        token_id, view = found
        if view.last_used_at is None or now - view.last_used_at > TOUCH_EVERY:
            update_row(writes, "api_token", token_id, {"last_used_at": now}, times=("last_used_at",))
            return dataclasses.replace(view, last_used_at=now)
    return view


def _find(writes: SqlWrites, column: str, value: str) -> tuple[int, TokenView] | None:
    """The token whose ``column`` is ``value``: its id and what is shown of it."""
    rows = list(writes.stream(f"SELECT {_COLUMNS} FROM api_token WHERE {column} = {mark(writes)}", (value,)))
    if not rows:
        return None
    token_id, name, scope, created_by, created_at, last_used_at, revoked_at = rows[0]
    return token_id, TokenView(
        name,
        TokenScope(scope),
        created_by,
        stored_time(created_at),
        stored_time_or_none(last_used_at),
        revoked_at is not None,
    )
