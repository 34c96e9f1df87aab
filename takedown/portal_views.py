"""Reporting portals as ``portals list`` and the portal application read them.

Written once in plain SQL (:mod:`takedown.sql_reads`), so ``portals list`` at the terminal reads
the portals through the database driver alone, without importing SQLAlchemy, and the portal
application reads the same text through its session. Portals are configured by
:mod:`takedown.portals`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from takedown.sql_reads import reading, stored_json, stored_time

if TYPE_CHECKING:
    from takedown.sql_reads import ReadSource


@dataclass(frozen=True, slots=True)
class Helpline:
    name: str
    contact: str
    """A telephone number, an address or a web address, shown as text."""


@dataclass(frozen=True, slots=True)
class PortalView:
    slug: str
    host: str | None
    country: str
    languages: tuple[str, ...]
    partner: str
    welcome: str | None
    help_text: str | None
    helplines: tuple[Helpline, ...]
    acknowledgements: bool
    updated_at: datetime
    updated_by: str


def helplines_of(stored: Any) -> tuple[Helpline, ...]:
    """A portal's helplines as stored (a list of name and contact)."""
    return tuple(Helpline(helpline["name"], helpline["contact"]) for helpline in stored or ())


def list_portals(source: ReadSource) -> list[PortalView]:
    """Every portal, by slug."""
    sql = (
        "SELECT slug, host, country, languages, partner, welcome, help_text, helplines, acknowledgements,"
        " updated_at, updated_by FROM portal ORDER BY slug"
    )
    with reading(source) as reads:
        return [
            PortalView(slug, host, country, tuple(stored_json(languages) or ()), partner, welcome, help_text,
                       helplines_of(stored_json(helplines)), bool(acknowledgements), stored_time(updated_at),
                       updated_by)
            for (slug, host, country, languages, partner, welcome, help_text, helplines, acknowledgements,
                 updated_at, updated_by) in reads.stream(sql)
        ]  # fmt: skip
