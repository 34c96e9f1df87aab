"""Hash lists: fingerprints of confirmed child sexual abuse imagery, shared by hotlines and industry
(the IWF Image Hash List is one), so known content is recognised without anyone viewing it again.

A list is imported as a new *version* loaded beside the one in use and switched to in one commit:
a revisit or a lookup sees the old list whole or the new one whole, never half of either. A crash
while loading leaves an incomplete version nobody reads, cleared by the next import of that name.

Lists are confidential. Nothing here prints, logs or returns a list's contents: a lookup answers
with the list, the entry's reference and category for the digests it was *given*, and an import's
errors name a line and a field, never the value found there.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from takedown.classification import CLASSIFICATIONS, canonical_classification
from takedown.clock import Clock
from takedown.errors import ImportFileError
from takedown.hash_list_versions import HashListError, drop_versions, list_name
from takedown.importer import ImportFormat, RowError, csv_records, let_go
from takedown.models import HashEntry, HashList
from takedown.pdq_index import DEFAULT_DISTANCE, PdqIndex, pdq_bytes
from takedown.plain import iso
from takedown.reports import CATEGORIES
from takedown.sql_writes import SessionWrites, insert_rows
from takedown.store import Store

DIGEST_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}
"""Each kind of fingerprint a list may carry, and its length in hexadecimal digits."""
EXACT = ("md5", "sha1", "sha256")
"""The digests looked up exactly (PDQ is perceptual: matched by distance)."""
COLUMNS = (*DIGEST_LENGTHS, "category", "classification", "reference")
MAX_ERRORS_KEPT = 1000
"""A file of a million bad rows is told as the first thousand errors and a count."""
_HEX = re.compile(r"[0-9a-f]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class HashRow:
    """One entry of a list file, checked: lowercase digests, a known category and classification."""

    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    category: str | None = None
    classification: str | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class ReadHashRow:
    line: int
    row: HashRow | None = None
    error: RowError | None = None


@dataclass(slots=True)
class HashImportSummary:
    name: str
    version: str
    entries: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    replaced: str | None = None
    """The version this one took the place of."""

    def __plain__(self) -> dict[str, Any]:
        return {
            "list": self.name,
            "version": self.version,
            "entries": self.entries,
            "rejected": self.rejected,
            "replaced": self.replaced,
            "errors": [{"line": e.line, "field": e.field, "message": e.message} for e in self.errors],
        }


@dataclass(frozen=True, slots=True)
class HashMatch:
    """A digest found on an active list: which list and entry, never the list's other contents."""

    list: str
    version: str
    algorithm: str
    reference: str | None
    category: str | None
    classification: str | None
    distance: int = 0
    """Bits apart (0 for an exact digest; a perceptual match may be a few bits off)."""


