"""Reading the jCard (RFC 7095) inside RDAP entities: names, e-mail addresses, country.

Registries fill vCards inconsistently: AFRINIC marks e-mails ``{"type": "work"}``, APNIC repeats
an address with ``pref``, LACNIC writes upper-case domains, ARIN leaves the structured address empty
and puts everything in a ``label``. The readers here accept all of that and never raise on odd data.

Two registries say *which* of a contact's mailboxes takes abuse reports, each its own way:

- RIPE NCC types them: a role object's ``e-mail`` attributes come as ``{"type": "email"}`` and its
  ``abuse-mailbox`` as ``{"type": "abuse"}``, in the same card. Operations and routing lists sit
  beside the abuse mailbox, and must not be written to.
- APNIC's IRT objects carry ``e-mail`` without parameters and ``abuse-mailbox`` with ``pref: 1``.

:attr:`Card.abuse_emails` reads both; a card that marks nothing offers all its mailboxes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")


@dataclass(frozen=True)
class Card:
    name: str | None
    kind: str | None
    organisation: str | None
    emails: tuple[str, ...]
    country: str | None
    marked_abuse: tuple[str, ...] = ()
    """Mailboxes the card itself marks as its abuse mailbox (by ``type`` or by ``pref``)."""

    @property
    def abuse_emails(self) -> tuple[str, ...]:
        """The mailboxes to write to when this card is an abuse contact."""
        return self.marked_abuse or self.emails


def read_card(vcard_array: Any) -> Card:
    """The parts of ``["vcard", [[name, params, type, value], ...]]`` that matter to a notice."""
    name = kind = organisation = country = None
    emails: list[tuple[int, int, str]] = []
    typed_abuse: list[str] = []
    ranked: list[tuple[int, str]] = []
    unranked = 0
    for index, (prop, params, value) in enumerate(_properties(vcard_array)):
        if prop == "fn" and isinstance(value, str) and value.strip():
            name = name or _one_line(value)
        elif prop == "kind" and isinstance(value, str):
            kind = kind or value.strip().lower()
        elif prop == "org":
            text = value[0] if isinstance(value, list) and value else value
            if isinstance(text, str) and text.strip():
                organisation = organisation or _one_line(text)
        elif prop == "email":
            address = normalise_email(value)
            if address is not None:
                emails.append((_preference(params), index, address))
                if "abuse" in _types(params):
                    typed_abuse.append(address)
                if "pref" in params:
                    ranked.append((_preference(params), address))
                else:
                    unranked += 1
        elif prop == "adr":
            country = country or _country(params, value)
    ordered = unique_mailboxes(address for _, _, address in sorted(emails))
    if typed_abuse:
        marked = unique_mailboxes(typed_abuse)
    elif ranked and unranked:  # APNIC: the ranked one is the abuse-mailbox, the others e-mail
        best = min(pref for pref, _ in ranked)
        marked = unique_mailboxes(address for pref, address in ranked if pref == best)
    else:
        marked = ()
    return Card(name, kind, organisation, ordered, country, marked)


def _one_line(text: str) -> str:
    """Names as one line: CR, LF and tabs in a registry's vCard become single spaces."""
    return " ".join(text.split())


def normalise_email(value: Any) -> str | None:
    """A plausible mailbox in canonical form (domain lower-cased), else ``None``.

    ``mailto:`` URIs are unwrapped. The local part keeps its case: RFC 5321 lets it matter.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    if not _EMAIL.match(text):
        return None
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def _properties(vcard_array: Any) -> Iterator[tuple[str, dict[str, Any], Any]]:
    if not (isinstance(vcard_array, list) and len(vcard_array) >= 2 and isinstance(vcard_array[1], list)):
        return
    for prop in vcard_array[1]:
        if isinstance(prop, list) and len(prop) >= 4 and isinstance(prop[0], str):
            params = prop[1] if isinstance(prop[1], dict) else {}
            yield prop[0].lower(), params, prop[3]


def unique_mailboxes(addresses: Iterable[str]) -> tuple[str, ...]:
    """In order, without repeats; ``Barry@x`` and ``barry@x`` are one mailbox (AFRINIC lists both)."""
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.lower(), address)
    return tuple(seen.values())


def _types(params: dict[str, Any]) -> set[str]:
    """The ``type`` parameter, which jCard writes as a string or a list of strings."""
    value = params.get("type")
    values = value if isinstance(value, list) else [value]
    return {v.strip().lower() for v in values if isinstance(v, str)}


def _preference(params: dict[str, Any]) -> int:
    try:
        return int(params.get("pref", 100))
    except (TypeError, ValueError):
        return 100


def _country(params: dict[str, Any], value: Any) -> str | None:
    """ISO country code: the ``cc`` parameter (RFC 8605), else a two-letter country-name component."""
    cc = params.get("cc")
    if isinstance(cc, str) and len(cc.strip()) == 2:
        return cc.strip().upper()
    if isinstance(value, list) and len(value) == 7 and isinstance(value[6], str):
        candidate = value[6].strip()
        if len(candidate) == 2 and candidate.isalpha():
            return candidate.upper()
    return None
