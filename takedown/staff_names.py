"""The names staff accounts and API tokens go by: checked the same way for both, without importing
the account machinery (argon2, SQLAlchemy) that a token command does not need."""

from __future__ import annotations

import hashlib
import re

from takedown.errors import AccountError

_NAME = re.compile(r"[a-z][a-z0-9._-]{1,63}")


def validate_name(name: str, what: str = "account") -> str:
    """``name`` as kept (trimmed, lower case); :class:`AccountError` saying what is allowed."""
    value = name.strip().lower()
    if not _NAME.fullmatch(value):
        raise AccountError(
            f"{what} name {name!r} is not allowed: 2-64 characters, a letter first, "
            "then letters, digits, '.', '_' or '-'"
        )
    return value


def token_digest(token: str) -> str:
    """What the store keeps of a bearer secret (a session cookie, an API token): its SHA-256. The
    secrets are 256 random bits, so no salt or stretching is needed; a copy of the store opens
    nothing."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
