"""The staff log: what staff did outside cases, for supervisors and auditors to read.

Case work is in each case's own trail (:class:`takedown.models.Event`); this is the rest that an
audit asks about: who signed in, who failed to and how often, who made, disabled or reset an
account, who made or revoked an API token. Entries name the account acted on, never a password, a
code or a token, and never a name typed at the login form that is not an account's (it may be a
password typed into the wrong field).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from takedown.sql_writes import insert_rows, writing

if TYPE_CHECKING:
    from takedown.sql_writes import WriteTarget


def record_staff_event(
    target: WriteTarget,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one entry, in the caller's transaction (a session of the store, or the terminal's direct
    writer): it commits with what it records, or not at all. Written once in plain SQL."""
    row = {"at": at, "actor": actor[:200], "action": action[:32], "subject": subject, "detail": detail}
    with writing(target) as writes:
        insert_rows(writes, "staff_event", [row], times=("at",), json_columns=("detail",))