def read_hash_rows(stream: IO[bytes], file_format: ImportFormat) -> Iterator[ReadHashRow]:
    """The rows of a list file (CSV with a header, or JSON Lines), each checked or with the reason
    it cannot be an entry. :class:`ImportFileError` when the file as a whole cannot be read."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    try:
        if file_format is ImportFormat.CSV:
            yield from _read_csv(text)
        elif file_format is ImportFormat.JSONL:
            yield from _read_jsonl(text)
        else:
            raise ImportFileError("a hash list is CSV (with a header) or JSON Lines")
    finally:
        let_go(text)


def check_hash_row(values: dict[str, Any]) -> HashRow:
    """``values`` as an entry, or :class:`_Refused` naming the field (never echoing its value)."""
    digests: dict[str, str | None] = {}
    for algorithm, length in DIGEST_LENGTHS.items():
        raw = values.get(algorithm)
        if raw is None or raw == "":
            digests[algorithm] = None
            continue
        if not isinstance(raw, str):
            raise _Refused(algorithm, f"must be text, not {type(raw).__name__}")
        digest = raw.strip().lower()
        if len(digest) != length or not _HEX.fullmatch(digest):
            raise _Refused(algorithm, f"is not {length} hexadecimal digits")
        digests[algorithm] = digest
    if not any(digests.values()):
        raise _Refused("md5", f"no fingerprint: give at least one of {', '.join(DIGEST_LENGTHS)}")
    category = _text(values, "category", 32)
    if category is not None:
        category = category.lower()
        if category not in CATEGORIES:
            raise _Refused("category", f"is not one of {', '.join(CATEGORIES)}")
    classification = _text(values, "classification", 16)
    if classification is not None:
        known = canonical_classification(classification)
        if known is None:
            raise _Refused("classification", f"is not one of {', '.join(CLASSIFICATIONS)}")
        classification = known.value
    reference = _text(values, "reference", 200)
    return HashRow(category=category, classification=classification, reference=reference, **digests)


def import_hash_list(
    store: Store,
    rows: Iterable[ReadHashRow],
    *,
    name: str,
    version: str | None,
    actor: str,
    clock: Clock,
    batch_size: int = 5000,
    on_progress: Callable[[int], None] | None = None,
) -> HashImportSummary:
    """Load ``rows`` as a new version of list ``name`` and switch to it in one commit; the rows
    that cannot be entries are counted and the first of them kept with why. A file with no entry
    at all leaves the current version in place (:class:`HashListError`)."""
    name = list_name(name)
    now = clock.now()
    version = (version or iso(now) or "").strip()[:64]
    if not version or _CONTROL.search(version):
        raise HashListError("--version must be printable text, up to 64 characters")
    summary = HashImportSummary(name, version)
    drop_versions(store.session, name, "loading")  # what an import that died left
    with store.session() as session:
        loading = HashList(name=name, version=version, state="loading", imported_at=now, imported_by=actor)
        session.add(loading)
        session.flush()
        list_id = loading.id
    batch: list[dict[str, Any]] = []
    since_progress = 0
    for read in rows:
        since_progress += 1
        if read.error is not None:
            summary.rejected += 1
            if len(summary.errors) < MAX_ERRORS_KEPT:
                summary.errors.append(read.error)
        elif read.row is not None:
            batch.append({"list_id": list_id, **_columns(read.row)})
        if len(batch) >= batch_size:
            _write(store, batch)
            summary.entries += len(batch)
            if on_progress:
                on_progress(since_progress)
                since_progress = 0
            batch = []
    if batch:
        _write(store, batch)
        summary.entries += len(batch)
    if on_progress and since_progress:
        on_progress(since_progress)
    if not summary.entries:
        with store.session() as session:
            session.execute(update(HashList).where(HashList.id == list_id).values(state="retired"))
        drop_versions(store.session, name, "retired")
        raise HashListError(
            f"no entry of list {name!r} could be read ({summary.rejected} refused); the version in use stays"
        )
    with store.session() as session:  # the switch: one short transaction
        old = session.scalars(
            select(HashList).where(HashList.name == name, HashList.state == "active")
        ).first()
        if old is not None:
            summary.replaced = old.version
            old.state = "retired"
            session.flush()
        session.execute(
            update(HashList)
            .where(HashList.id == list_id)
            .values(state="active", entries=summary.entries, activated_at=clock.now())
        )
    drop_versions(store.session, name, "retired")  # the old version's rows go after the switch
    _refresh_statistics(store)
    return summary


def _refresh_statistics(store: Store) -> None:
    """On PostgreSQL, the planner's statistics of the entries, at once: after a million rows came
    in, and before autovacuum got to them, it walked the whole list's index for each lookup
    (59.9 ms a lookup; 0.045 ms after ``ANALYZE``)."""
    with store.session() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE hash_entry"))
            session.execute(text("ANALYZE hash_list"))


def match_digests(session: Session, digests: dict[str, str]) -> list[HashMatch]:
    """The entries of active lists with any of ``digests`` (algorithm -> lowercase hex), exactly:
    one index probe per digest, whatever the lists' size."""
    matches: list[HashMatch] = []
    for algorithm in EXACT:
        digest = digests.get(algorithm)
        if not digest:
            continue
        column = getattr(HashEntry, algorithm)
        query = (
            select(
                HashList.name,
                HashList.version,
                HashEntry.reference,
                HashEntry.category,
                HashEntry.classification,
            )
            .join(HashList, HashList.id == HashEntry.list_id)
            .where(column == digest.lower(), HashList.state == "active")
            .order_by(HashList.name, HashEntry.id)
        )
        for list_name_, version, reference, category, classification in session.execute(query):
            matches.append(HashMatch(list_name_, version, algorithm, reference, category, classification))
    return matches


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


