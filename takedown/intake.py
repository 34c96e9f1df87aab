"""Opening cases for validated reports (:mod:`takedown.reports`): deduplication against the open
cases, reopening when content comes back after a case closed, fingerprints and the audit event.

Bulk intake from a file (:func:`import_rows`) is built so that nothing is lost and nothing is done
twice: rows are committed in batches, so a crash keeps every batch already committed, and importing
the same file again opens no second case for a URL already open. A bad row is reported with its line
number and field, and the rest still go in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from takedown.case_moves import event_row, insert_events
from takedown.clock import Clock
from takedown.gc_tuning import bulk_collections
from takedown.import_reading import ValidatedBatch, validate_batches
from takedown.importer import IMPORT_BATCH, ImportSummary, Row
from takedown.reports import QueueOutcome, QueueResult, ValidReport
from takedown.sql_reads import among
from takedown.sql_writes import (
    SqlWrites,
    insert_columns,
    insert_columns_with_ids,
    is_integrity_error,
    writing,
)
from takedown.states import CLOSED_CASE_SQL, OPEN_CASE_SQL, CaseState

if TYPE_CHECKING:
    from takedown.sql_writes import WriteTarget
    from takedown.store import Store

CASE_TABLE = "case"
FINGERPRINT_TABLE = "fingerprint"
CASE_TIMES = ("queued_at", "updated_at", "next_check_at")
_CONCURRENT_RETRIES = 5
"""Tries of a batch that lost a race with another importer opening the same URL."""


def queue_batch(
    target: WriteTarget, reports: Sequence[ValidReport], *, actor: str, now: datetime
) -> list[QueueResult]:
    """Open cases for ``reports`` in the caller's transaction (a session of the store, or the
    terminal's direct writer); one result per report, in order.

    The caller commits. If another process opens one of the same URLs concurrently, the partial
    unique index makes the write or the commit fail with an integrity error (the driver's, or
    SQLAlchemy's around it: :func:`takedown.sql_writes.is_integrity_error`); run the batch again
    and that URL comes back as ``already_open``. Rows are written with set-based inserts, not one
    ORM object at a time: intake is the bulk path, where that is the difference between minutes and
    seconds. The SQL is written once for both ways (:mod:`takedown.sql_writes`).
    """
    with writing(target) as writes:
        hashes = {report.dedup_hash for report in reports}
        open_cases = _open_case_ids(writes, hashes)
        last_closed = _last_closed_case_ids(writes, hashes - open_cases.keys())

        to_open: dict[str, ValidReport] = {}
        for report in reports:
            if report.dedup_hash not in open_cases:
                to_open.setdefault(report.dedup_hash, report)
        opened = _insert_cases(writes, to_open, last_closed, actor=actor, now=now)

    results = []
    for report in reports:
        key = report.dedup_hash
        if key in open_cases:
            results.append(QueueResult(QueueOutcome.ALREADY_OPEN, open_cases[key], report.url))
        elif to_open[key] is not report:
            results.append(QueueResult(QueueOutcome.ALREADY_OPEN, opened[key], report.url))
        elif key in last_closed:
            results.append(QueueResult(QueueOutcome.REOPENED, opened[key], report.url, last_closed[key]))
        else:
            results.append(QueueResult(QueueOutcome.QUEUED, opened[key], report.url))
    return results


def _insert_cases(
    writes: SqlWrites, reports: dict[str, ValidReport], previous: dict[str, int], *, actor: str, now: datetime
) -> dict[str, int]:
    """Insert one case per report with its fingerprints and events; return case ids by dedup hash."""
    if not reports:
        return {}
    keys = list(reports)
    valid = list(reports.values())
    count = len(valid)
    # Straight to the database (COPY on PostgreSQL, one prepared INSERT elsewhere), column by
    # column (:func:`takedown.sql_writes.insert_columns`): the ORM's bulk layer added half again to
    # the cost of each batch, for rows that are plain values anyway.
    columns: dict[str, list[Any]] = {
        "url": [report.url for report in valid],
        "canonical_url": [report.canonical.url for report in valid],
        "dedup_key": [report.canonical.dedup_key for report in valid],
        "dedup_hash": keys,
        "host": [report.host for report in valid],
        "category": [report.category for report in valid],
        "reference": [report.reference for report in valid],
        "classification": [report.classification for report in valid],
        "state": [CaseState.QUEUED.value] * count,
        "queued_by": [actor] * count,
        "previous_case_id": [previous.get(key) for key in keys],
        "queued_at": [now] * count,
        "updated_at": [now] * count,
        "next_check_at": [now] * count,
    }
    new_ids = insert_columns_with_ids(writes, CASE_TABLE, columns, times=CASE_TIMES)
    ids = dict(zip(keys, new_ids, strict=True))
    _count_new_cases(writes, CaseState.QUEUED.value, count)
    fingerprints = [
        (case_id, algorithm, digest)
        for case_id, report in zip(new_ids, valid, strict=True)
        for algorithm, digest in report.fingerprints
    ]
    if fingerprints:
        case_ids, algorithms, digests = zip(*fingerprints, strict=True)
        insert_columns(
            writes, FINGERPRINT_TABLE, {"case_id": case_ids, "algorithm": algorithms, "digest": digests}
        )
    events = []
    for key, report in reports.items():
        detail: dict[str, object] = {"category": report.category}
        if report.reference:
            detail["reference"] = report.reference
        if report.classification:
            detail["classification"] = report.classification
        if key in previous:
            detail["reopens_case"] = previous[key]
            events.append(event_row(previous[key], now, actor, "reopened_as", {"case": ids[key]}))
        events.append(event_row(ids[key], now, actor, "queued", detail, to_state=CaseState.QUEUED.value))
    insert_events(writes, events)
    return ids


def _count_new_cases(writes: SqlWrites, state: str, cases: int) -> None:
    """Intake's batch of new cases (all in ``state``, none flagged for an analyst), counted once in
    the running counts (``case_tally``, :mod:`takedown.tallies`).

    On SQLite a row trigger made bulk intake 18% slower, so intake, the only writer that inserts
    cases, counts its batch itself (migration 0014). PostgreSQL's statement-level trigger counts
    inserts there, so this does nothing on it."""
    if cases and writes.dialect == "sqlite":
        writes.execute(
            "UPDATE case_tally SET cases = cases + ? WHERE state = ? AND needs_analyst = 0", (cases, state)
        )


def _open_case_ids(writes: SqlWrites, hashes: set[str]) -> dict[str, int]:
    if not hashes:
        return {}
    hashed, parameters = among(writes, "dedup_hash", sorted(hashes))
    sql = f'SELECT dedup_hash, id FROM "case" WHERE {hashed} AND {OPEN_CASE_SQL}'
    return {key: case_id for key, case_id in writes.stream(sql, parameters)}


def _last_closed_case_ids(writes: SqlWrites, hashes: set[str]) -> dict[str, int]:
    if not hashes:
        return {}
    hashed, parameters = among(writes, "dedup_hash", sorted(hashes))
    sql = f'SELECT dedup_hash, max(id) FROM "case" WHERE {hashed} AND {CLOSED_CASE_SQL} GROUP BY dedup_hash'
    return {key: case_id for key, case_id in writes.stream(sql, parameters)}


def import_rows(
    store: Store,
    rows: Iterable[Row],
    *,
    actor: str,
    clock: Clock,
    batch_size: int = IMPORT_BATCH,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Validate and queue ``rows``, committing every ``batch_size`` rows."""
    return import_batches(
        store, validate_batches(rows, batch_size), actor=actor, clock=clock, on_progress=on_progress
    )


def import_batches(
    store: Store,
    batches: Iterable[ValidatedBatch],
    *,
    actor: str,
    clock: Clock,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Queue the reports of each of ``batches`` in a transaction of its own (so a crash keeps every
    batch before it), and gather what each row came to; ``on_progress`` is told the rows read."""
    summary = ImportSummary()
    with bulk_collections():
        for batch in batches:
            summary.errors.extend(batch.errors)
            if batch.reports:
                reports = [report for _line, report in batch.reports]
                for result in queue_reports(store.session, reports, actor=actor, clock=clock):
                    summary.counts[result.outcome.value] += 1
            if on_progress:
                on_progress(batch.rows)
    return summary


def queue_reports(
    transaction: Callable[[], AbstractContextManager[WriteTarget]],
    reports: Sequence[ValidReport],
    *,
    actor: str,
    clock: Clock,
) -> list[QueueResult]:
    """:func:`queue_batch` in a transaction of its own (``transaction()``: a session of the store,
    or the terminal's direct writer), committed; tried again when it lost a race."""
    for attempt in range(1, _CONCURRENT_RETRIES + 1):
        try:
            with transaction() as target:
                return queue_batch(target, reports, actor=actor, now=clock.now())
        except Exception as exc:
            # Another importer opened one of these URLs between our read and our write; the
            # transaction was rolled back whole, and on the next try that URL reads as open.
            if not is_integrity_error(exc) or attempt == _CONCURRENT_RETRIES:
                raise
    raise AssertionError("unreachable: the last try returns or raises")
