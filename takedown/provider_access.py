"""Hosting providers' access to their own cases: a signed, expiring, revocable link per notice.

Every notice carries one link for its recipient. The link holds a capability token, not an
account: the recipient's address, the notice it came with (its Message-ID, which exists before the
notice is stored, so the link can be written into the message), when it was made and until when it
holds, signed with HMAC-SHA256 under the server's key (``TAKEDOWN_PROVIDER_KEY``). Nothing about
the token is stored; the key checks it. A recipient's links are revoked all at once (a leaked
link, a mailbox that changed hands): every token made for that address before the revocation is
refused from then on, and the next notice carries a new one.

A refusal says nothing to the visitor beyond "this link cannot be used"; the reason (malformed,
forged, expired, revoked, not this recipient's notice) is for the hotline's logs and tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from takedown.errors import ConfigurationError, TakedownError
from takedown.sql_reads import mark
from takedown.sql_writes import time_to_store, writing

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from takedown.sql_writes import WriteTarget

VERSION = "p1"
MIN_KEY_BYTES = 32
DEFAULT_LIFETIME = timedelta(days=90)
"""How long a link holds: longer than any chase, so a provider can answer a late reminder."""
MAX_TOKEN_LENGTH = 1000


class ProviderTokenRefused(TakedownError):
    """The link cannot be used. ``reason`` is one of ``malformed``, ``forged``, ``expired``,
    ``revoked`` and ``unknown notice``: for the log, never for the visitor."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"provider link refused: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProviderAccess:
    """What a valid link gives: the recipient it was made for, and the notice it came with."""

    recipient: str
    message_id: str
    issued_at: datetime
    expires_at: datetime


def provider_key(secret: str | None) -> bytes:
    """The signing key from the configuration's secret; a :class:`ConfigurationError` saying what
    to set when there is none, or when it is too short to be a key."""
    if not secret:
        raise ConfigurationError(
            f"TAKEDOWN_PROVIDER_KEY is not set: provider links need a secret of at least {MIN_KEY_BYTES} "
            "bytes (python -c 'import secrets; print(secrets.token_urlsafe(48))' makes one)"
        )
    key = secret.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"TAKEDOWN_PROVIDER_KEY is {len(key)} bytes; it needs at least {MIN_KEY_BYTES}"
        )
    return key


def issue_token(
    key: bytes, recipient: str, message_id: str, *, now: datetime, lifetime: timedelta = DEFAULT_LIFETIME
) -> str:
    """A token for ``recipient``'s link in the notice ``message_id``, valid from ``now`` for
    ``lifetime``."""
    payload = {
        "v": VERSION,
        "r": _normal(recipient),
        "m": str(message_id),
        "i": _millis(now),
        "e": _millis(now + lifetime),
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{body}.{_b64(_mac(key, body))}"


def read_token(key: bytes, token: str, *, now: datetime) -> ProviderAccess:
    """What ``token`` says, if the key signed it and it has not expired; otherwise
    :class:`ProviderTokenRefused`. Any text is safe to give it."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise ProviderTokenRefused("malformed")
    body, signature = token.split(".")
    try:
        given = _unb64(signature)
    except ValueError:
        raise ProviderTokenRefused("malformed") from None
    if not hmac.compare_digest(given, _mac(key, body)):  # checked before anything else is read
        raise ProviderTokenRefused("forged")
    try:
        payload = json.loads(_unb64(body))
        access = ProviderAccess(
            recipient=str(payload["r"]),
            message_id=str(payload["m"]),
            issued_at=_from_millis(int(payload["i"])),
            expires_at=_from_millis(int(payload["e"])),
        )
    except (ValueError, KeyError, TypeError, OverflowError):
        raise ProviderTokenRefused("malformed") from None
    if payload.get("v") != VERSION:
        raise ProviderTokenRefused("malformed")
    if now >= access.expires_at:
        raise ProviderTokenRefused("expired")
    return access


def check_access(session: Session, key: bytes, token: str, *, now: datetime) -> ProviderAccess:
    """:func:`read_token`, then what only the store knows: the notice was sent to this recipient,
    and the recipient's links were not revoked since the token was made."""
    from sqlalchemy import select  # the provider page's: issuing links and revoking them need none

    from takedown.models import Notice, ProviderRevocation

    access = read_token(key, token, now=now)
    recipient = session.scalar(select(Notice.recipient).where(Notice.message_id == access.message_id))
    if recipient is None or _normal(recipient) != access.recipient:
        raise ProviderTokenRefused("unknown notice")
    revoked_at = session.scalar(
        select(ProviderRevocation.revoked_at).where(ProviderRevocation.recipient == access.recipient)
    )
    if revoked_at is not None and access.issued_at <= _as_utc(revoked_at):
        raise ProviderTokenRefused("revoked")
    return access


def provider_link(public_url: str, key: bytes, recipient: str, message_id: str, *, now: datetime) -> str:
    """The address of ``recipient``'s page, as written into the notice ``message_id``."""
    return f"{public_url.rstrip('/')}/provider/{issue_token(key, recipient, message_id, now=now)}"


def revoke(target: WriteTarget, recipient: str, *, actor: str, now: datetime) -> None:
    """Every link made for ``recipient`` until now is refused from now on. ``target``: a session
    of the store, or the terminal's direct writer (written once in plain SQL,
    :mod:`takedown.sql_writes`: ``contacts revoke-links`` imports no SQLAlchemy)."""
    address = _normal(recipient)
    if "@" not in address:
        raise ConfigurationError(f"{recipient[:80]!r} is not an email address")
    with writing(target) as writes:
        bound = mark(writes)
        writes.execute(
            "INSERT INTO provider_revocation (recipient, revoked_at, revoked_by)"
            f" VALUES ({bound}, {bound}, {bound}) ON CONFLICT (recipient)"
            " DO UPDATE SET revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by",
            (address, time_to_store(writes.dialect)(now), actor),
        )


def _normal(recipient: str) -> str:
    return recipient.strip().lower()


def _mac(key: bytes, body: str) -> bytes:
    return hmac.new(key, f"{VERSION}.{body}".encode("ascii", "replace"), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc


def _millis(when: datetime) -> int:
    return int(_as_utc(when).timestamp() * 1000)


def _from_millis(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _as_utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
