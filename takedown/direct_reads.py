"""The terminal's everyday reads (``queue list``, its ``--count``, ``case show``) answered
through the database driver itself, sqlite3 or psycopg, without SQLAlchemy. The reader also
carries the reads written once in plain SQL for both ways (:mod:`takedown.sql_reads`: ``takedown
stats``, ``notices list``, ``portals queue`` and the other lists) through :meth:`DirectReader.stream`;
their SQL is their own modules', the same text whichever way it is read.

Why a second way to read the same rows: importing SQLAlchemy, its ORM and the mapped models, and
compiling a first query, is most of half a second on every command, and these are the commands an
analyst types all day (issue 12 asks for them in under 0.3 s on a store of a million cases). The
SQL below is what :mod:`takedown.cases` has SQLAlchemy write for the same filter, parameters and
all, so the same indexes answer; ``tests/test_direct_reads.py`` holds the two ways' answers equal
on SQLite and on PostgreSQL, for any filter and every case of a store the pipeline has worked on.

It only reads: SQLite's connection is ``query_only``, PostgreSQL's transactions are read-only.
Whatever it does not handle is left to the store's own path (:meth:`DirectReader.open` gives
``None``): another driver, an in-memory or missing database, a store not at this code's schema
revision (the store's path upgrades it first), a database that cannot be reached (the store's
path says why, as every command does). A listing of a million cases streams this way too, as
plain rows (:data:`takedown.case_views.ListedCase`) with the time written by the database: the
store's path built a record and parsed a time for every row, and printed half as many a second.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator, Sequence
from contextlib import suppress
from typing import Any, Protocol

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
from takedown.sql_reads import stored_json, stored_time, stored_time_or_none
from takedown.sql_writes import time_to_store
from takedown.states import OPEN_STATES, CaseState

log = logging.getLogger(__name__)

LISTED_COLUMNS = '"case".id, "case".state, "case".url, "case".host, "case".category, "case".reference'
LISTED_TIME = {
    "sqlite": """substr("case".queued_at, 1, 10) || 'T' || substr("case".queued_at, 12, 8) || 'Z'""",
    "postgresql": """to_char("case".queued_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')""",
}
"""The time a case was queued as :func:`takedown.plain.iso` shows it, written by the database: SQLite
keeps ``2026-11-30 03:52:12.123456`` (UTC) and PostgreSQL a naive UTC ``timestamp``; both are cut
to the second, not rounded, as ``iso`` cuts them."""
LISTING_PAGE = 2000
"""Rows a PostgreSQL listing fetches from its server-side cursor at a time."""
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
        self._mark = "?" if dialect == "sqlite" else "%s"
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
        """:func:`takedown.cases.iter_cases`, as a listing prints it: the rows as they come from the
        store, the time written as text by the database (a million in flat memory; on PostgreSQL
        through a server-side cursor)."""
        where, parameters = self._where(wanted)
        keys = ('"case".queued_at', '"case".id') if wanted.by_queued_time else ('"case".id',)
        order = ", ".join(f"{key} DESC" if wanted.newest_first else key for key in keys)
        sql = f'SELECT {LISTED_COLUMNS}, {LISTED_TIME[self.dialect]} FROM "case"{where} ORDER BY {order}'
        if limit is not None:
            sql += f" LIMIT {self._mark}"
            parameters.append(limit)
        return self.stream(sql, parameters, long=True)

    def count_cases(self, wanted: CaseFilter) -> int:
        """:func:`takedown.cases.count_cases`: by state from the running counts, else counted."""
        if wanted.by_state_only:
            summed = self._rows(
                "SELECT state, needs_analyst, sum(cases) FROM case_tally GROUP BY state, needs_analyst", ()
            )
            return wanted.counted_in(tally_counts(summed))
        where, parameters = self._where(wanted)
        [(count,)] = self._rows(f'SELECT count("case".id) FROM "case"{where}', parameters)
        return int(count or 0)

    def show_case(self, case_id: int) -> CaseDetail:
        """:func:`takedown.cases.show_case`; :class:`CaseNotFound` if there is none."""
        mark = self._mark
        found = self._rows(f'SELECT {DETAIL_COLUMNS} FROM "case" WHERE id = {mark}', (case_id,))
        if not found:
            raise CaseNotFound(case_id)
        [row] = found
        fingerprints = self._rows(
            f"SELECT algorithm, digest FROM fingerprint WHERE case_id = {mark} ORDER BY id", (case_id,)
        )
        events = self._rows(
            "SELECT at, actor, action, from_state, to_state, detail FROM event "
            f"WHERE case_id = {mark} ORDER BY id",
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

    def _where(self, wanted: CaseFilter) -> tuple[str, list[Any]]:
        """The WHERE clause :func:`takedown.cases._filtered` builds, term for term and in its order."""
        mark = self._mark
        terms: list[str] = []
        parameters: list[Any] = []
        if wanted.after_id:
            if not wanted.by_queued_time:
                terms.append(f'"case".id {"<" if wanted.newest_first else ">"} {mark}')
                parameters.append(wanted.after_id)
            else:  # the cursor is (queued_at, id); the page before ended at after_id
                cursor = f'((SELECT "case".queued_at FROM "case" WHERE "case".id = {mark}), {mark})'
                terms.append(f'("case".queued_at, "case".id) {"<" if wanted.newest_first else ">"} {cursor}')
                parameters += [wanted.after_id, wanted.after_id]
        if wanted.needs_analyst:
            # as the partial index ix_case_needs_analyst is written
            terms.append('"case".needs_analyst = 1' if self.dialect == "sqlite" else '"case".needs_analyst')
            terms.append(self._in('"case".state', sorted(state.value for state in OPEN_STATES), parameters))
        if len(wanted.states) == 1:  # "=", not "IN (...)": SQLite then uses a state's partial index
            terms.append(f'"case".state = {mark}')
            parameters.append(wanted.states[0].value)
        elif wanted.states:
            terms.append(self._in('"case".state', [state.value for state in wanted.states], parameters))
        for column, value in (
            ("host", wanted.host.lower() if wanted.host else None),
            ("reference", wanted.reference or None),
            ("category", wanted.category or None),
            ("hosting_country", wanted.country.upper() if wanted.country else None),
            ("hosting_asn", wanted.asn),
            ("hosting_network", wanted.network or None),
        ):
            if value is not None:
                terms.append(f'"case".{column} = {mark}')
                parameters.append(value)
        if wanted.queued_from is not None:
            terms.append(f'"case".queued_at >= {mark}')
            parameters.append(time_to_store(self.dialect)(wanted.queued_from))
        if wanted.queued_before is not None:
            terms.append(f'"case".queued_at < {mark}')
            parameters.append(time_to_store(self.dialect)(wanted.queued_before))
        return (" WHERE " + " AND ".join(terms) if terms else ""), parameters

    def _in(self, column: str, values: Sequence[str], parameters: list[Any]) -> str:
        parameters += values
        return f"{column} IN ({', '.join(self._mark for _ in values)})"

    def stream(
        self, sql: str, parameters: Sequence[Any] = (), *, long: bool = False
    ) -> Iterator[tuple[Any, ...]]:
        """The rows of ``sql`` (written with this driver's marks), one at a time: the reads
        written once for both ways (:class:`takedown.sql_reads.SqlReads`) go through here. A
        ``long`` read is fetched a page at a time on PostgreSQL, whose driver otherwise takes every
        row into memory at once (SQLite's steps through them anyway). A driver's failure is a
        :class:`StoreError`, one line, as the store's path says it."""
        rows = self._stream(sql, parameters, long=long)
        self._streams.append(rows)
        return rows

    def _stream(self, sql: str, parameters: Sequence[Any], *, long: bool) -> Generator[tuple[Any, ...]]:
        try:
            if long and self.dialect == "postgresql":
                with self._connection.cursor(name="takedown_listing") as cursor:
                    cursor.itersize = LISTING_PAGE
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
