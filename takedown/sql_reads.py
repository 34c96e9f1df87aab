"""Reads written once, in the driver's own SQL, and carried either by a session of the store or by
the terminal's direct reads (:class:`takedown.direct_reads.DirectReader`).

Why: a command that only reads (``takedown stats``, ``notices list``) spends most of its time
importing SQLAlchemy and the mapped models before its first query; through the driver alone it
answers in a fraction of that. Writing such a read once as plain SQL, rather than once for
SQLAlchemy and again for the driver, keeps the two ways from ever disagreeing: the console and the
scheduler send the same text through their session (``exec_driver_sql``: no type processing, so
both ways see what the driver returns, and :func:`stored_time` reads the times of both).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from typing import TypeAlias

    from sqlalchemy.orm import Session

    from takedown.store import Store

    ReadSource: TypeAlias = "Store | Session | SqlReads"
    """What a read written once takes (:func:`reading`): a store, a caller's session, a reader."""

STORED_TIME = "%Y-%m-%d %H:%M:%S.%f"
"""How SQLAlchemy writes a time into SQLite (naive UTC, microseconds always), so comparisons with
stored text order as the times do."""


LONG_READ_PAGE = 2000
"""Rows a long read (a listing of every case, the hash feed) fetches at a time. Asked of one
statement, never of a session's connection, whose options SQLAlchemy 2 changes in place: every
later read of the session would then open a server-side cursor on PostgreSQL."""


class SqlReads(Protocol):
    """Rows of SQL written for the driver: ``?`` marks on SQLite, ``%s`` on PostgreSQL
    (:func:`mark`). No ``%`` otherwise, which psycopg would read as a mark."""

    dialect: str

    def stream(self, sql: str, parameters: Sequence[Any] = ()) -> Iterable[Sequence[Any]]: ...


class PagedReads(SqlReads, Protocol):
    """:class:`SqlReads` that can also read a long result a page at a time, as it is consumed: the
    terminal's reader and a session's (every case listed, the hash feed)."""

    def stream_long(self, sql: str, parameters: Sequence[Any] = ()) -> Iterable[Sequence[Any]]: ...


class SessionReads:
    """:class:`SqlReads` through a session of the store; the SQL goes to its driver as written."""

    def __init__(self, session: Session) -> None:
        self._connection = session.connection()
        self.dialect = self._connection.dialect.name

    def stream(self, sql: str, parameters: Sequence[Any] = ()) -> Iterable[Sequence[Any]]:
        return self._connection.exec_driver_sql(sql, tuple(parameters))

    def stream_long(self, sql: str, parameters: Sequence[Any] = ()) -> Iterable[Sequence[Any]]:
        """:meth:`stream`, read :data:`LONG_READ_PAGE` rows at a time (a server-side cursor on
        PostgreSQL) instead of all at once."""
        # For this statement only: the connection's own options would hold for the session's later reads.
        paged = {"yield_per": LONG_READ_PAGE}
        return self._connection.exec_driver_sql(sql, tuple(parameters), execution_options=paged)


@contextmanager
def reading(source: ReadSource) -> Iterator[SqlReads]:
    """A store, read in a reading session (which neither waits for a writer nor makes one wait);
    a caller's session, read through; a reader of its own (the terminal's direct reads), as it is.
    Told apart by what they do, not by isinstance, which would import the store."""
    if hasattr(source, "stream"):
        yield cast("SqlReads", source)
    elif hasattr(source, "reading"):
        with cast("Store", source).reading() as session:
            yield SessionReads(session)
    else:
        yield SessionReads(source)


def mark(reads: SqlReads) -> str:
    """The driver's mark for one bound value."""
    return "?" if reads.dialect == "sqlite" else "%s"


def among(reads: SqlReads, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """``column IN (...)`` for ``values``, and its parameters; on PostgreSQL ``column = ANY(array)``:
    one parameter instead of thousands, which the driver would parse out of the statement each
    time. (SQLite takes up to 32,766 values.)

    The array is sent in PostgreSQL's binary format (``%b``): as text, psycopg searched every value
    for characters to quote, which took 15 ms for 5,000 hashes against 3 ms (8% of the parent's
    time in a profiled import on PostgreSQL). An empty array goes as text, which needs no type."""
    if reads.dialect == "postgresql":
        return f"{column} = ANY({'%b' if values else '%s'})", [list(values)]
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)


def stored_time(value: str | datetime) -> datetime:
    """A stored time, aware: SQLite keeps text, PostgreSQL a naive ``timestamp`` (both UTC)."""
    return (datetime.fromisoformat(value) if isinstance(value, str) else value).replace(tzinfo=UTC)


def stored_time_or_none(value: str | datetime | None) -> datetime | None:
    return None if value is None else stored_time(value)


def stored_json(value: Any) -> Any:
    """A stored JSON value: SQLite keeps it as text (``null`` for none), psycopg has decoded it."""
    return json.loads(value) if isinstance(value, str) else value
