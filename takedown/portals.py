"""Reporting portals' configuration: where each answers, for which country, in which languages,
with which partner, what it tells a visitor, and where to find help.

A portal is the public's way in: everything here is shown to anonymous visitors, so it is checked
on the way in (lengths, no control characters, known languages) and the page escapes it on the way
out. The portal application itself is a process of its own (``takedown portal``).

Written once in plain SQL (:mod:`takedown.sql_writes`): ``portals add`` and ``portals set`` at
the terminal write through the database driver alone (through the ORM they took 1.1-1.4 s, most of
it importing SQLAlchemy and the models); a caller's session sends the same text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from takedown.errors import TakedownError
from takedown.portal_views import Helpline, PortalView, helplines_of
from takedown.sql_reads import SqlReads, mark, reading, stored_json, stored_time
from takedown.sql_writes import insert_rows, is_integrity_error, json_to_store, update_row, writing

if TYPE_CHECKING:
    from takedown.sql_reads import ReadSource
    from takedown.sql_writes import WriteTarget

LANGUAGES = ("en", "fr", "pt", "sw")
"""The languages the portal's pages are translated into."""
MAX_HELPLINES = 10
RESERVED_SLUGS = frozenset({"static", "favicon.ico", "robots.txt"})
"""Paths the portal application serves itself, beside ``/SLUG/``."""
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,31}")
_HOST = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # line breaks are allowed in the longer texts


class PortalError(TakedownError):
    """A portal cannot be configured as asked; the message names the field and why."""


@dataclass(frozen=True, slots=True)
class PortalChange:
    """What ``portals add`` or ``portals set`` gives; ``None``: unchanged (or, when adding, the
    default)."""

    host: str | None = None
    country: str | None = None
    languages: Sequence[str] | None = None
    partner: str | None = None
    welcome: str | None = None
    help_text: str | None = None
    helplines: Sequence[str] | None = None
    """Each ``NAME: CONTACT``."""
    acknowledgements: bool | None = None


_COLUMNS = ("host", "country", "languages", "partner", "welcome", "help_text", "helplines",
            "acknowledgements")  # fmt: skip
"""What a change may set, beside the slug and who changed it when."""
_NEW: dict[str, Any] = {"host": None, "languages": [], "welcome": None, "help_text": None, "helplines": [],
                        "acknowledgements": False}  # fmt: skip


def add_portal(
    target: WriteTarget, slug: str, change: PortalChange, *, actor: str, now: datetime
) -> PortalView:
    """A new portal; its country, languages and partner are required. Refused, with nothing
    written, when the name or the host is already a portal's."""
    slug = _slug(slug)
    if change.country is None or not change.languages or change.partner is None:
        raise PortalError(f"portal {slug}: give its --country, --languages and --partner")
    row = {"slug": slug, **_applied(_NEW, change), "created_at": now, "updated_at": now, "updated_by": actor}
    taken = f"portal {slug}: that name or host is already a portal's"
    with writing(target) as writes:
        bound = mark(writes)
        if any(
            writes.stream(f"SELECT 1 FROM portal WHERE slug = {bound} OR host = {bound}", (slug, row["host"]))
        ):
            raise PortalError(taken)
        try:
            insert_rows(writes, "portal", [row], times=("created_at", "updated_at"),
                        json_columns=("languages", "helplines"))  # fmt: skip
        except Exception as exc:  # another analyst took the name or host meanwhile
            if is_integrity_error(exc):
                raise PortalError(taken) from None
            raise
    return _view(row)


def set_portal(
    target: WriteTarget, slug: str, change: PortalChange, *, actor: str, now: datetime
) -> PortalView:
    """Change what ``change`` gives of portal ``slug``. Refused, with nothing written, when the
    host is already another portal's."""
    with writing(target) as writes:
        current = _named(writes, slug)
        row = {**current, **_applied(current, change), "updated_at": now, "updated_by": actor}
        bound = mark(writes)
        taken = f"portal {row['slug']}: that host is already another portal's"
        if row["host"] is not None and any(
            writes.stream(
                f"SELECT 1 FROM portal WHERE host = {bound} AND id <> {bound}", (row["host"], row["id"])
            )
        ):
            raise PortalError(taken)
        changed = {name: row[name] for name in (*_COLUMNS, "updated_at", "updated_by")}
        changed.update((name, json_to_store(changed[name])) for name in ("languages", "helplines"))
        try:
            update_row(writes, "portal", row["id"], changed, times=("updated_at",))
        except Exception as exc:
            if is_integrity_error(exc):
                raise PortalError(taken) from None
            raise
    return _view(row)


