"""Opening cases for validated reports (:mod:`takedown.reports`): deduplication against the open
cases, reopening when content comes back after a case closed, fingerprints and the audit event.

Bulk intake from a file (:func:`import_rows`) is built so that nothing is lost and nothing is done
twice: rows are committed in batches, so a crash keeps every batch already committed, and importing
the same file again opens no second case for a URL already open. A bad row is reported with its line
number and field, and the rest still go in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import ARRAY, ColumnElement, String, Table, any_, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from takedown.bulk import insert_rows, insert_rows_with_ids
from takedown.cases import event_row
from takedown.clock import Clock
from takedown.errors import InvalidReport
from takedown.importer import IMPORT_BATCH, ImportSummary, Row, RowError
from takedown.models import Case, Event, Fingerprint
from takedown.reports import QueueOutcome, QueueResult, ValidReport, validate_report
from takedown.states import OPEN_STATES, CaseState
from takedown.store import Store
from takedown.tallies import count_new_cases

CASE_TABLE = cast(Table, Case.__table__)
FINGERPRINT_TABLE = cast(Table, Fingerprint.__table__)
EVENT_TABLE = cast(Table, Event.__table__)
_CONCURRENT_RETRIES = 5
"""Tries of a batch that lost a race with another importer opening the same URL."""


def queue_batch(
    session: Session, reports: Sequence[ValidReport], *, actor: str, now: datetime
) -> list[QueueResult]:
    """Open cases for ``reports`` in the caller's transaction; one result per report, in order.

    The caller commits. If another process opens one of the same URLs concurrently, the partial
    unique index makes the commit fail with ``IntegrityError``; run the batch again and that
    URL comes back as ``already_open``. Rows are written with set-based inserts, not one ORM object
    at a time: intake is the bulk path, where that is the difference between minutes and seconds.
    """
    hashes = {report.dedup_hash for report in reports}
    open_cases = _open_case_ids(session, hashes)
    last_closed = _last_closed_case_ids(session, hashes - open_cases.keys())

    to_open: dict[str, ValidReport] = {}
    for report in reports:
        if report.dedup_hash not in open_cases:
            to_open.setdefault(report.dedup_hash, report)
    opened = _insert_cases(session, to_open, last_closed, actor=actor, now=now)

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
    session: Session, reports: dict[str, ValidReport], previous: dict[str, int], *, actor: str, now: datetime
) -> dict[str, int]:
    """Insert one case per report with its fingerprints and events; return case ids by dedup hash."""
    if not reports:
        return {}
    rows = [
        {
            "url": report.url,
            "canonical_url": report.canonical.url,
            "dedup_key": report.canonical.dedup_key,
            "dedup_hash": key,
            "host": report.host,
            "category": report.category,
            "reference": report.reference,
            "classification": report.classification,
            "state": CaseState.QUEUED.value,
            "queued_by": actor,
            "previous_case_id": previous.get(key),
            "queued_at": now,
            "updated_at": now,
            "next_check_at": now,
        }
        for key, report in reports.items()
    ]
    # Straight to the database on the session's connection (in its transaction): COPY on
    # PostgreSQL, multi-row INSERTs elsewhere (takedown/bulk.py); the ORM's bulk layer added half
    # again to the cost of each batch, for rows that are plain dictionaries anyway.
    connection = session.connection()
    ids = dict(zip(reports, insert_rows_with_ids(connection, CASE_TABLE, rows), strict=True))
    count_new_cases(session, CaseState.QUEUED.value, len(rows))
    fingerprints = [
        {"case_id": ids[key], "algorithm": algorithm, "digest": digest}
        for key, report in reports.items()
        for algorithm, digest in report.fingerprints
    ]
    insert_rows(connection, FINGERPRINT_TABLE, fingerprints)
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
    insert_rows(connection, EVENT_TABLE, events)
    return ids


def _open_case_ids(session: Session, hashes: set[str]) -> dict[str, int]:
    if not hashes:
        return {}
    rows = session.execute(
        select(Case.dedup_hash, Case.id).where(
            _hash_among(session, hashes), Case.state.in_([state.value for state in OPEN_STATES])
        )
    )
    return {key: case_id for key, case_id in rows}


def _hash_among(session: Session, hashes: set[str]) -> ColumnElement[bool]:
    """``dedup_hash IN (...)``; on PostgreSQL ``= ANY(array)``: one parameter instead of a
    thousand, which the driver no longer parses out of the statement each batch."""
    if session.get_bind().dialect.name == "postgresql":
        return Case.dedup_hash == any_(bindparam("hashes", sorted(hashes), type_=ARRAY(String(64))))
    return Case.dedup_hash.in_(hashes)


def _last_closed_case_ids(session: Session, hashes: set[str]) -> dict[str, int]:
    if not hashes:
        return {}
    rows = session.execute(
        select(Case.dedup_hash, func.max(Case.id))
        .where(_hash_among(session, hashes))
        .group_by(Case.dedup_hash)
    )
    return {key: case_id for key, case_id in rows}


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
    summary = ImportSummary()
    batch: list[tuple[int, ValidReport]] = []
    rows_since_progress = 0
    for row in rows:
        rows_since_progress += 1
        if row.error is None and row.report is not None:
            try:
                batch.append((row.line, validate_report(row.report)))
            except InvalidReport as exc:
                summary.errors.append(RowError(row.line, exc.field, exc.message))
        elif row.error is not None:
            summary.errors.append(RowError(row.line, row.error.field, row.error.message))
        if len(batch) >= batch_size:
            _commit_batch(store, batch, summary, actor=actor, clock=clock)
            batch = []
            if on_progress:
                on_progress(rows_since_progress)
                rows_since_progress = 0
    if batch:
        _commit_batch(store, batch, summary, actor=actor, clock=clock)
    if on_progress and rows_since_progress:
        on_progress(rows_since_progress)
    return summary


def _commit_batch(
    store: Store, batch: list[tuple[int, ValidReport]], summary: ImportSummary, *, actor: str, clock: Clock
) -> None:
    reports = [report for _line, report in batch]
    for attempt in range(_CONCURRENT_RETRIES):
        try:
            with store.session() as session:
                results = queue_batch(session, reports, actor=actor, now=clock.now())
            break
        except IntegrityError:
            # Another importer opened one of these URLs between our read and our write; the
            # transaction was rolled back whole, and on the next try that URL reads as open.
            if attempt == _CONCURRENT_RETRIES - 1:
                raise
    for result in results:
        summary.counts[result.outcome.value] += 1
