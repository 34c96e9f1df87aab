"""The case list in plain SQL, written once for both ways: ``takedown queue list`` reads it through
the database driver (:class:`takedown.direct_reads.DirectReader`), the console's export and the
terminal's fallback through a session of the store (:class:`takedown.sql_reads.SessionReads`).

The rows are what a listing prints (:data:`takedown.case_views.ListedCase`), with the time written
by the database, not records: a listing of a million cases built a :class:`CaseSummary` and parsed
a time for each row only to format the time again, and printed half as many a second for it.
``tests/test_direct_reads.py`` holds this SQL's answers equal to what SQLAlchemy's query
(:func:`takedown.cases.iter_cases`) gives, for any filter, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

from takedown.case_views import CaseFilter, ListedCase
from takedown.sql_reads import PagedReads, SqlReads, mark
from takedown.sql_writes import time_to_store
from takedown.states import OPEN_STATES

LISTED_COLUMNS = '"case".id, "case".state, "case".url, "case".host, "case".category, "case".reference'
LISTED_TIME = {
    "sqlite": """substr("case".queued_at, 1, 10) || 'T' || substr("case".queued_at, 12, 8) || 'Z'""",
    "postgresql": """to_char("case".queued_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')""",
}
"""The time a case was queued as :func:`takedown.plain.iso` shows it, written by the database: SQLite
keeps ``2026-11-30 03:52:12.123456`` (UTC) and PostgreSQL a naive UTC ``timestamp``; both are cut
to the second, not rounded, as ``iso`` cuts them."""


def listed_cases(reads: PagedReads, wanted: CaseFilter, *, limit: int | None) -> Iterator[ListedCase]:
    """The cases ``wanted`` asks for, in its order, as a listing prints them: up to ``limit``, or
    every one (a million in flat memory: on PostgreSQL through a server-side cursor)."""
    where, parameters = case_where(reads, wanted)
    keys = ('"case".queued_at', '"case".id') if wanted.by_queued_time else ('"case".id',)
    order = ", ".join(f"{key} DESC" if wanted.newest_first else key for key in keys)
    sql = f'SELECT {LISTED_COLUMNS}, {LISTED_TIME[reads.dialect]} FROM "case"{where} ORDER BY {order}'
    if limit is not None:
        sql += f" LIMIT {mark(reads)}"
        parameters.append(limit)
    return cast("Iterator[ListedCase]", iter(reads.stream_long(sql, parameters)))


def case_where(reads: SqlReads, wanted: CaseFilter) -> tuple[str, list[Any]]:
    """The WHERE clause (``" WHERE ..."``, or nothing) of the cases ``wanted`` asks for, in ``reads``' SQL,
    and its parameters: the clause :func:`takedown.cases._filtered` has SQLAlchemy build, term for
    term and in its order, so the same indexes answer."""
    bound = mark(reads)
    terms: list[str] = []
    parameters: list[Any] = []
    if wanted.after_id:
        if not wanted.by_queued_time:
            terms.append(f'"case".id {"<" if wanted.newest_first else ">"} {bound}')
            parameters.append(wanted.after_id)
        else:  # the cursor is (queued_at, id); the page before ended at after_id
            cursor = f'((SELECT "case".queued_at FROM "case" WHERE "case".id = {bound}), {bound})'
            terms.append(f'("case".queued_at, "case".id) {"<" if wanted.newest_first else ">"} {cursor}')
            parameters += [wanted.after_id, wanted.after_id]
    if wanted.needs_analyst:
        # as the partial index ix_case_needs_analyst is written
        terms.append('"case".needs_analyst = 1' if reads.dialect == "sqlite" else '"case".needs_analyst')
        terms.append(_among(bound, '"case".state', sorted(state.value for state in OPEN_STATES), parameters))
    if len(wanted.states) == 1:  # "=", not "IN (...)": SQLite then uses a state's partial index
        terms.append(f'"case".state = {bound}')
        parameters.append(wanted.states[0].value)
    elif wanted.states:
        terms.append(_among(bound, '"case".state', [state.value for state in wanted.states], parameters))
    for column, value in (
        ("host", wanted.host.lower() if wanted.host else None),
        ("reference", wanted.reference or None),
        ("category", wanted.category or None),
        ("hosting_country", wanted.country.upper() if wanted.country else None),
        ("hosting_asn", wanted.asn),
        ("hosting_network", wanted.network or None),
    ):
        if value is not None:
            terms.append(f'"case".{column} = {bound}')
            parameters.append(value)
    if wanted.queued_from is not None:
        terms.append(f'"case".queued_at >= {bound}')
        parameters.append(time_to_store(reads.dialect)(wanted.queued_from))
    if wanted.queued_before is not None:
        terms.append(f'"case".queued_at < {bound}')
        parameters.append(time_to_store(reads.dialect)(wanted.queued_before))
    return (" WHERE " + " AND ".join(terms) if terms else ""), parameters


def _among(bound: str, column: str, values: Sequence[str], parameters: list[Any]) -> str:
    parameters += values
    return f"{column} IN ({', '.join(bound for _ in values)})"
