"""The terminal's everyday reads (``queue list``, its ``--count``, ``case show``) answered
through the database driver itself, sqlite3 or psycopg, without SQLAlchemy. The reader also
carries the reads written once in plain SQL for both ways (:mod:`takedown.sql_reads`: ``takedown
stats``, ``notices list``, ``portals queue`` and the other lists) through :meth:`DirectReader.stream`;
their SQL is their own modules', the same text whichever way it is read.

Why a second way to read the same rows: importing SQLAlchemy, its ORM and the mapped models, and
compiling a first query, is most of half a second on every command, and these are the commands an
analyst types all day (issue 12 asks for them in under 0.3 s on a store of a million cases). The
SQL (below, and the filter's in :mod:`takedown.case_listing`) is what :mod:`takedown.cases` has
SQLAlchemy write for the same filter, parameters and all, so the same indexes answer;
``tests/test_direct_reads.py`` holds the two ways' answers equal on SQLite and on PostgreSQL, for
any filter and every case of a store the pipeline has worked on.

It only reads: SQLite's connection is ``query_only``, PostgreSQL's transactions are read-only.
Whatever it does not handle is left to the store's own path (:meth:`DirectReader.open` gives
``None``): another driver, an in-memory or missing database, a store not at this code's schema
revision (the store's path upgrades it first), a database that cannot be reached (the store's
path says why, as every command does). A listing of a million cases streams this way too
(:mod:`takedown.case_listing`, written once for both ways).
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator, Sequence
from contextlib import suppress
from typing import Any, Protocol

from takedown.case_listing import case_where, listed_cases
from takedown.case_views import (
    CaseDetail,
    CaseFilter,
    FingerprintView,
    ListedCase,
    TimelineEntry,
    tally_counts,
)
from takedown.driver_connections import connect_at_head, end, is_driver_error
from takedown.errors import CaseNotFound, StoreError, failure_line
from takedown.sql_reads import LONG_READ_PAGE, mark, stored_json, stored_time, stored_time_or_none
from takedown.states import CaseState

log = logging.getLogger(__name__)

DETAIL_FIELDS = (
    "id", "state", "url", "canonical_url", "dedup_key", "host", "category", "reference", "queued_by",
    "previous_case_id", "queued_at", "first_seen_live_at", "last_seen_live_at", "last_checked_at",
    "first_notice_at", "gone_since", "removed_at", "closed_at", "next_check_at", "next_notice_at",
)  # fmt: skip
"""The columns ``case show`` reads, named as :class:`CaseDetail`'s fields are."""
TIME_FIELDS = frozenset(name for name in DETAIL_FIELDS if name.endswith(("_at", "_since")))
DETAIL_COLUMNS = ", ".join(DETAIL_FIELDS)


class CaseReads(Protocol):
    """What the terminal reads about cases, whichever way it is read."""

    def iter_listed(self, wanted: CaseFilter, *, limit: int | None) -> Iterator[ListedCase]: ...

    def count_cases(self, wanted: CaseFilter) -> int: ...

    def show_case(self, case_id: int) -> CaseDetail: ...


