"""The terminal's own connections to the store, through its driver (sqlite3 or psycopg) without
SQLAlchemy, for the direct reads (:mod:`takedown.direct_reads`) and the direct writes
(:mod:`takedown.direct_writes`); and the settings every SQLite connection of the store gets,
whichever way it was opened.

A direct connection is only made where it can stand in for the store's own: a SQLite file that
exists, or a PostgreSQL URL, at this code's schema revision. Anything else (another driver, an
in-memory or missing database, a store behind the schema, which the store's path upgrades first, a
database that cannot be reached, which the store's path reports as every command does) gives
``None``, and the command opens the store as usual.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

from takedown.revision import HEAD_REVISION

log = logging.getLogger(__name__)

SQLITE_PREFIX = "sqlite:///"
POSTGRESQL_PREFIXES = ("postgresql://", "postgresql+psycopg://")
SQLITE_TIMEOUT = 30
"""Seconds a SQLite connection waits for another writer's lock before it gives up."""
BULK_CACHE_MIB = 64
"""SQLite's page cache for bulk intake: the dedup index is keyed by a hash, so inserts land on
random pages."""
BULK_CHECKPOINT_PAGES = 16384
"""Pages (64 MiB) of write-ahead log before bulk intake's connection copies it into the database
file; SQLite's default is 1,000. Each batch of an import changes pages all over the dedup indexes,
more than 1,000 of them, so with the default every commit copied each page again; with room for
several batches, a page they all changed is copied once. A first import of 100,000 rows went from
21,000-22,000 to 24,000 rows/s (bench/bench_import.py). The log is copied and emptied when the
import's connection closes."""


def sqlite_pragmas(connection: Any, *, cache_mib: int, checkpoint_pages: int | None = None) -> None:
    """What every connection of the store to its SQLite file is set to, before its first
    transaction: foreign keys enforced, write-ahead logging (a crawler and a CLI share the file),
    full fsync on commit, a page cache of ``cache_mib`` MiB, and, if given, the log's pages that
    make a commit copy it into the file (:data:`BULK_CHECKPOINT_PAGES`)."""
    connection.isolation_level = None  # transactions begin where the store says, not where pysqlite guesses
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed intake survives power loss too, not only a crashed process. Measured on
    # the 100,000-row import benchmark, it costs nothing visible against NORMAL.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")
    if checkpoint_pages is not None:
        cursor.execute(f"PRAGMA wal_autocheckpoint={int(checkpoint_pages)}")
    cursor.close()


def connect_at_head(database_url: str, *, writing: bool, cache_mib: int = 16) -> tuple[Any, str] | None:
    """The driver's connection to the store at ``database_url`` and its dialect, in a transaction
    begun (on SQLite: IMMEDIATE when ``writing``, so it holds the write lock from the start as the
    store's own writers do; else read-only); ``None`` where the store's own path must answer."""
    try:
        found = _connect(database_url, writing=writing, cache_mib=cache_mib)
    except Exception as exc:  # the store's path will open it again, and say what is wrong
        log.debug("no direct connection: %s", type(exc).__name__)
        return None
    if found is None:
        return None
    connection, _dialect = found
    try:
        revision = [
            row[0] for row in connection.execute("SELECT version_num FROM alembic_version").fetchall()
        ]
    except Exception as exc:  # no schema yet: the store's path creates it (and says nothing here)
        log.debug("no direct connection: %s", type(exc).__name__)
        revision = []
    if revision != [HEAD_REVISION]:
        end(connection)
        return None
    return found


def _connect(database_url: str, *, writing: bool, cache_mib: int) -> tuple[Any, str] | None:
    if database_url.startswith(SQLITE_PREFIX):
        path = database_url.removeprefix(SQLITE_PREFIX)
        # What SQLAlchemy would decode or treat as options is left to it; so is a file not there.
        if not path or path == ":memory:" or path.startswith("file:") or any(c in path for c in "?%"):
            return None
        if not Path(path).is_file():
            return None
        connection = sqlite3.connect(path, timeout=SQLITE_TIMEOUT, isolation_level=None)
        if writing:
            sqlite_pragmas(connection, cache_mib=cache_mib)
            connection.execute("BEGIN IMMEDIATE")
        else:
            connection.execute("PRAGMA query_only = ON")
            connection.execute("BEGIN")  # deferred: never waits for a writer (WAL)
        return connection, "sqlite"
    if database_url.startswith(POSTGRESQL_PREFIXES):
        import psycopg

        conninfo = "postgresql://" + database_url.split("://", 1)[1]
        # No server-side prepared statements, as the store's own engine (takedown/store.py).
        server = psycopg.connect(conninfo, prepare_threshold=None)
        server.read_only = not writing
        return server, "postgresql"
    return None


_PLAIN = re.compile(r"[A-Za-z0-9._~+/:@-]*")
"""What SQLAlchemy writes back as it was given in a URL's name, password, host and path."""


def shown_url(database_url: str) -> str | None:
    """``database_url`` with its password hidden, as the store's messages show it (SQLAlchemy's
    rendering: ``***``); ``None`` for a URL this simple reading might show otherwise (a character
    SQLAlchemy escapes), which the store's path renders itself."""
    scheme, _, rest = database_url.partition("://")
    rest, question_mark, query = rest.partition("?")
    if not database_url.startswith((SQLITE_PREFIX, *POSTGRESQL_PREFIXES)) or not _PLAIN.fullmatch(rest):
        return None
    authority, slash, path = rest.partition("/")
    credentials, at, host = authority.rpartition("@")
    if at and ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***"
    shown = f"{scheme}://{credentials}{at}{host}{slash}{path}"
    return shown + _shown_query(query) if question_mark else shown


def _shown_query(query: str) -> str:
    """A URL's query as SQLAlchemy writes it back: read as a form (``+`` a space, escapes decoded,
    empty values dropped), the names in sorted order with each one's values in the order given,
    escaped again as a form. A PostgreSQL store's address often has one (``?sslmode=require``,
    ``?options=...``); asking SQLAlchemy to render it cost ``db status`` a fifth of a second of
    importing it."""
    from urllib.parse import parse_qsl, quote_plus

    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(query):
        values.setdefault(name, []).append(value)
    if not values:
        return ""
    return "?" + "&".join(
        f"{quote_plus(name)}={quote_plus(value)}" for name in sorted(values) for value in values[name]
    )


def end(connection: Any) -> None:
    """Roll back whatever the transaction did and close the connection."""
    try:
        roll_back(connection)
    finally:
        connection.close()


def roll_back(connection: Any) -> None:
    """Undo what the transaction did. A connection already lost has nothing to roll back: that is
    not a second error on top of the one that lost it."""
    try:
        connection.rollback()
    except Exception as exc:
        if not is_driver_error(exc):
            raise


def is_driver_error(exc: BaseException) -> bool:
    """The database driver failed (sqlite3's or psycopg's error), asked without importing psycopg."""
    if isinstance(exc, sqlite3.Error):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.Error)
