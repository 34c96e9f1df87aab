"""The terminal's writes through the database driver itself, sqlite3 or psycopg, without SQLAlchemy:
one connection, one transaction, committed when the command's work is done and rolled back if it
fails. It carries the writes written once in plain SQL (:mod:`takedown.sql_writes`), the same text
the store's sessions send.

Why: importing SQLAlchemy, its ORM and the mapped models is most of a second on a slow machine
(0.57-0.74 s for ``queue add`` on this one), and issue 12 asks for every interactive command in
under 0.3 s on a store of a million cases. Where a direct connection cannot stand in for the
store's own (:mod:`takedown.driver_connections`), :meth:`DirectWriter.open` gives ``None`` and the
command writes through a session of the store, as before.

On SQLite the transaction begins IMMEDIATE, with the store's settings (foreign keys, WAL, full
fsync): it waits for another writer as the store's own do, and holds the write lock from the start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from takedown.driver_connections import connect_at_head, end, is_driver_error, roll_back
from takedown.errors import StoreError, failure_line
from takedown.sql_writes import copy_rows, is_integrity_error

log = logging.getLogger(__name__)


class DirectWriter:
    """:class:`takedown.sql_writes.SqlWrites` on the driver's own connection, in one transaction.
    Use it as a context manager: the block's work is committed when it ends, rolled back when it
    raises. The driver's failures are :class:`StoreError` (one line, as the store's path says
    them), except a constraint's refusal, which stays the driver's own integrity error so that a
    writer that lost a race can tell and try again (:func:`takedown.sql_writes.is_integrity_error`)."""

    def __init__(self, connection: Any, dialect: str, *, closes: bool = True) -> None:
        self._connection = connection
        self.dialect = dialect
        self._closes = closes

    @classmethod
    def open(cls, database_url: str) -> DirectWriter | None:
        """A writer for the store at ``database_url``, or ``None`` where the store's own path must
        write (see the module's docstring)."""
        found = connect_at_head(database_url, writing=True)
        return None if found is None else cls(*found)

    def __enter__(self) -> DirectWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            end(self._connection) if self._closes else roll_back(self._connection)
            return
        try:
            with _failures_said():
                self._connection.commit()
        finally:
            if self._closes:
                end(self._connection)

    def stream(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with _failures_said():
            return list(self._connection.execute(sql, tuple(parameters)).fetchall())

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        with _failures_said():
            return int(self._connection.execute(sql, tuple(parameters)).rowcount)

    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with _failures_said():
            cursor = self._connection.cursor()
            try:
                cursor.executemany(sql, [tuple(row) for row in rows])
            finally:
                cursor.close()

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        with _failures_said():
            copy_rows(self._connection, table, columns, rows)


class DirectTransactions:
    """One connection to the store through its driver, for work done in several transactions one
    after another: a bulk load committed a batch at a time (``takedown hashes import``), where a
    connection per batch would start each with an empty page cache. Close it when done."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self._connection = connection
        self.dialect = dialect

    @classmethod
    def open(cls, database_url: str, *, cache_mib: int) -> DirectTransactions | None:
        """Transactions on the store at ``database_url``, with SQLite's page cache at ``cache_mib``
        MiB; ``None`` where the store's own path must write (:meth:`DirectWriter.open`)."""
        found = connect_at_head(database_url, writing=True, cache_mib=cache_mib)
        if found is None:
            return None
        connection, dialect = found
        connection.commit()  # the schema's check; each transaction begins as the block asks
        return cls(connection, dialect)

    @contextmanager
    def transaction(self) -> Iterator[DirectWriter]:
        """One transaction, as :class:`DirectWriter` writes one (IMMEDIATE on SQLite), on this
        connection: committed when the block ends, rolled back when it raises."""
        if self.dialect == "sqlite":
            with _failures_said():
                self._connection.execute("BEGIN IMMEDIATE")
        with DirectWriter(self._connection, self.dialect, closes=False) as writer:
            yield writer

    def close(self) -> None:
        end(self._connection)


@contextmanager
def _failures_said() -> Iterator[None]:
    """A driver's failure as a :class:`StoreError`, one line; a constraint's refusal as it is."""
    try:
        yield
    except Exception as exc:
        if not is_driver_error(exc) or is_integrity_error(exc):
            raise
        log.info("the store failed", exc_info=exc)
        raise StoreError(f"{failure_line(exc)} (run with -v for the details)") from exc
