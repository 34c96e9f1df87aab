"""The store: schema from migrations, UTC times, and the database-level guarantee of one open case per URL."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from takedown.errors import StoreError
from takedown.intake import queue_batch
from takedown.models import Base, Case, Event, Fingerprint
from takedown.reports import Report, validate_report
from takedown.settings import sqlite_url
from takedown.store import HEAD_REVISION, Store, head_revision
from tests.conftest import within, write_lock_held


def test_migrations_build_exactly_the_models_schema(store: Store) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    assert store.current_revision() == head_revision()
    # the constant that spares opening an up-to-date store an Alembic import moves with each migration
    assert head_revision() == HEAD_REVISION


def test_every_migration_can_be_undone_and_done_again(store: Store, clock) -> None:
    """An operator who must go back a release runs the downgrades: each one, down to an empty
    store, undoes its upgrade, and the upgrades then build the models' schema again."""
    from alembic import command
    from sqlalchemy import inspect

    from takedown.store import alembic_config

    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        command.upgrade(config, "head")
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    assert store.current_revision() == HEAD_REVISION
    with store.session() as session:  # and it works as a store
        queue_batch(session, [validate_report(Report("http://a.test/x"))], actor="t", now=clock.now())


def test_opening_an_up_to_date_store_again_changes_nothing(database_url: str, store: Store, clock) -> None:
    with store.session() as session:
        queue_batch(session, [validate_report(Report("http://a.test/x"))], actor="t", now=clock.now())
    again = Store.open(database_url)
    try:
        with again.session() as session:
            assert session.scalars(select(Case.url)).all() == ["http://a.test/x"]
    finally:
        again.dispose()


def test_times_come_back_in_utc_whatever_zone_they_went_in(store: Store) -> None:
    paris = timezone(timedelta(hours=1))
    with store.session() as session:
        [result] = queue_batch(
            session,
            [validate_report(Report("http://a.test/x"))],
            actor="t",
            now=datetime(2026, 3, 1, 10, 0, tzinfo=paris),
        )
    with store.session() as session:
        case = session.get(Case, result.case_id)
        assert case is not None
        assert case.queued_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
        assert case.queued_at.tzinfo is UTC


@pytest.mark.parametrize("microsecond", [0, 250_001])
def test_a_case_written_in_bulk_matches_the_times_a_query_binds(store: Store, microsecond: int) -> None:
    """Intake writes rows past the ORM (COPY, or one prepared INSERT on SQLite); what it stores must
    be exactly what a query's bound time compares equal to, or due cases would never come due."""
    now = datetime(2026, 3, 1, 9, 0, 0, microsecond, tzinfo=UTC)
    report = validate_report(Report("http://a.test/x", reference="R-1", sha256=("ab" * 32,)))
    with store.session() as session:
        [result] = queue_batch(session, [report], actor="t", now=now)
    with store.session() as session:
        due = session.scalars(select(Case.id).where(Case.queued_at == now, Case.next_check_at == now))
        assert due.all() == [result.case_id]
        event = session.scalars(select(Event).where(Event.case_id == result.case_id)).one()
        assert (event.at, event.action, event.detail) == (
            now,
            "queued",
            {"category": "csam", "reference": "R-1"},
        )
        assert session.scalars(select(Fingerprint.digest)).all() == ["ab" * 32]


def test_a_naive_time_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive datetime"), store.session() as session:
        queue_batch(
            session, [validate_report(Report("http://a.test/x"))], actor="t", now=datetime(2026, 3, 1)
        )


def test_the_database_refuses_a_second_open_case_for_one_url(store: Store, clock) -> None:
    """Even code that skips the intake checks cannot open a URL twice: the index says no."""
    report = validate_report(Report("http://a.test/x"))
    with store.session() as session:
        queue_batch(session, [report], actor="t", now=clock.now())
    with pytest.raises(IntegrityError), store.session() as session:
        session.add(
            Case(
                url=report.url,
                canonical_url=report.canonical.url,
                dedup_key=report.canonical.dedup_key,
                dedup_hash=report.dedup_hash,
                host=report.host,
                category="csam",
                state="live",
                queued_by="t",
                queued_at=clock.now(),
                updated_at=clock.now(),
            )
        )


