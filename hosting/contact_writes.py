"""Changing the contact book (:mod:`hosting.contacts`): an analyst's entries set and removed, a
bounce's mark on a mailbox and its clearing, each with its line in the book's history.

Written once in plain SQL (:mod:`takedown.sql_writes`): the terminal changes the book through the
database driver alone, the console and the outbox through their sessions. Each function takes a
store (a transaction of its own), a caller's session (the outbox marks a mailbox in the same
transaction as the refused notice), or the terminal's direct writer.

Mailboxes are compared case-insensitively, as the book compares them: a mailbox is one entry
whatever its case, and rows an older version stored un-normalised are found too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hosting.contact_entries import ContactError, Override, normalise
from hosting.rdap.vcard import normalise_email
from takedown.clock import Clock, SystemClock
from takedown.sql_reads import mark
from takedown.sql_writes import SqlWrites, insert_rows, time_to_store, update_row, writing

if TYPE_CHECKING:
    from takedown.sql_writes import WriteTarget

_ENTRY_COLUMNS = "id, value, email, language, never_notify, note"


@dataclass(frozen=True, slots=True)
class _Entry:
    id: int
    value: str
    email: str | None
    language: str | None
    never_notify: bool
    note: str | None


def set_contact(
    target: WriteTarget,
    scope: str,
    value: str,
    *,
    email: str | None = None,
    language: str | None = None,
    never_notify: bool = False,
    note: str | None = None,
    actor: str,
    clock: Clock | None = None,
) -> Override:
    """Add or replace the book's entry for (scope, value); :class:`ContactError` saying what is
    wrong with it. Setting an entry again vouches for it: a bounce's mark is cleared."""
    scope = scope.lower()
    key = normalise(scope, value)
    mailbox = None
    if email is not None:
        mailbox = normalise_email(email)
        if mailbox is None:
            raise ContactError(f"--email {email!r}: not a mailbox")
    if mailbox is None and not never_notify:
        raise ContactError(f"{scope} {key}: give --email ADDRESS, or --never-notify")
    if mailbox is not None and never_notify and scope == "email":
        raise ContactError(f"email {key}: --never-notify and a replacement --email contradict each other")
    if language is not None and not (2 <= len(language) <= 16):
        raise ContactError(f"--language {language!r}: expected a language tag such as en or pt-BR")
    now = (clock or SystemClock()).now()
    settings = {"email": mailbox, "language": language, "never_notify": never_notify, "note": note}
    with writing(target) as writes:
        found = _entries(writes, scope, key)
        changes = []
        if not found:
            stored_value = key
            _insert_entry(writes, {"scope": scope, "value": key, **settings}, now, actor)
        else:
            kept, twins = found[0], found[1:]
            stored_value = kept.value
            for twin in twins:  # one mailbox in two cases, as an older version could leave it
                _delete_entry(writes, twin.id)
                changes.append(
                    _change(scope, twin.value, "removed", now, actor, note=f"one entry with {kept.value}")
                )
            _update_entry(writes, kept.id, {**settings, "bad_since": None}, now, actor)
        change = "barred" if never_notify else "set"
        changes.append(_change(scope, stored_value, change, now, actor, mailbox, language, note))
        _record(writes, changes)
    return Override(scope, stored_value, mailbox, language, never_notify, note, now, actor, None)


def mark_mailbox_bad(target: WriteTarget, address: str, reason: str, *, now: datetime, actor: str) -> None:
    """A mailbox refused for good: the contact book bars it until an analyst sets it again. The
    outbox passes its session, so the mark is in the same transaction as the refused notice.

    The mark lands on the book's entry for that mailbox whatever its case, so a bounce never makes
    a second entry beside an analyst's."""
    value = normalise_email(address) or address.strip()
    note = f"bounced: {reason}"[:1000]
    with writing(target) as writes:
        found = _email_entries(writes, value)
        if not found:
            entry = _Entry(0, value, None, None, False, None)
            row = {"scope": "email", "value": value, "email": None, "language": None, "never_notify": False}
            _insert_entry(writes, {**row, "note": note, "bad_since": now}, now, actor)
        else:
            entry = found[0]
            to_time = time_to_store(writes.dialect)
            writes.execute(
                f"UPDATE contact SET bad_since = coalesce(bad_since, {mark(writes)}), note = {mark(writes)},"
                f" updated_at = {mark(writes)}, updated_by = {mark(writes)} WHERE id = {mark(writes)}",
                (to_time(now), note, to_time(now), actor, entry.id),
            )
        _record(
            writes, [_change("email", entry.value, "bounced", now, actor, entry.email, entry.language, note)]
        )


