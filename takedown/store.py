"""Opening the store: one engine, short transactions, and the schema kept at Alembic's head.

SQLite (the default) gets WAL mode, full fsync on commit and a busy timeout, so a crawler and a
CLI can share the file; PostgreSQL is used as is. Opening a store upgrades its schema: a newcomer
never runs a migration by hand, and two processes upgrading at once are serialised by a lock
(see migrations/env.py).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from takedown.driver_connections import SQLITE_TIMEOUT, sqlite_pragmas
from takedown.errors import StoreError, failure_line
from takedown.revision import HEAD_REVISION

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DEFAULT_CACHE_MIB = 16
"""SQLite's page cache per connection for most work: a million-row listing or count reads every
page once, and a larger cache only holds more of them (64 MiB made a listing's memory 120 MiB)."""


class Store:
    """A handle on the database: hands out sessions, owns the engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(
        cls,
        database_url: str,
        *,
        upgrade: bool = True,
        sqlite_cache_mib: int = DEFAULT_CACHE_MIB,
        sqlite_checkpoint_pages: int | None = None,
    ) -> Store:
        """Connect to ``database_url`` and (by default) bring its schema up to date.

        ``sqlite_cache_mib`` is SQLite's page cache per connection: large for bulk intake (the
        dedup index is keyed by a hash, so inserts land on random pages), small for long crawls
        that touch each row once, where a large cache only grows memory with the store's size.
        ``sqlite_checkpoint_pages`` lets bulk intake's log grow before it is copied into the file
        (:data:`takedown.driver_connections.BULK_CHECKPOINT_PAGES`).
        """
        store = cls(
            create_store_engine(
                database_url,
                sqlite_cache_mib=sqlite_cache_mib,
                sqlite_checkpoint_pages=sqlite_checkpoint_pages,
            )
        )
        if upgrade:
            store.upgrade()
        return store

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed if the block succeeds, rolled back if not."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session that only reads, always rolled back at the end. On SQLite its transaction is
        deferred (a plain BEGIN), not IMMEDIATE: it never waits for a writer, so a page of the
        console stays fast while a flood of portal reports is being written."""
        with self._sessions() as session:
            session.connection(execution_options={READ_ONLY: True})
            try:
                yield session
            finally:
                session.rollback()

    def new_session(self) -> Session:
        """A session whose transactions the caller manages (for work committed in batches)."""
        return self._sessions()

    def upgrade(self) -> None:
        """Apply every migration not yet applied. Cheap when there is none."""
        if self.current_revision() == HEAD_REVISION:
            return
        from alembic import command

        config = alembic_config()
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def current_revision(self) -> str | None:
        """The schema revision the store is at (Alembic's ``alembic_version`` row); ``None`` for an
        empty database."""
        try:
            with self.engine.connect() as connection:
                if not inspect(connection).has_table("alembic_version"):
                    return None
                versions = list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
        except OperationalError as exc:
            raise StoreError(f"cannot open the store at {safe_url(self.engine)}: {exc.orig}") from exc
        if len(versions) > 1:
            raise StoreError(f"the store at {safe_url(self.engine)} is at several revisions: {versions}")
        return str(versions[0]) if versions else None

    def dispose(self) -> None:
        self.engine.dispose()


def create_store_engine(
    database_url: str,
    *,
    sqlite_cache_mib: int = DEFAULT_CACHE_MIB,
    sqlite_checkpoint_pages: int | None = None,
    **kwargs: Any,
) -> Engine:
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        raise StoreError(f"TAKEDOWN_DATABASE_URL is not a database URL: {exc}") from exc
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            private_sqlite_file(Path(url.database).expanduser())
        engine = create_engine(url, connect_args={"timeout": SQLITE_TIMEOUT}, **kwargs)
        pragmas = functools.partial(
            _sqlite_pragmas, cache_mib=sqlite_cache_mib, checkpoint_pages=sqlite_checkpoint_pages
        )
        event.listen(engine, "connect", pragmas)
        # pysqlite's own transaction handling defers BEGIN; take it over. BEGIN IMMEDIATE takes the
        # write lock up front: two deferred transactions that read and then write deadlock in WAL
        # mode ("database is locked" at once, whatever the busy timeout), while immediate ones
        # simply queue behind each other. Readers are not blocked by it in WAL mode.
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    connect_args: dict[str, Any] = {}
    if url.drivername == "postgresql+psycopg":
        # No server-side prepared statements. After five runs psycopg would prepare a statement and
        # PostgreSQL would switch to a generic plan, in which "hash IN ($1 ... $1000)" is searched
        # linearly for every row: intake lookups went from 30 ms to 2-4 s a batch at 100,000 cases.
        # It also keeps the store usable behind PgBouncer in transaction mode.
        connect_args["prepare_threshold"] = None
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


READ_ONLY = "takedown_read_only"
"""The execution option :meth:`Store.reading` sets on its connection."""


def _begin_sqlite(connection: Any) -> None:
    readonly = connection.get_execution_options().get(READ_ONLY)
    connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def private_sqlite_file(path: Path) -> None:
    """Create the store's directory (0700) and file (0600) before SQLite does, so that no other local
    user can read the reported URLs whatever the umask; SQLite gives its -wal and -shm files the
    database file's permissions. An existing directory or file is left as the operator set it."""
    directory = path.parent
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)  # mkdir's mode is filtered by the umask
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        path.chmod(0o600)


def _sqlite_pragmas(
    dbapi_connection: Any, _record: Any, *, cache_mib: int, checkpoint_pages: int | None
) -> None:
    sqlite_pragmas(dbapi_connection, cache_mib=cache_mib, checkpoint_pages=checkpoint_pages)


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    """Alembic's head, read from the migration scripts (slow: imports every one of them)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def safe_url(engine: Engine) -> str:
    """The engine's URL with any password hidden, for messages and logs."""
    return engine.url.render_as_string(hide_password=True)


def describe_failure(exc: DBAPIError) -> str:
    """One line saying why the database failed under a command (gone away, disk full, corrupt):
    what every face prints instead of a traceback."""
    return failure_line(exc.orig) if exc.orig is not None else f"the store failed: {type(exc).__name__}"