class DirectReader:
    """One read-only connection and one transaction (every read sees the same moment); close it."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self._connection = connection
        self.dialect = dialect
        self._streams: list[Generator[tuple[Any, ...]]] = []

    @classmethod
    def open(cls, database_url: str) -> DirectReader | None:
        """A reader for the store at ``database_url``, or ``None`` where the store's own path must
        answer (see the module's docstring)."""
        found = connect_at_head(database_url, writing=False)
        return None if found is None else cls(*found)

    def close(self) -> None:
        """End the reads left part way (a listing whose reader went away, as ``| head`` does), the
        transaction (nothing was written) and the connection. A read left open past its connection
        would fail later, from the garbage collector, when it closed its cursor."""
        for rows in self._streams:
            with suppress(StoreError):  # a connection lost already: ending it is what is left
                rows.close()
        end(self._connection)

    def __enter__(self) -> DirectReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- the reads ---------------------------------------------------------------------------------

    def iter_listed(self, wanted: CaseFilter, *, limit: int | None = 100) -> Iterator[ListedCase]:
        """:func:`takedown.case_listing.listed_cases`, as they come from the store."""
        return listed_cases(self, wanted, limit=limit)

    def count_cases(self, wanted: CaseFilter) -> int:
        """:func:`takedown.cases.count_cases`: by state from the running counts, else counted."""
        if wanted.by_state_only:
            summed = self._rows(
                "SELECT state, needs_analyst, sum(cases) FROM case_tally GROUP BY state, needs_analyst", ()
            )
            return wanted.counted_in(tally_counts(summed))
        where, parameters = case_where(self, wanted)
        [(count,)] = self._rows(f'SELECT count("case".id) FROM "case"{where}', parameters)
        return int(count or 0)

    def show_case(self, case_id: int) -> CaseDetail:
        """:func:`takedown.cases.show_case`; :class:`CaseNotFound` if there is none."""
        placeholder = mark(self)
        found = self._rows(f'SELECT {DETAIL_COLUMNS} FROM "case" WHERE id = {placeholder}', (case_id,))
        if not found:
            raise CaseNotFound(case_id)
        [row] = found
        fingerprints = self._rows(
            f"SELECT algorithm, digest FROM fingerprint WHERE case_id = {placeholder} ORDER BY id", (case_id,)
        )
        events = self._rows(
            "SELECT at, actor, action, from_state, to_state, detail FROM event "
            f"WHERE case_id = {placeholder} ORDER BY id",
            (case_id,),
        )
        fields: dict[str, Any] = {
            name: stored_time_or_none(value) if name in TIME_FIELDS else value
            for name, value in zip(DETAIL_FIELDS, row, strict=True)
        }
        return CaseDetail(
            **{**fields, "state": CaseState(fields["state"])},
            fingerprints=tuple(FingerprintView(algorithm, digest) for algorithm, digest in fingerprints),
            timeline=tuple(
                TimelineEntry(
                    at=stored_time(at),
                    actor=actor,
                    action=action,
                    from_state=from_state,
                    to_state=to_state,
                    detail=dict(stored_json(detail) or {}),
                )
                for at, actor, action, from_state, to_state, detail in events
            ),
        )

    # --- the SQL -----------------------------------------------------------------------------------

    def stream(self, sql: str, parameters: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """The rows of ``sql`` (written with this driver's marks), one at a time: the reads
        written once for both ways (:class:`takedown.sql_reads.SqlReads`) go through here. A
        driver's failure is a :class:`StoreError`, one line, as the store's path says it."""
        return self._stream(sql, parameters, long=False)

    def stream_long(self, sql: str, parameters: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """:meth:`stream`, fetched a page at a time on PostgreSQL, whose driver otherwise takes
        every row of a result into memory at once (SQLite's steps through them anyway)."""
        return self._stream(sql, parameters, long=True)

    def _stream(self, sql: str, parameters: Sequence[Any], *, long: bool) -> Generator[tuple[Any, ...]]:
        rows = self._rows_of(sql, parameters, long=long)
        self._streams.append(rows)
        return rows

    def _rows_of(self, sql: str, parameters: Sequence[Any], *, long: bool) -> Generator[tuple[Any, ...]]:
        try:
            if long and self.dialect == "postgresql":
                with self._connection.cursor(name="takedown_listing") as cursor:
                    cursor.itersize = LONG_READ_PAGE
                    cursor.execute(sql, tuple(parameters))
                    yield from cursor
                return
            yield from self._connection.execute(sql, tuple(parameters))
        except Exception as exc:
            if not is_driver_error(exc):
                raise
            log.info("the store failed", exc_info=exc)
            raise StoreError(f"{failure_line(exc)} (run with -v for the details)") from exc

    def _rows(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        return list(self.stream(sql, parameters))
