"""The running counts of cases by state, kept by triggers: they must agree with counting the cases,
whoever wrote them and however (bulk intake, the lifecycle, plain SQL, several writers at once)."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update

from takedown.case_moves import withdraw
from takedown.case_views import CaseFilter
from takedown.cases import count_cases
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.models import Case, CaseTally, Event
from takedown.reports import Report, validate_report
from takedown.states import OPEN_STATES, CaseState
from takedown.store import Store
from takedown.tallies import FOLD_AFTER, case_counts
from tests.conftest import postgres_url_for_new_schema

STATES = [state.value for state in CaseState]


def counted(store: Store) -> dict[tuple[CaseState, bool], int]:
    """The truth: the cases counted one by one."""
    truth = {(state, flag): 0 for state in CaseState for flag in (False, True)}
    with store.session() as session:
        rows = session.execute(
            select(Case.state, Case.needs_analyst, func.count()).group_by(Case.state, Case.needs_analyst)
        )
        for state, flag, cases in rows:
            truth[(CaseState(state), bool(flag))] = cases
    return truth


def tallied(store: Store) -> dict[tuple[CaseState, bool], int]:
    with store.session() as session:
        return case_counts(session)


def queue_urls(store: Store, clock: ManualClock, urls: list[str]) -> list[int]:
    with store.session() as session:
        results = queue_batch(
            session, [validate_report(Report(url)) for url in urls], actor="t", now=clock.now()
        )
    return [result.case_id for result in results]


def test_the_counts_follow_every_kind_of_write(store: Store, clock: ManualClock) -> None:
    rng = random.Random(12)
    ids = queue_urls(store, clock, [f"http://a.test/{n}" for n in range(300)])  # bulk: COPY or executemany
    assert tallied(store) == counted(store)
    assert tallied(store)[(CaseState.QUEUED, False)] == 300
    for step in range(60):
        with store.session() as session:
            chosen = rng.sample(ids, rng.randint(1, 40))
            kind = step % 4
            if kind == 0:  # a set-based move, as a revisit writes its cases
                target = rng.choice([s for s in STATES if s != "withdrawn"])
                session.execute(update(Case).where(Case.id.in_(chosen)).values(state=target))
            elif kind == 1:  # the chase gives up on some, an analyst takes others back
                session.execute(
                    update(Case).where(Case.id.in_(chosen)).values(needs_analyst=~Case.needs_analyst)
                )
            elif kind == 2:  # the lifecycle, one case at a time
                case_id = chosen[0]
                if session.get(Case, case_id).state in {s.value for s in OPEN_STATES}:
                    withdraw(session, case_id, reason="test", actor="t", now=clock.now())
            else:  # a change that moves nothing must count nothing
                session.execute(update(Case).where(Case.id.in_(chosen)).values(reference="r"))
        assert tallied(store) == counted(store), f"after step {step}"
    with store.session() as session:  # cases deleted (only ever by hand, or a future retention job)
        session.execute(delete(Event).where(Event.case_id.in_(ids[:10])))
        session.execute(delete(Case).where(Case.id.in_(ids[:10])))
    assert tallied(store) == counted(store)
    assert sum(tallied(store).values()) == 290


def test_counting_cases_by_state_uses_the_counts_and_agrees_with_a_scan(
    store: Store, clock: ManualClock
) -> None:
    ids = queue_urls(store, clock, [f"http://b.test/{n}" for n in range(20)])
    with store.session() as session:
        session.execute(update(Case).where(Case.id.in_(ids[:8])).values(state="live"))
        session.execute(update(Case).where(Case.id.in_(ids[:3])).values(needs_analyst=True))
        session.execute(update(Case).where(Case.id == ids[19]).values(state="removed", needs_analyst=True))
    with store.session() as session:
        assert count_cases(session) == 20
        assert count_cases(session, CaseFilter(states=(CaseState.LIVE,))) == 8
        assert count_cases(session, CaseFilter(states=(CaseState.LIVE, CaseState.QUEUED))) == 19
        assert count_cases(session, CaseFilter(needs_analyst=True)) == 3  # a closed case is nobody's work
        assert count_cases(session, CaseFilter(host="b.test")) == 20  # a scan, for a filter with no count
        assert count_cases(session, CaseFilter(after_id=ids[9])) == 10


@pytest.fixture
def postgres_store() -> Iterator[Store]:
    """PostgreSQL only: SQLite has one writer at a time, so nothing there runs at once."""
    urls = postgres_url_for_new_schema()
    store = Store.open(next(urls))
    try:
        yield store
    finally:
        store.dispose()
        urls.close()


@pytest.mark.postgres
def test_writers_at_once_and_readers_folding_lose_no_change(
    postgres_store: Store, clock: ManualClock
) -> None:
    store = postgres_store
    ids = queue_urls(store, clock, [f"http://c.test/{n}" for n in range(400)])
    failures: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(150):
                with store.session() as session:
                    chosen = rng.sample(ids, 5)
                    session.execute(update(Case).where(Case.id.in_(chosen)).values(state=rng.choice(STATES)))
        except BaseException as exc:
            failures.append(exc)

    def reader() -> None:
        try:
            for _ in range(40):
                tallied(store)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(3)]
    threads.append(threading.Thread(target=reader))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert tallied(store) == counted(store)
    with store.session() as session:  # the changes were folded as they came, not left to pile up
        rows = session.scalar(select(func.count()).select_from(CaseTally))
    assert rows is not None and rows <= FOLD_AFTER + 3 * 150


def test_a_store_upgraded_with_cases_in_it_starts_with_their_counts(
    database_url: str, clock: ManualClock
) -> None:
    """The migration counts the cases already there; the triggers go on from those counts."""
    from alembic import command

    from takedown.store import alembic_config

    store = Store.open(database_url)
    try:
        queue_urls(store, clock, [f"http://d.test/{n}" for n in range(7)])
        config = alembic_config()
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0010")
        with store.session() as session:
            session.execute(update(Case).where(Case.id <= 2).values(state="live"))
        store.upgrade()
        clock.advance(timedelta(hours=1))
        queue_urls(store, clock, ["http://d.test/new"])
        assert tallied(store) == counted(store)
        assert tallied(store)[(CaseState.LIVE, False)] == 2
    finally:
        store.dispose()