def find_portal(source: ReadSource, slug: str) -> PortalView:
    with reading(source) as reads:
        return _view(_named(reads, slug))


def _named(reads: SqlReads, slug: str) -> dict[str, Any]:
    """Portal ``slug``'s stored fields, by column."""
    names = ("id", "slug", *_COLUMNS, "updated_at", "updated_by")
    sql = f"SELECT {', '.join(names)} FROM portal WHERE slug = {mark(reads)}"
    found = next(iter(reads.stream(sql, (slug.strip().lower(),))), None)
    if found is None:
        raise PortalError(f"there is no portal {slug[:40]!r}; `takedown portals list` shows them")
    row = dict(zip(names, found, strict=True))
    row["languages"], row["helplines"] = stored_json(row["languages"]), stored_json(row["helplines"])
    row["acknowledgements"], row["updated_at"] = bool(row["acknowledgements"]), stored_time(row["updated_at"])
    return row


def _applied(current: dict[str, Any], change: PortalChange) -> dict[str, Any]:
    """The fields of ``current`` that ``change`` sets, each checked: what a visitor will be shown."""
    row = {name: current.get(name) for name in _COLUMNS}
    if change.host is not None:
        row["host"] = _host(change.host)
    if change.country is not None:
        row["country"] = _country(change.country)
    if change.languages is not None:
        row["languages"] = list(_languages(change.languages))
    if change.partner is not None:
        row["partner"] = _text("partner", change.partner, 200, required=True) or ""
    if change.welcome is not None:
        row["welcome"] = _text("welcome", change.welcome, 2000)
    if change.help_text is not None:
        row["help_text"] = _text("help text", change.help_text, 4000)
    if change.helplines is not None:
        row["helplines"] = [{"name": h.name, "contact": h.contact} for h in _helplines(change.helplines)]
    if change.acknowledgements is not None:
        row["acknowledgements"] = change.acknowledgements
    return row


def _slug(value: str) -> str:
    slug = value.strip().lower()
    if slug in RESERVED_SLUGS:
        raise PortalError(f"portal name {slug!r} is a path of the portal application's own")
    if not _SLUG.fullmatch(slug):
        raise PortalError(
            f"portal name {value[:40]!r}: 2 to 32 lowercase letters, digits or '-', as in its path"
        )
    return slug


def _host(value: str) -> str | None:
    host = value.strip().lower().rstrip(".")
    if not host:
        return None
    if not _HOST.fullmatch(host):
        raise PortalError(f"--host {value[:60]!r}: a host name such as report.hotline.example")
    return host


def _country(value: str) -> str:
    country = value.strip().upper()
    if len(country) != 2 or not (country.isascii() and country.isalpha()):
        raise PortalError(f"--country {value[:20]!r}: two letters (ISO 3166), such as KE")
    return country


def _languages(values: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(v.strip().lower() for v in values if v.strip()))
    unknown = [code for code in chosen if code not in LANGUAGES]
    if not chosen or unknown:
        raise PortalError(
            f"--languages: {', '.join(unknown) or 'none given'}; the portal speaks {', '.join(LANGUAGES)}"
        )
    return chosen


def _text(field: str, value: str, longest: int, *, required: bool = False) -> str | None:
    text = value.strip()
    if required and not text:
        raise PortalError(f"the {field} cannot be empty")
    if len(text) > longest:
        raise PortalError(f"the {field} is {len(text)} characters long; the limit is {longest}")
    if _CONTROL.search(text):
        raise PortalError(f"the {field} holds control characters")
    return text or None


def _helplines(values: Sequence[str]) -> tuple[Helpline, ...]:
    if len(values) > MAX_HELPLINES:
        raise PortalError(f"at most {MAX_HELPLINES} helplines")
    found = []
    for value in values:
        name, colon, contact = value.partition(":")
        if not colon or not name.strip() or not contact.strip():
            raise PortalError(f"--helpline {value[:60]!r}: write it as 'NAME: CONTACT'")
        found.append(
            Helpline(_text("helpline name", name, 120) or "", _text("helpline contact", contact, 200) or "")
        )
    return tuple(found)


def _view(row: dict[str, Any]) -> PortalView:
    return PortalView(
        slug=row["slug"],
        host=row["host"],
        country=row["country"],
        languages=tuple(row["languages"] or ()),
        partner=row["partner"],
        welcome=row["welcome"],
        help_text=row["help_text"],
        helplines=helplines_of(row["helplines"]),
        acknowledgements=bool(row["acknowledgements"]),
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )
