"""API tokens as ``tokens list`` and the console show them: name, scope, who made it, when last
used, whether revoked; never the token or its hash.

The listing is written once in plain SQL (:mod:`takedown.sql_reads`), so ``tokens list`` at the
terminal reads it through the database driver alone, without importing SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from takedown.sql_reads import reading, stored_time, stored_time_or_none

if TYPE_CHECKING:
    from takedown.models import ApiToken
    from takedown.sql_reads import ReadSource


class TokenScope(StrEnum):
    READ = "read"
    WRITE = "write"

    def may(self, needed: TokenScope) -> bool:
        return self is TokenScope.WRITE or needed is TokenScope.READ


@dataclass(frozen=True, slots=True)
class TokenView:
    name: str
    scope: TokenScope
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool

    @property
    def actor(self) -> str:
        return f"api:{self.name}"

    @classmethod
    def of(cls, token: ApiToken) -> TokenView:
        return cls(
            token.name,
            TokenScope(token.scope),
            token.created_by,
            token.created_at,
            token.last_used_at,
            token.revoked_at is not None,
        )


def list_tokens(source: ReadSource) -> list[TokenView]:
    """Every token, by name. ``source``: a store or a reader of its own."""
    sql = (
        "SELECT name, scope, created_by, created_at, last_used_at, revoked_at IS NOT NULL"
        " FROM api_token ORDER BY name"
    )
    with reading(source) as reads:
        return [
            TokenView(name, TokenScope(scope), created_by, stored_time(created_at),
                      stored_time_or_none(last_used_at), bool(revoked))
            for name, scope, created_by, created_at, last_used_at, revoked in reads.stream(sql)
        ]  # fmt: skip