def clear_bounce(target: WriteTarget, address: str, *, actor: str, clock: Clock | None = None) -> bool:
    """Someone vouches for a mailbox a bounce marked bad: notices go to it again. An entry that only
    the bounce made is removed; one an analyst made keeps what they set. Whether one was marked.
    The address is matched as the book matches mailboxes: case aside."""
    value = normalise_email(address)
    if value is None:
        return False
    now = (clock or SystemClock()).now()
    with writing(target) as writes:
        marked = _email_entries(writes, value, marked_bad=True)
        changes = []
        for entry in marked:
            note = f"written to again after a bounce ({entry.note or 'no reason kept'})"[:1000]
            if entry.email is None and not entry.never_notify and entry.language is None:
                _delete_entry(writes, entry.id)
                changes.append(_change("email", entry.value, "removed", now, actor, note=note))
            else:
                _update_entry(writes, entry.id, {"bad_since": None, "note": None}, now, actor)
                changes.append(
                    _change("email", entry.value, "set", now, actor, entry.email, entry.language, note)
                )
        _record(writes, changes)
    return bool(marked)


def remove_contact(
    target: WriteTarget, scope: str, value: str, *, actor: str, clock: Clock | None = None
) -> bool:
    """Remove the entry for (scope, value); whether there was one. Its history stays."""
    scope = scope.lower()
    key = normalise(scope, value)
    with writing(target) as writes:
        found = _entries(writes, scope, key)
        for entry in found:
            _delete_entry(writes, entry.id)
        if found:
            _record(writes, [_change(scope, key, "removed", (clock or SystemClock()).now(), actor)])
    return bool(found)


def _entries(writes: SqlWrites, scope: str, key: str) -> list[_Entry]:
    """The book's entries for (scope, key), oldest first: one, unless an older version left a
    mailbox stored in two cases."""
    if scope == "email":
        return _email_entries(writes, key)
    where = f"scope = {mark(writes)} AND value = {mark(writes)}"
    sql = f"SELECT {_ENTRY_COLUMNS} FROM contact WHERE {where} ORDER BY id"
    return _read(writes, sql, (scope, key))


def _email_entries(writes: SqlWrites, address: str, *, marked_bad: bool = False) -> list[_Entry]:
    bad = " AND bad_since IS NOT NULL" if marked_bad else ""
    where = f"scope = 'email' AND lower(value) = {mark(writes)}{bad}"
    sql = f"SELECT {_ENTRY_COLUMNS} FROM contact WHERE {where} ORDER BY id"
    return _read(writes, sql, (address.lower(),))


def _read(writes: SqlWrites, sql: str, parameters: tuple[Any, ...]) -> list[_Entry]:
    return [
        _Entry(entry_id, value, email, language, bool(never_notify), note)
        for entry_id, value, email, language, never_notify, note in writes.stream(sql, parameters)
    ]


def _insert_entry(writes: SqlWrites, row: dict[str, Any], now: datetime, actor: str) -> None:
    full = {"bad_since": None, **row, "updated_at": now, "updated_by": actor}
    insert_rows(writes, "contact", [full], times=("bad_since", "updated_at"))


def _update_entry(
    writes: SqlWrites, entry_id: int, values: dict[str, Any], now: datetime, actor: str
) -> None:
    changed = {**values, "updated_at": now, "updated_by": actor}
    update_row(writes, "contact", entry_id, changed, times=("bad_since", "updated_at"))


def _delete_entry(writes: SqlWrites, entry_id: int) -> None:
    writes.execute(f"DELETE FROM contact WHERE id = {mark(writes)}", (entry_id,))


def _change(
    scope: str,
    value: str,
    change: str,
    at: datetime,
    actor: str,
    email: str | None = None,
    language: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """One line of the book's history (``contact_change``)."""
    return {
        "scope": scope,
        "value": value,
        "change": change,
        "email": email,
        "language": language,
        "note": note,
        "at": at,
        "actor": actor,
    }


def _record(writes: SqlWrites, changes: list[dict[str, Any]]) -> None:
    insert_rows(writes, "contact_change", changes, times=("at",))
