"""The case list's order, dates and keyset pages: paging through any filter, in either order, gives
every matching case exactly once, in the order they were queued, on SQLite and PostgreSQL, even when
the times cases were queued do not follow their ids (clocks of several intake machines)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from takedown.case_views import CaseFilter
from takedown.cases import count_cases, list_cases
from takedown.intake import queue_batch
from takedown.reports import Report, validate_report
from takedown.store import Store

START = datetime(2026, 3, 1, tzinfo=UTC)
batches = itertools.count()


def queue_at(store: Store, reference: str, hours: list[int]) -> list[tuple[datetime, int]]:
    """One case per entry of ``hours``, queued that many hours after START, in this order."""
    queued = []
    batch = next(batches)
    with store.session() as session:
        for n, offset in enumerate(hours):
            when = START + timedelta(hours=offset)
            report = validate_report(Report(f"http://list-{batch}.test/{n}", reference=reference))
            [result] = queue_batch(session, [report], actor="analyst:test", now=when)
            queued.append((when, result.case_id))
    return queued


def every_page(store: Store, wanted: CaseFilter, size: int) -> list[int]:
    seen: list[int] = []
    after = 0
    while True:
        with store.session() as session:
            page = list_cases(session, CaseFilter(**{**_fields(wanted), "after_id": after}), limit=size)
        seen += [case.id for case in page]
        if len(page) < size:
            return seen
        after = page[-1].id


def _fields(wanted: CaseFilter) -> dict[str, object]:
    return {name: getattr(wanted, name) for name in CaseFilter.__slots__}  # type: ignore[attr-defined]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hours=st.lists(st.integers(0, 72), min_size=0, max_size=25),
    size=st.integers(1, 7),
    newest_first=st.booleans(),
    bounds=st.tuples(st.none() | st.integers(0, 72), st.none() | st.integers(0, 73)),
)
def test_paging_gives_each_case_once_in_queued_order(
    store: Store, hours: list[int], size: int, newest_first: bool, bounds: tuple[int | None, int | None]
) -> None:
    reference = f"LIST-{next(batches)}"
    queued = queue_at(store, reference, hours)
    start, end = (None if b is None else START + timedelta(hours=b) for b in bounds)
    wanted = CaseFilter(reference=reference, newest_first=newest_first, queued_from=start, queued_before=end)
    matching = [(when, case_id) for when, case_id in queued if wanted.queued_from is None or when >= start]
    matching = [(when, case_id) for when, case_id in matching if end is None or when < end]
    by_time = wanted.by_queued_time
    expected = [case_id for _, case_id in sorted(matching, key=lambda row: row if by_time else row[1])]
    if newest_first:
        expected.reverse()
    assert every_page(store, wanted, size) == expected
    with store.session() as session:
        assert count_cases(session, wanted) == len(expected)


def test_out_of_order_clocks_are_listed_by_time_when_dates_are_asked_for(store: Store) -> None:
    # Three cases whose ids and queued times disagree: 1 at 10:00, 2 at 08:00, 3 at 09:00.
    [(_, first), (_, second), (_, third)] = queue_at(store, "CLOCKS", [10, 8, 9])
    day = CaseFilter(reference="CLOCKS", queued_from=START, queued_before=START + timedelta(days=1))
    with store.session() as session:
        assert [c.id for c in list_cases(session, CaseFilter(reference="CLOCKS"))] == [first, second, third]
        assert [c.id for c in list_cases(session, day)] == [second, third, first]
        newest = CaseFilter(**{**_fields(day), "newest_first": True})
        assert [c.id for c in list_cases(session, newest)] == [first, third, second]
        after_third = CaseFilter(**{**_fields(day), "after_id": third})
        assert [c.id for c in list_cases(session, after_third)] == [first]
