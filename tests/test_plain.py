"""Operations return data and every face serialises it one way: times in one format, states as
their names, records usable after their session has closed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from faces.cli import App, cli
from takedown.case_moves import withdraw
from takedown.case_views import CaseDetail, CaseFilter, CaseSummary
from takedown.cases import count_cases, iter_cases, list_cases, show_case
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.plain import iso, json_line, plain
from takedown.reports import Report, validate_report
from takedown.settings import Settings
from takedown.states import CaseState
from takedown.store import Store

ONE_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Colour(StrEnum):
    RED = "red"


@dataclass(frozen=True)
class Inner:
    when: datetime
    colour: Colour


@dataclass
class Outer:
    name: str
    inners: tuple[Inner, ...]
    tags: frozenset[str] = frozenset()
    ratio: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)


def test_plain_turns_nested_records_into_json_with_one_time_format() -> None:
    when = datetime(2026, 11, 30, 3, 52, 12, 987654, tzinfo=UTC)
    data = plain(Outer("x", (Inner(when, Colour.RED),), frozenset({"b", "a"}), extra={"at": when}))
    assert data == {
        "name": "x",
        "inners": [{"when": "2026-11-30T03:52:12Z", "colour": "red"}],
        "tags": ["a", "b"],
        "ratio": None,  # JSON has no NaN: a script reading it must not choke
        "extra": {"at": "2026-11-30T03:52:12Z"},
    }
    json.dumps(data, allow_nan=False)


def test_plain_refuses_what_it_cannot_say_instead_of_guessing() -> None:
    with pytest.raises(TypeError, match="bytes has no plain form"):
        plain({"body": b"never printed"})


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.timezones()))
def test_iso_reads_back_as_the_same_second_in_utc(when: datetime) -> None:
    text = iso(when)
    assert text is not None and ONE_FORMAT.match(text)
    assert datetime.fromisoformat(text) == when.astimezone(UTC).replace(microsecond=0)


def _queue(store: Store, clock: ManualClock, *urls: str) -> list[int]:
    with store.session() as session:
        results = queue_batch(
            session,
            [validate_report(Report(url, reference=f"HL-{n}")) for n, url in enumerate(urls)],
            actor="analyst:t",
            now=clock.now(),
        )
    return [result.case_id for result in results]


def test_case_operations_return_records_that_outlive_their_session(store: Store, clock: ManualClock) -> None:
    first, second = _queue(store, clock, "http://a.test/1", "http://b.test/2")
    clock.advance(timedelta(hours=1))
    with store.session() as session:
        withdrawn = withdraw(session, second, reason="reported in error", actor="analyst:t", now=clock.now())
        detail = show_case(session, second)
        listed = list_cases(session)
    assert isinstance(withdrawn, CaseSummary) and withdrawn.state is CaseState.WITHDRAWN
    assert not withdrawn.is_open
    assert isinstance(detail, CaseDetail)
    assert [entry.action for entry in detail.timeline] == ["queued", "withdrawn"]
    assert detail.timeline[-1].describe() == "withdrawn: reported in error"
    assert detail.closed_at == clock.now()
    assert [(case.id, case.state) for case in listed] == [(first, "queued"), (second, "withdrawn")]


def test_listing_streams_and_filters_in_the_store(store: Store, clock: ManualClock) -> None:
    ids = _queue(store, clock, *(f"http://a.test/{n}" for n in range(7)))
    with store.session() as session:
        withdraw(session, ids[3], reason="r", actor="analyst:t", now=clock.now())
        cases = iter_cases(session, CaseFilter(states=(CaseState.QUEUED,), after_id=ids[1]), limit=3)
        assert not isinstance(cases, list)
        assert [case.id for case in cases] == [ids[2], ids[4], ids[5]]
        assert count_cases(session, CaseFilter(states=(CaseState.QUEUED,), after_id=ids[1])) == 4
        assert count_cases(session) == 7


def _times(value: Any) -> list[str]:
    """Every value under a key that names a time (``at``, ``*_at``, ``*_since``)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if (key == "at" or key.endswith(("_at", "_since"))) and item is not None:
                found.append(item)
            found += _times(item)
    elif isinstance(value, list):
        for item in value:
            found += _times(item)
    return found


def test_every_json_face_writes_times_the_same_way(
    store: Store, clock: ManualClock, database_url: str
) -> None:
    clock.set(datetime(2026, 11, 30, 3, 52, 12, 500000, tzinfo=UTC))
    [case_id] = _queue(store, clock, "http://a.test/x")
    app = App(settings=Settings(database_url=database_url, actor="analyst:t"), clock=clock, _store=store)
    runner = CliRunner()
    outputs = []
    for args in (
        ["queue", "list", "--json"],
        ["case", "show", str(case_id), "--json"],
        ["case", "withdraw", str(case_id), "--reason", "test", "--json"],
        ["contacts", "set", "network", "127.0.0.0/24", "--email", "abuse@a.test", "--json"],
        ["notices", "list", "--json"],
    ):
        result = runner.invoke(cli, args, obj=app, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs += [json.loads(line) for line in result.stdout.splitlines()]
    times = _times(outputs)
    assert len(times) >= 5  # queued_at in each case's view, the timeline's, the contact's updated_at
    assert all(ONE_FORMAT.match(text) for text in times), times
    assert "2026-11-30T03:52:12Z" in times


def test_a_record_that_writes_its_own_json_says_what_the_generic_walk_would() -> None:
    summary = CaseSummary(
        7,
        CaseState.LIVE,
        "http://a.test/x",
        "a.test",
        "csam",
        None,
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    shaped = plain(summary)
    walked = {name: plain(getattr(summary, name)) for name in CaseSummary.__dataclass_fields__}
    assert shaped == walked and list(shaped) == list(walked)


@given(
    case_id=st.integers(min_value=1, max_value=2**62),
    state=st.sampled_from(CaseState),
    url=st.text(st.characters(exclude_categories=("Cs",))),
    host=st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
    category=st.text(max_size=20),
    reference=st.none() | st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    queued_at=st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
    ),
)
def test_a_listed_cases_json_line_is_what_the_generic_encoder_writes(
    case_id: int,
    state: CaseState,
    url: str,
    host: str,
    category: str,
    reference: str | None,
    queued_at: datetime,
) -> None:
    """The listing's own writer (quotes, backslashes, control characters, any script, null) makes
    the same bytes as plain() and the shared encoder, so scripts reading queue list --json or the
    console's export see no difference."""
    summary = CaseSummary(case_id, state, url, host, category, reference, queued_at)
    line = summary.json_line()
    assert line == json_line(plain(summary))
    assert json.loads(line)["url"] == url
