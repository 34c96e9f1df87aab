"""Staff accounts as ``users list`` and the console show them: name, role, second factor, whether
disabled or locked; never a password hash or a secret.

The listing is written once in plain SQL (:mod:`takedown.sql_reads`), so ``users list`` at the
terminal reads it through the database driver alone, without importing SQLAlchemy or the hasher.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from takedown.sql_reads import reading, stored_time, stored_time_or_none
from takedown.vocabulary import StaffRole

if TYPE_CHECKING:
    from takedown.accounts import StoredAccount
    from takedown.models import Account
    from takedown.sql_reads import ReadSource


@dataclass(frozen=True, slots=True)
class AccountView:
    name: str
    role: StaffRole
    second_factor: bool
    disabled: bool
    locked_until: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, account: Account | StoredAccount) -> AccountView:
        """What may be shown of an account, from its mapped row or the row the account checks
        and changes read (:class:`takedown.accounts.StoredAccount`)."""
        return cls(
            name=account.name,
            role=StaffRole(account.role),
            second_factor=account.totp_secret is not None,
            disabled=account.disabled_at is not None,
            locked_until=account.locked_until,
            created_at=account.created_at,
        )


def list_accounts(source: ReadSource) -> list[AccountView]:
    """Every account, by name. Whether it has a second factor is read as such: the secret itself
    never leaves the store. ``source``: a store or a reader of its own."""
    sql = (
        "SELECT name, role, totp_secret IS NOT NULL, disabled_at IS NOT NULL, locked_until, created_at"
        " FROM account ORDER BY name"
    )
    with reading(source) as reads:
        return [
            AccountView(name, StaffRole(role), bool(second_factor), bool(disabled),
                        stored_time_or_none(locked_until), stored_time(created_at))
            for name, role, second_factor, disabled, locked_until, created_at in reads.stream(sql)
        ]  # fmt: skip