def parse_digest(text: str) -> tuple[str, str]:
    """``sha256:ab12...``, ``md5:...``, ``sha1:...``, ``pdq:...`` or bare hexadecimal (told apart
    by its length: 32 MD5, 40 SHA-1, 64 SHA-256) as (algorithm, lowercase hex)."""
    algorithm, colon, value = text.strip().partition(":")
    if not colon:
        algorithm, value = "", algorithm
    value = value.strip().lower()
    if not algorithm:
        algorithm = {32: "md5", 40: "sha1", 64: "sha256"}.get(len(value), "")
    algorithm = algorithm.lower()
    length = DIGEST_LENGTHS.get(algorithm)
    if length is None or len(value) != length or not _HEX.fullmatch(value):
        raise HashListError(
            f"{text[:100]!r} is not a digest: give md5:, sha1:, sha256: or pdq: and its hexadecimal digits"
        )
    return algorithm, value


def file_digests(path: Path) -> dict[str, str]:
    """MD5, SHA-1 and SHA-256 of a file, computed as it is read a megabyte at a time; nothing kept."""
    hashers = {
        "md5": hashlib.md5(usedforsecurity=False),
        "sha1": hashlib.sha1(usedforsecurity=False),
        "sha256": hashlib.sha256(),
    }
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


class _Refused(Exception):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


def _text(values: dict[str, Any], name: str, longest: int) -> str | None:
    raw = values.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise _Refused(name, f"must be text, not {type(raw).__name__}")
    value = raw.strip()
    if len(value) > longest:
        raise _Refused(name, f"is longer than {longest} characters")
    if _CONTROL.search(value):
        raise _Refused(name, "holds control characters")
    return value or None


def _columns(row: HashRow) -> dict[str, Any]:
    return {
        "md5": row.md5,
        "sha1": row.sha1,
        "sha256": row.sha256,
        "pdq": row.pdq,
        "category": row.category,
        "classification": row.classification,
        "reference": row.reference,
    }


def _write(store: Store, batch: Sequence[dict[str, Any]]) -> None:
    with store.session() as session:
        insert_rows(SessionWrites(session), "hash_entry", batch)


def _read_csv(text: IO[str]) -> Iterator[ReadHashRow]:
    records = csv_records(
        text, COLUMNS, lambda columns: None if set(columns) & set(DIGEST_LENGTHS) else "no digest column", ""
    )
    for line, values in records:
        if isinstance(values, str):
            yield ReadHashRow(line, error=RowError(line, "csv", values))
        else:
            yield _checked(line, values)


def _read_jsonl(text: IO[str]) -> Iterator[ReadHashRow]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            message = f"not valid JSON ({exc.msg} at column {exc.colno})"
            yield ReadHashRow(number, error=RowError(number, "json", message))
            continue
        if not isinstance(data, dict):
            message = f'each line must be an object like {{"sha256": ...}}, not {type(data).__name__}'
            yield ReadHashRow(number, error=RowError(number, "json", message))
            continue
        unknown = sorted(set(data) - set(COLUMNS))
        if unknown:
            message = f"is not a known field; the fields are {', '.join(COLUMNS)}"
            yield ReadHashRow(number, error=RowError(number, unknown[0][:40], message))
            continue
        yield _checked(number, data)


def _checked(line: int, values: dict[str, Any]) -> ReadHashRow:
    try:
        return ReadHashRow(line, check_hash_row(values))
    except _Refused as refused:
        return ReadHashRow(line, error=RowError(line, refused.field, refused.message))
