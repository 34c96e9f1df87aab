"""Reporting portals' configuration: where each answers, for which country, in which languages,
with which partner, what it tells a visitor, and where to find help.

A portal is the public's way in: everything here is shown to anonymous visitors, so it is checked
on the way in (lengths, no control characters, known languages) and the page escapes it on the way
out. The portal application itself is a process of its own (``takedown portal``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from takedown.errors import TakedownError
from takedown.models import Portal
from takedown.portal_views import Helpline, PortalView, helplines_of

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


def add_portal(session: Session, slug: str, change: PortalChange, *, actor: str, now: datetime) -> PortalView:
    """A new portal; its country, languages and partner are required."""
    slug = _slug(slug)
    if change.country is None or not change.languages or change.partner is None:
        raise PortalError(f"portal {slug}: give its --country, --languages and --partner")
    portal = Portal(
        slug=slug, helplines=[], languages=[], acknowledgements=False, created_at=now, updated_at=now,
        updated_by=actor,
    )  # fmt: skip
    _apply(portal, change)
    portal.updated_at, portal.updated_by = now, actor
    try:
        with session.begin_nested():  # a refusal leaves the caller's transaction usable
            session.add(portal)
    except IntegrityError:
        raise PortalError(f"portal {slug}: that name or host is already a portal's") from None
    return _view(portal)


def set_portal(session: Session, slug: str, change: PortalChange, *, actor: str, now: datetime) -> PortalView:
    """Change what ``change`` gives of portal ``slug``."""
    portal = _named(session, slug)
    try:
        with session.begin_nested():  # a refusal leaves the caller's transaction usable
            _apply(portal, change)
            portal.updated_at, portal.updated_by = now, actor
    except IntegrityError:
        raise PortalError(f"portal {slug.strip().lower()}: that host is already another portal's") from None
    return _view(portal)


def find_portal(session: Session, slug: str) -> PortalView:
    return _view(_named(session, slug))


def _named(session: Session, slug: str) -> Portal:
    portal = session.scalar(select(Portal).where(Portal.slug == slug.strip().lower()))
    if portal is None:
        raise PortalError(f"there is no portal {slug[:40]!r}; `takedown portals list` shows them")
    return portal


def _apply(portal: Portal, change: PortalChange) -> None:
    if change.host is not None:
        portal.host = _host(change.host)
    if change.country is not None:
        portal.country = _country(change.country)
    if change.languages is not None:
        portal.languages = list(_languages(change.languages))
    if change.partner is not None:
        portal.partner = _text("partner", change.partner, 200, required=True) or ""
    if change.welcome is not None:
        portal.welcome = _text("welcome", change.welcome, 2000)
    if change.help_text is not None:
        portal.help_text = _text("help text", change.help_text, 4000)
    if change.helplines is not None:
        portal.helplines = [{"name": h.name, "contact": h.contact} for h in _helplines(change.helplines)]
    if change.acknowledgements is not None:
        portal.acknowledgements = change.acknowledgements


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


def _view(portal: Portal) -> PortalView:
    return PortalView(
        slug=portal.slug,
        host=portal.host,
        country=portal.country,
        languages=tuple(portal.languages or ()),
        partner=portal.partner,
        welcome=portal.welcome,
        help_text=portal.help_text,
        helplines=helplines_of(portal.helplines),
        acknowledgements=bool(portal.acknowledgements),
        updated_at=portal.updated_at,
        updated_by=portal.updated_by,
    )
