"""Hash lists: fingerprints of confirmed child sexual abuse imagery, shared by hotlines and industry
(the IWF Image Hash List is one), so known content is recognised without anyone viewing it again.

A list is imported as a new *version* loaded beside the one in use and switched to in one commit
(:mod:`takedown.hash_list_import`): a revisit or a lookup sees the old list whole or the new one
whole, never half of either. This module matches digests against the lists in use.

Lists are confidential. Nothing here prints, logs or returns a list's contents: a lookup answers
with the list, the entry's reference and category for the digests it was *given*, and an import's
errors name a line and a field, never the value found there.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from takedown.hash_matches import EXACT, HashMatch
from takedown.models import HashEntry, HashList
from takedown.pdq_index import DEFAULT_DISTANCE, PdqIndex, pdq_bytes


def match_pdq(session: Session, pdq: str, *, max_distance: int = DEFAULT_DISTANCE) -> list[HashMatch]:
    """The entries of active lists whose PDQ hash is at most ``max_distance`` bits from ``pdq``,
    the nearest first, through the same index revisits use (built once, kept until a list
    version changes)."""
    return near_many(session, {0: pdq}, max_distance=max_distance).get(0, [])


@dataclass
class _PdqLists:
    versions: tuple[Any, ...]
    index: PdqIndex
    entries: list[Any]
    """Per indexed hash: list name, version, reference, category, classification."""


_pdq_lists: _PdqLists | None = None
_pdq_lock = threading.Lock()


def near_many(
    session: Session, wanted: dict[int, str], *, max_distance: int = DEFAULT_DISTANCE
) -> dict[int, list[HashMatch]]:
    """PDQ matches for many keys at once (a revisit batch: case id -> its image's PDQ hash). The
    index of the lists in use is built once and kept until a list version changes."""
    if not wanted:
        return {}
    lists = _current_pdq_lists(session)
    if lists is None:
        return {}
    found: dict[int, list[HashMatch]] = {}
    for key, pdq in wanted.items():
        for near in lists.index.near(pdq_bytes(pdq), max_distance):
            name, version, reference, category, classification = lists.entries[near.position]
            found.setdefault(key, []).append(
                HashMatch(name, version, "pdq", reference, category, classification, near.distance)
            )
    return found


def _current_pdq_lists(session: Session) -> _PdqLists | None:
    global _pdq_lists
    active = session.execute(
        select(HashList.id, HashList.version, HashList.activated_at)
        .where(HashList.state == "active")
        .order_by(HashList.id)
    ).all()
    # Keyed by the store too: one process may open several (the tests do), with the same ids.
    versions = (str(session.connection().engine.url), *(tuple(row) for row in active))
    ids = [row[0] for row in active]
    with _pdq_lock:
        if _pdq_lists is not None and _pdq_lists.versions == versions:
            return _pdq_lists
        rows = session.execute(
            select(HashList.name, HashList.version, HashEntry.reference, HashEntry.category,
                   HashEntry.classification, HashEntry.pdq)
            .join(HashList, HashList.id == HashEntry.list_id)
            .where(HashList.id.in_(ids), HashEntry.pdq.is_not(None))
            .order_by(HashEntry.id)
        ).all()  # fmt: skip
        if not rows:
            _pdq_lists = None
            return None
        index = PdqIndex([pdq_bytes(str(row[5])) for row in rows])
        _pdq_lists = _PdqLists(versions, index, [tuple(row[:5]) for row in rows])
        return _pdq_lists


def lookup_many(session: Session, wanted: dict[int, dict[str, str | None]]) -> dict[int, list[HashMatch]]:
    """Matches for many keys at once (a revisit batch: case id -> its body's digests): one query
    per algorithm for the whole batch, each an index probe per digest."""
    found: dict[int, list[HashMatch]] = {}
    for algorithm in EXACT:
        owners: dict[str, list[int]] = {}
        for key, digests in wanted.items():
            value = digests.get(algorithm)
            if value:
                owners.setdefault(value.lower(), []).append(key)
        if not owners:
            continue
        column = getattr(HashEntry, algorithm)
        query = (
            select(column, HashList.name, HashList.version, HashEntry.reference, HashEntry.category,
                   HashEntry.classification)
            .join(HashList, HashList.id == HashEntry.list_id)
            .where(column.in_(sorted(owners)), HashList.state == "active")
            .order_by(HashList.name, HashEntry.id)
        )  # fmt: skip
        for value, name, version, reference, category, classification in session.execute(query):
            match = HashMatch(name, version, algorithm, reference, category, classification)
            for key in owners[value]:
                if match not in found.setdefault(key, []):
                    found[key].append(match)
    return found
