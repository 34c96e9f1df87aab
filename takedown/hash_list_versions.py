"""A hash list's name as kept, and removing versions of a list: out of every match at once, then
their entries a step at a time, so that a list of a million entries never holds the store's write
lock for long.

Written once in plain SQL (:mod:`takedown.sql_writes`): ``takedown hashes remove`` runs it through
the database driver alone (no SQLAlchemy to import), an import through sessions of the store.
Each step is a transaction of its own, opened by the ``transaction`` the caller gives (the
store's ``session``, the terminal's ``App.writing``): one ``DELETE`` of a list of 500,000 entries
held SQLite's write lock for 5.8 s, and revisits could not record their checks meanwhile; in steps
(``bench/bench_hash_remove.py``), the longest transaction took 0.6 s, and the whole removal 11 s: a
removal is not urgent, the checks are.

A removal that dies part way leaves versions marked ``retired``, which no match reads; removing
the list again, or importing a version of it, finishes the work.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, TypeAlias

from takedown.errors import TakedownError
from takedown.sql_reads import mark
from takedown.sql_writes import writing

if TYPE_CHECKING:
    from takedown.sql_writes import WriteTarget

Transaction: TypeAlias = "Callable[[], AbstractContextManager[WriteTarget]]"
"""Opens one transaction, committed when its block ends (``store.session``, ``App.writing``)."""

DELETE_STEP = 20_000
"""Entries deleted per transaction: a step holds the write lock for a fraction of a second."""
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class HashListError(TakedownError):
    """A hash list cannot be imported, found or removed as asked; the message says why."""


def list_name(name: str) -> str:
    """A list's name as kept: lowercase letters, digits, '.', '_' or '-', up to 64."""
    value = name.strip().lower()
    if not _NAME.fullmatch(value):
        raise HashListError(
            f"list name {name[:80]!r} is not allowed: up to 64 lowercase letters, digits, '.', '_' or '-'"
        )
    return value


def remove_hash_list(transaction: Transaction, name: str) -> int:
    """Remove every version of list ``name``; how many entries went (0: there was no such list).
    Its active version stops matching when the first transaction commits, before any entry is
    deleted."""
    name = list_name(name)
    with transaction() as target, writing(target) as writes:
        bound = mark(writes)
        found = list(writes.stream(f"SELECT entries FROM hash_list WHERE name = {bound}", (name,)))
        if not found:
            return 0
        writes.execute(
            f"UPDATE hash_list SET state = 'retired' WHERE name = {bound} AND state <> 'retired'", (name,)
        )
    drop_versions(transaction, name, "retired")
    return sum(int(entries or 0) for (entries,) in found)


def drop_versions(transaction: Transaction, name: str, state: str) -> None:
    """Delete the versions of list ``name`` in ``state`` (``loading`` or ``retired``: read by no
    match) and their entries, a step at a time. Entries first: SQLite enforces no cascade without
    its foreign-key setting, and this must not depend on it."""
    with transaction() as target, writing(target) as writes:
        bound = mark(writes)
        ids = [
            int(list_id)
            for (list_id,) in writes.stream(
                f"SELECT id FROM hash_list WHERE name = {bound} AND state = {bound} ORDER BY id",
                (name, state),
            )
        ]
    for list_id in ids:
        while True:
            with transaction() as target, writing(target) as writes:
                bound = mark(writes)
                gone = writes.execute(
                    f"DELETE FROM hash_entry WHERE id IN (SELECT id FROM hash_entry WHERE list_id = {bound}"
                    f" ORDER BY id LIMIT {DELETE_STEP})",
                    (list_id,),
                )
                if gone < DELETE_STEP:  # the last step: the version itself goes with it
                    writes.execute(f"DELETE FROM hash_list WHERE id = {bound}", (list_id,))
                    break
