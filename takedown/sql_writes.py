"""Writes written once, in the driver's own SQL, and carried either by a session of the store or by
the terminal's direct writer (:class:`takedown.direct_writes.DirectWriter`), as
:mod:`takedown.sql_reads` does for reads.

Why: a command that writes one row (``takedown queue add``) spent most of its time importing
SQLAlchemy, its ORM and the mapped models, not writing (0.57-0.74 s on a store of a million cases,
against 0.08 s for the reads that go through the driver alone). Intake is written here once: the
terminal sends it through sqlite3 or psycopg, and bulk import, the portals and the console send the
same text through their session, in their transaction.

Values are written as the store's SQLAlchemy types would bind them, so that either way leaves the
same stored text: a time as naive UTC (on SQLite, the text SQLAlchemy writes, which orders as the
times do), JSON as its text. ``tests/test_direct_writes.py`` holds the two ways' rows equal.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from takedown.sql_reads import STORED_TIME, SqlReads, mark

if TYPE_CHECKING:
    from typing import TypeAlias

    from sqlalchemy.orm import Session

    from takedown.store import Store

    WriteTarget: TypeAlias = "Store | Session | SqlWrites"
    """What a write written once takes (:func:`writing`): a store (a transaction of its own), a
    caller's session, or a writer."""


class SqlWrites(SqlReads, Protocol):
    """:class:`SqlReads` that can also write, in the caller's one transaction (committed or rolled
    back by whoever opened it)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        """Run one statement; the rows it changed."""
        ...

    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement, prepared once, for every row of parameters."""
        ...

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """PostgreSQL's ``COPY table (columns) FROM STDIN``: the fastest way in for many rows."""
        ...


class SessionWrites:
    """:class:`SqlWrites` through a session of the store, in its transaction; the SQL goes to its
    driver as written."""

    def __init__(self, session: Session) -> None:
        self._connection = session.connection()
        self.dialect = self._connection.dialect.name

    def stream(self, sql: str, parameters: Sequence[Any] = ()) -> Iterable[Sequence[Any]]:
        return self._connection.exec_driver_sql(sql, tuple(parameters))

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        return int(self._connection.exec_driver_sql(sql, tuple(parameters)).rowcount)

    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        listed = [tuple(row) for row in rows]
        if listed:
            self._connection.exec_driver_sql(sql, listed)

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        driver: Any = self._connection.connection.driver_connection
        copy_rows(driver, table, columns, rows)


