"""The portal's languages: gettext catalogues compiled in memory, and the visitor's language.

The catalogues are ``locales/LANG/LC_MESSAGES/portal.po`` beside this module, read with Babel and
compiled when the application starts (no compiled ``.mo`` file is kept in the repository, so a
translation can never be stale). The message ids are the English texts; English needs no
catalogue. ``python -m faces.portal.catalogues`` extracts the ids and checks every catalogue holds
a translation for each.
"""

from __future__ import annotations

import gettext
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from takedown.portals import LANGUAGES

LOCALES = Path(__file__).resolve().parent / "locales"
DOMAIN = "portal"
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "pt": "Português", "sw": "Kiswahili"}
"""Each language in its own words: what the language switch shows."""

_RANGE = re.compile(r"\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?\s*")


def catalogue_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_translations(languages: Sequence[str] = LANGUAGES) -> dict[str, gettext.NullTranslations]:
    """One translations object per language; English is the message ids themselves."""
    found: dict[str, gettext.NullTranslations] = {}
    for language in languages:
        if language == "en":
            found[language] = gettext.NullTranslations()
            continue
        with catalogue_path(language).open("rb") as po:
            catalogue = read_po(po, locale=language, domain=DOMAIN)
        compiled = io.BytesIO()
        write_mo(compiled, catalogue, use_fuzzy=False)
        compiled.seek(0)
        found[language] = gettext.GNUTranslations(compiled)
    return found


def negotiate(accept_language: str | None, offered: Sequence[str]) -> str:
    """The visitor's language among ``offered`` (a portal's, first its main one), by the browser's
    ``Accept-Language``: the highest-weighted range whose primary language is offered (``pt-BR``
    takes ``pt``); ``*`` or nothing that matches takes the portal's first. Never fails: the header
    is whatever a client sent."""
    if not offered:
        return "en"
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "")[:500].split(",")):
        match = _RANGE.fullmatch(part)
        if match is None:
            continue
        try:
            weight = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        if 0 < weight <= 1:
            ranked.append((-weight, position, match.group(1).lower()))
    for _, _, tag in sorted(ranked):
        primary = tag.split("-")[0]
        if primary in offered:
            return primary
        if tag == "*":
            return offered[0]
    return offered[0]


def chosen(asked: str | None, offered: Sequence[str], accept_language: str | None) -> str:
    """The language to answer in: the one the visitor picked (``?lang=``, or the form's), when
    the portal offers it; otherwise :func:`negotiate`'s."""
    if asked and asked in offered:
        return asked
    return negotiate(accept_language, offered)


def names(languages: Sequence[str]) -> Mapping[str, str]:
    return {language: LANGUAGE_NAMES.get(language, language) for language in languages}
