"""Importing a hash list: reading its file, checking each row, and loading it as a new version
(:mod:`takedown.hash_lists` says what a list is and how revisits match it).

A version is loaded beside the one in use, a batch of entries to a transaction, and switched to in
one commit: a revisit or a lookup sees the old list whole or the new one whole, never half of
either. A crash while loading leaves an incomplete version nobody reads, cleared by the next import
of that name. A row's error names its line and field, never the value found there.

Written once in plain SQL (:mod:`takedown.sql_writes`): ``takedown hashes import`` runs it through
the database driver alone, on one connection (no SQLAlchemy to import: half a second of a small
list's import), and the demo and the tests through sessions of the store.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from takedown.classification import CLASSIFICATIONS, canonical_classification
from takedown.clock import Clock
from takedown.errors import ImportFileError
from takedown.hash_list_versions import HashListError, Transaction, drop_versions, list_name
from takedown.importer import ImportFormat, RowError, csv_records, let_go
from takedown.plain import iso
from takedown.reports import CATEGORIES
from takedown.sql_reads import mark
from takedown.sql_writes import insert_rows, insert_rows_with_ids, update_row, writing

DIGEST_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}
"""Each kind of fingerprint a list may carry, and its length in hexadecimal digits."""
COLUMNS = (*DIGEST_LENGTHS, "category", "classification", "reference")
MAX_ERRORS_KEPT = 1000
"""A file of a million bad rows is told as the first thousand errors and a count."""
HEX = re.compile(r"[0-9a-f]+")
"""Lowercase hexadecimal digits, as a digest is kept."""
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
        if len(digest) != length or not HEX.fullmatch(digest):
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
    transaction: Transaction,
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
    at all leaves the current version in place (:class:`HashListError`). Each batch of entries is a
    transaction of its own, opened by ``transaction`` (the store's ``session``, or the terminal's
    connection through the driver, :meth:`takedown.direct_writes.DirectTransactions.transaction`)."""
    name = list_name(name)
    now = clock.now()
    version = (version or iso(now)).strip()[:64]
    if not version or _CONTROL.search(version):
        raise HashListError("--version must be printable text, up to 64 characters")
    summary = HashImportSummary(name, version)
    drop_versions(transaction, name, "loading")  # what an import that died left
    with transaction() as target, writing(target) as writes:
        loading = {"name": name, "version": version, "state": "loading", "imported_at": now,
                   "imported_by": actor}  # fmt: skip
        [list_id] = insert_rows_with_ids(writes, "hash_list", [loading], times=("imported_at",))
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
            _write(transaction, batch)
            summary.entries += len(batch)
            if on_progress:
                on_progress(since_progress)
                since_progress = 0
            batch = []
    if batch:
        _write(transaction, batch)
        summary.entries += len(batch)
    if on_progress and since_progress:
        on_progress(since_progress)
    if not summary.entries:
        with transaction() as target, writing(target) as writes:
            update_row(writes, "hash_list", list_id, {"state": "retired"})
        drop_versions(transaction, name, "retired")
        raise HashListError(
            f"no entry of list {name!r} could be read ({summary.rejected} refused); the version in use stays"
        )
    with transaction() as target, writing(target) as writes:  # the switch: one short transaction
        bound = mark(writes)
        old = list(writes.stream(
            f"SELECT id, version FROM hash_list WHERE name = {bound} AND state = 'active'", (name,)
        ))  # fmt: skip
        for old_id, old_version in old:  # one at most: a unique index allows no second
            summary.replaced = old_version
            update_row(writes, "hash_list", old_id, {"state": "retired"})
        activated = {"state": "active", "entries": summary.entries, "activated_at": clock.now()}
        update_row(writes, "hash_list", list_id, activated, times=("activated_at",))
    drop_versions(transaction, name, "retired")  # the old version's rows go after the switch
    _refresh_statistics(transaction)
    return summary


def _refresh_statistics(transaction: Transaction) -> None:
    """On PostgreSQL, the planner's statistics of the entries, at once: after a million rows came
    in, and before autovacuum got to them, it walked the whole list's index for each lookup
    (59.9 ms a lookup; 0.045 ms after ``ANALYZE``)."""
    with transaction() as target, writing(target) as writes:
        if writes.dialect == "postgresql":
            writes.execute("ANALYZE hash_entry")
            writes.execute("ANALYZE hash_list")


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


def _write(transaction: Transaction, batch: Sequence[dict[str, Any]]) -> None:
    with transaction() as target, writing(target) as writes:
        insert_rows(writes, "hash_entry", batch)


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
