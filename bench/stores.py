"""The store a benchmark works in: SQLite in a temporary directory, or a PostgreSQL schema of its
own (created for the run and dropped afterwards, so a benchmark never touches other data)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from takedown.driver_connections import BULK_CACHE_MIB, BULK_CHECKPOINT_PAGES
from takedown.settings import sqlite_url
from takedown.store import Store


@contextmanager
def bench_store(database_url: str | None, *, keep: bool = False) -> Iterator[tuple[Store, str]]:
    """``(store, backend name)``; everything is removed when the block ends, except a PostgreSQL
    schema when ``keep`` is given (its address is printed, to look at the data afterwards)."""
    if not database_url:
        with tempfile.TemporaryDirectory(prefix="takedown-bench-") as directory:
            store = Store.open(
                sqlite_url(Path(directory) / "bench.db"),
                sqlite_cache_mib=BULK_CACHE_MIB,
                sqlite_checkpoint_pages=BULK_CHECKPOINT_PAGES,
            )
            try:
                yield store, "sqlite"
            finally:
                store.dispose()
        return
    url = make_url(database_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    address = url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
    store = Store.open(address)
    try:
        yield store, url.get_backend_name()
    finally:
        store.dispose()
        if keep:
            print(f"kept: TAKEDOWN_DATABASE_URL='{address}' (DROP SCHEMA \"{schema}\" CASCADE when done)")
        else:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