def copy_rows(driver: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """``COPY`` on a psycopg connection, in its transaction."""
    names = ", ".join(f'"{name}"' for name in columns)
    with driver.cursor() as cursor, cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


@contextmanager
def writing(target: WriteTarget) -> Iterator[SqlWrites]:
    """A writer as it is; a caller's session, written through in its transaction; a store, in a
    transaction of its own, committed when the block ends. Told apart by what they do, not by
    isinstance, which would import SQLAlchemy."""
    if hasattr(target, "execute_many"):
        yield cast("SqlWrites", target)
        return
    if hasattr(target, "new_session"):
        with cast("Store", target).session() as session:
            yield SessionWrites(session)
        return
    session = target
    # What the session holds and what the SQL writes must agree: its pending changes go first, and
    # what it had loaded is read again after (the SQL may have changed those rows).
    session.flush()
    try:
        yield SessionWrites(session)
    finally:
        session.expire_all()


def marks(writes: SqlReads, count: int) -> str:
    """``count`` marks, separated by commas (for ``IN (...)`` and ``VALUES (...)``)."""
    return ", ".join([mark(writes)] * count)


def time_to_store(dialect: str) -> Callable[[datetime | None], Any]:
    """How a time is written on ``dialect``, as the store's ``UTCDateTime`` binds it: naive UTC
    (text on SQLite). A naive time is refused: every stored time is UTC. The converter remembers
    the last time it was given, since a batch's rows mostly share theirs."""
    last: list[Any] = [None, None]

    def convert(value: datetime | None) -> Any:
        if value is None:
            return None
        if value is last[0]:
            return last[1]
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing naive datetime {value.isoformat()}: every stored time is UTC")
        naive = value.astimezone(UTC).replace(tzinfo=None)
        stored = naive.strftime(STORED_TIME) if dialect == "sqlite" else naive
        last[0], last[1] = value, stored
        return stored

    return convert


def json_to_store(value: Any) -> str:
    """A JSON column's value as the store's JSON type writes it: its text, ``None`` included, which
    that type writes as JSON ``null``, not SQL NULL."""
    return json.dumps(value)


def insert_rows(
    writes: SqlWrites,
    table: str,
    rows: Sequence[dict[str, Any]],
    *,
    times: Iterable[str] = (),
    json_columns: Iterable[str] = (),
) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``: :func:`insert_columns`, given
    them column by column."""
    if rows:
        insert_columns(writes, table, _columns_of(rows), times=times, json_columns=json_columns)


def _columns_of(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """``rows`` (dicts with the same keys) as their columns."""
    return {name: [row[name] for row in rows] for name in rows[0]}


def insert_columns(
    writes: SqlWrites,
    table: str,
    columns: Mapping[str, Sequence[Any]],
    *,
    times: Iterable[str] = (),
    json_columns: Iterable[str] = (),
) -> None:
    """Insert rows given column by column (each column's values, all of one length) into
    ``table``: ``COPY`` on PostgreSQL, one prepared ``INSERT`` for every row elsewhere. The columns
    named in ``times`` hold aware times, those in ``json_columns`` JSON values; both are converted
    as the store's types would bind them.

    Columns, not rows: a bulk writer makes each column in one comprehension, and a column of one
    value repeated (a batch's time, its actor) is converted once. Intake building its columns so,
    instead of a dict per row read back column by column, made a first import 3-5% faster
    (bench/bench_import.py, three runs each way).

    A row that breaks a constraint (the partial unique index that allows one open case per URL)
    fails the whole statement, and the caller's transaction with it."""
    names = list(columns)
    if not names or not len(columns[names[0]]):
        return
    converters: dict[str, Callable[[Any], Any]] = {name: time_to_store(writes.dialect) for name in times}
    converters.update(dict.fromkeys(json_columns, json_to_store))
    by_column: list[Sequence[Any]] = []
    for name in names:
        values = columns[name]
        convert = converters.get(name)
        by_column.append(values if convert is None else list(map(convert, values)))
    converted = zip(*by_column, strict=True)
    if writes.dialect == "postgresql":
        writes.copy(table, names, converted)
        return
    quoted = ", ".join(f'"{name}"' for name in names)
    writes.execute_many(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks(writes, len(names))})', converted)


def update_row(
    writes: SqlWrites, table: str, row_id: int, values: dict[str, Any], *, times: Iterable[str] = ()
) -> int:
    """Set ``values`` (column: value) on the row of ``table`` whose id is ``row_id``; the columns
    named in ``times`` hold aware times, converted as the store's type would bind them. The rows
    changed (0 or 1)."""
    to_time = time_to_store(writes.dialect)
    timed = set(times)
    stored = [to_time(value) if name in timed else value for name, value in values.items()]
    bound = mark(writes)
    assignments = ", ".join(f"{name} = {bound}" for name in values)
    return writes.execute(f'UPDATE "{table}" SET {assignments} WHERE id = {bound}', (*stored, row_id))


def insert_rows_with_ids(
    writes: SqlWrites,
    table: str,
    rows: Sequence[dict[str, Any]],
    *,
    times: Iterable[str] = (),
    json_columns: Iterable[str] = (),
) -> list[int]:
    """:func:`insert_rows` into ``table`` (whose key is ``id``); the new ids, in the rows' order."""
    if not rows:
        return []
    return insert_columns_with_ids(writes, table, _columns_of(rows), times=times, json_columns=json_columns)


def insert_columns_with_ids(
    writes: SqlWrites,
    table: str,
    columns: Mapping[str, Sequence[Any]],
    *,
    times: Iterable[str] = (),
    json_columns: Iterable[str] = (),
) -> list[int]:
    """:func:`insert_columns` into ``table`` (whose key is ``id``); the new ids, in the rows' order.

    COPY and ``executemany`` return nothing, so the ids are chosen first: on PostgreSQL reserved
    from the table's sequence in one query; on SQLite the ones after the largest, which nobody else
    can take meanwhile, since the store's SQLite transactions begin IMMEDIATE (the write lock is
    held). That also saves ``RETURNING`` and its ordering."""
    count = len(next(iter(columns.values()), ()))
    if not count:
        return []
    if writes.dialect == "postgresql":
        # The sequence's name first: asked inside the second query, it was looked up for every row
        # (a tenth of a first import's time).
        [(sequence,)] = list(writes.stream("SELECT pg_get_serial_sequence(%s, 'id')", (f'"{table}"',)))
        found = writes.stream("SELECT nextval(%s) FROM generate_series(1, %s)", (sequence, count))
        ids = [int(new_id) for (new_id,) in found]
    else:
        [(last,)] = list(writes.stream(f'SELECT max(id) FROM "{table}"'))
        ids = list(range((last or 0) + 1, (last or 0) + 1 + count))
    insert_columns(writes, table, {"id": ids, **columns}, times=times, json_columns=json_columns)
    return ids


def is_integrity_error(exc: BaseException) -> bool:
    """A constraint refused the write (another writer opened the same URL first), whichever way it
    was written: the driver's own error, or SQLAlchemy's around it. Asked without importing either
    driver or SQLAlchemy."""
    if isinstance(exc, sqlite3.IntegrityError):
        return True
    for module, name in (("psycopg", "IntegrityError"), ("sqlalchemy.exc", "IntegrityError")):
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(exc, getattr(loaded, name)):
            return True
    return False
