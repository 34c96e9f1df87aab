"""Looking a URL up among the cases reads an index, not every case, on SQLite and PostgreSQL.

The indexes of a URL's open and closed cases are partial (migration 0034), and a planner uses a
partial index only when the query says the same condition: with the states written out, not bound
as parameters (SQLite never matches those, nor PostgreSQL in a prepared statement's generic plan).
At a million cases a lookup that misses its index reads them all, for every batch of an import. So
each statement the real lookups send is captured here and explained, as sent, with its parameters.
(PostgreSQL is asked for the plan with these parameters; a generic plan, which it makes for a
statement prepared and run often, is not shown, but SQLite's rule is the stricter of the two.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

from hosting.record import open_case_for
from takedown.case_views import CaseFilter
from takedown.cases import iter_cases, notice_due
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.models import Case
from takedown.portal_reports import receive_report
from takedown.portals import PortalChange, add_portal
from takedown.reports import Report, validate_report
from takedown.states import CaseState
from takedown.store import Store


@contextmanager
def statements_sent(store: Store, about: str) -> Iterator[list[tuple[str, Any]]]:
    """The statements (with their parameters) sent to the store in the block that mention
    ``about``."""
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if about in statement and statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", keep)
    try:
        yield sent
    finally:
        event.remove(store.engine, "before_cursor_execute", keep)


def plan(store: Store, statement: str, parameters: Any) -> str:
    """How the store would run ``statement``, as one text. On PostgreSQL with sequential scans
    priced out, so that a table of a few rows still shows whether an index can serve the query."""
    connection = store.engine.raw_connection()
    try:
        cursor = connection.cursor()
        if store.engine.dialect.name == "postgresql":
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("EXPLAIN " + statement, parameters)
            lines = [row[0] for row in cursor.fetchall()]
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            lines = [row[-1] for row in cursor.fetchall()]
        return "\n".join(lines)
    finally:
        connection.rollback()
        connection.close()


def assert_reads_index(
    store: Store, sent: list[tuple[str, Any]], index: str, *, on_postgresql: bool = True
) -> None:
    """Each of ``sent`` reads ``index`` and no table whole. ``on_postgresql=False``: there, only
    that no table is read whole (its planner, with no statistics on a few rows, may pick another
    index that serves as well)."""
    assert sent, "no statement was captured: the lookup was not run"
    for statement, parameters in sent:
        shown = plan(store, statement, parameters)
        assert "SCAN case" not in shown and "Seq Scan on" not in shown, shown
        if on_postgresql or store.engine.dialect.name != "postgresql":
            assert index in shown, f"{statement!r} does not read {index}:\n{shown}"


def _cases(store: Store, clock: ManualClock, urls: list[str]) -> None:
    with store.session() as session:
        queue_batch(session, [validate_report(Report(url)) for url in urls], actor="t", now=clock.now())


@pytest.fixture
def some_cases(store: Store, clock: ManualClock) -> Store:
    """Open cases, and a URL whose case was closed."""
    _cases(store, clock, [f"http://plans.test/{n}.jpg" for n in range(20)] + ["http://closed.test/a.jpg"])
    with store.session() as session:
        closed = session.scalars(select(Case).where(Case.host == "closed.test")).one()
        closed.state = CaseState.WITHDRAWN.value
    return store


def test_intake_finds_open_and_closed_cases_through_their_indexes(
    some_cases: Store, clock: ManualClock
) -> None:
    store = some_cases
    urls = ["http://plans.test/3.jpg", "http://closed.test/a.jpg", "http://plans.test/new.jpg"]
    with statements_sent(store, "dedup_hash") as sent:
        _cases(store, clock, urls)
    open_lookups = [s for s in sent if "max(id)" not in s[0]]
    closed_lookups = [s for s in sent if "max(id)" in s[0]]
    assert_reads_index(store, open_lookups, "uq_case_open_dedup_hash")
    assert_reads_index(store, closed_lookups, "ix_case_closed_dedup_hash")
    with store.session() as session:  # and they found them: one reopened, one already open
        reopened = session.scalars(
            select(Case).where(Case.host == "closed.test", Case.previous_case_id.is_not(None))
        )
        assert len(reopened.all()) == 1
        assert session.scalar(select(Case.id).where(Case.url == urls[0])) is not None


def test_a_resolution_finds_its_url_open_case_through_the_index(some_cases: Store) -> None:
    with some_cases.session() as session, statements_sent(some_cases, "dedup_hash") as sent:
        found = open_case_for(session, "http://plans.test/5.jpg")
    assert found is not None
    assert_reads_index(some_cases, sent, "uq_case_open_dedup_hash")


def test_a_public_report_finds_the_open_case_through_the_index(some_cases: Store, clock: ManualClock) -> None:
    with some_cases.session() as session:
        add_portal(
            session,
            "ke",
            PortalChange(country="KE", languages=["en"], partner="P"),
            actor="t",
            now=clock.now(),
        )
    with some_cases.session() as session, statements_sent(some_cases, '"case".dedup_hash') as sent:
        receive_report(session, "ke", ["http://plans.test/7.jpg"], content="images", now=clock.now())
    assert_reads_index(some_cases, sent, "uq_case_open_dedup_hash")


def test_cases_due_a_notice_are_read_from_their_index(some_cases: Store, clock: ManualClock) -> None:
    store = some_cases
    with store.session() as session:
        for case in session.scalars(select(Case).where(Case.host == "plans.test")).all()[:5]:
            case.state, case.next_notice_at = CaseState.LIVE.value, clock.now()
    with store.session() as session, statements_sent(store, "next_notice_at") as sent:
        due = list(session.scalars(select(Case.id).where(notice_due(clock.now() + timedelta(hours=1)))))
    assert len(due) == 5
    assert_reads_index(store, sent, "ix_case_notice_due", on_postgresql=False)


@pytest.mark.parametrize(
    ("wanted", "index"),
    [
        ({"country": "NL"}, "ix_case_country_queued"),
        ({"asn": 64500}, "ix_case_asn_queued"),
        ({"network": "198.51.100.0/24"}, "ix_case_network_queued"),
    ],
)
def test_the_case_list_by_hosting_between_two_dates_reads_one_index_in_order(
    some_cases: Store, clock: ManualClock, wanted: dict[str, Any], index: str
) -> None:
    """A country's (an AS's, a network's) cases between two dates, in queued-time order: one range
    of one index, not every case of that country read from the table to compare its date."""
    store = some_cases
    with store.session() as session:
        session.execute(
            update(Case)
            .where(Case.host == "plans.test")
            .values(hosting_country="NL", hosting_asn=64500, hosting_network="198.51.100.0/24")
        )
    dates = {"queued_from": clock.now() - timedelta(days=7), "queued_before": clock.now() + timedelta(days=1)}
    for newest_first in (False, True):
        with store.session() as session, statements_sent(store, "queued_at") as sent:
            listed = list(
                iter_cases(session, CaseFilter(**wanted, **dates, newest_first=newest_first), limit=5)
            )
        assert len(listed) == 5
        assert_reads_index(store, sent, index, on_postgresql=False)
        if store.engine.dialect.name == "sqlite":  # in the index's order: nothing sorted afterwards
            assert not any("TEMP B-TREE" in plan(store, *statement) for statement in sent)