def test_an_unknown_state_is_refused_by_the_database(store: Store, clock) -> None:
    with store.session() as session:
        [result] = queue_batch(
            session, [validate_report(Report("http://a.test/x"))], actor="t", now=clock.now()
        )
    with pytest.raises(IntegrityError), store.session() as session:
        case = session.get(Case, result.case_id)
        assert case is not None
        case.state = "lost"


def test_an_unreachable_database_gives_an_error_naming_it_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        Store.open("postgresql://someone:hunter2@127.0.0.1:1/nothing")
    assert "127.0.0.1:1" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_malformed_database_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        Store.open("not a url at all")


def test_the_data_directory_and_the_sqlite_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    home = tmp_path / "home" / "takedown"
    previous = os.umask(0o022)
    try:
        store = Store.open(sqlite_url(home / "takedown.db"))
        with store.session() as session:
            session.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            session.execute(text("INSERT INTO probe VALUES (1)"))
        files = sorted(home.iterdir())
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in files}
        store.dispose()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert modes["takedown.db"] == 0o600
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes  # -wal and -shm too


@pytest.mark.postgres
def test_a_revisit_never_writes_back_a_notice_date_set_while_it_was_recording() -> None:
    """A crawler records a batch of checks while the composer, in another process, sets the
    cases' next notice. PostgreSQL lets both transactions run (SQLite's BEGIN IMMEDIATE queues
    them), so the revisit must write only what it changed, not its stale copy of the rest."""
    from sqlalchemy import event, update

    from takedown.revisits import Fetch, record_fetches
    from tests.conftest import postgres_url_for_new_schema

    urls = postgres_url_for_new_schema()
    store = Store.open(next(urls))
    try:
        first = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        composer_says = first + timedelta(days=3)
        with store.session() as session:
            [queued] = queue_batch(
                session, [validate_report(Report("http://live.test/a.jpg"))], actor="t", now=first
            )
            record_fetches(
                session, [Fetch(queued.case_id, first, http_status=200, final_url="http://live.test/a.jpg")]
            )

        interleaved: list[str] = []

        def composer_meanwhile(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
            if statement.startswith("UPDATE") and "case" in statement.split("SET")[0] and not interleaved:
                interleaved.append(statement)
                with store.session() as other:
                    other.execute(
                        update(Case).where(Case.id == queued.case_id).values(next_notice_at=composer_says)
                    )

        event.listen(store.engine, "before_cursor_execute", composer_meanwhile)
        later = first + timedelta(hours=6)
        with store.session() as session:  # still live: the check moves only its own dates
            record_fetches(
                session, [Fetch(queued.case_id, later, http_status=200, final_url="http://live.test/a.jpg")]
            )
        event.remove(store.engine, "before_cursor_execute", composer_meanwhile)
        assert interleaved  # the composer did write between the revisit's read and its write
        with store.session() as session:
            case = session.get(Case, queued.case_id)
            assert case is not None
            assert (case.last_checked_at, case.next_notice_at) == (later, composer_says)
    finally:
        store.dispose()
        urls.close()


def test_a_reading_session_never_waits_for_a_writer_and_keeps_nothing(store: Store) -> None:

    from sqlalchemy import func, select, text

    from takedown.models import Portal

    counted: list[int] = []
    with write_lock_held(store):  # a session that waited for the lock would wait 30 s (its timeout)
        assert within(10, lambda: counted.append(_count_portals(store))), "the reading session waited"
    assert counted == [0]
    with store.reading() as session:
        session.execute(
            text("INSERT INTO portal (slug, country, languages, partner, helplines, acknowledgements, "
                 "created_at, updated_at, updated_by) VALUES ('xx', 'KE', '[]', 'P', '[]', false, "
                 "'2026-01-01 00:00:00', '2026-01-01 00:00:00', 't')")
        )  # fmt: skip
    with store.reading() as session:
        assert session.scalar(select(func.count(Portal.id))) == 0, "what a reading session wrote was kept"


def _count_portals(store: Store) -> int:
    from sqlalchemy import func, select

    from takedown.models import Portal

    with store.reading() as session:
        return int(session.scalar(select(func.count(Portal.id))) or 0)
