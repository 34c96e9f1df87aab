"""Alembic environment. Run through ``Store.upgrade`` (a connection is handed in), or by developers
with ``alembic`` and ``TAKEDOWN_DATABASE_URL`` to write new revisions."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from takedown.models import Base
from takedown.settings import Settings
from takedown.store import create_store_engine

target_metadata = Base.metadata

# Any number that is ours alone: two processes opening a fresh PostgreSQL store at once
# take turns instead of both creating the tables.
_MIGRATION_LOCK_ID = 7_263_517_001


def run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = create_store_engine(Settings.from_env().database_url)
    with engine.begin() as own_connection:
        run_migrations(own_connection)


main()
