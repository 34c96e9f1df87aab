"""The chase policy file, and the time-to-removal statistics."""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import case, update

from faces.cli import App, cli
from takedown import stats
from takedown.cases import HostedAt, record_hosted_at
from takedown.clock import ManualClock
from takedown.errors import ConfigurationError
from takedown.intake import queue_batch
from takedown.models import Case
from takedown.policy import ChasePolicy
from takedown.reports import Report, validate_report
from takedown.revisits import Fetch, record_fetches
from takedown.settings import Settings, sqlite_url
from takedown.stats import GROUPINGS, removal_stats
from takedown.store import Store
from tests.conftest import postgres_url_for_new_schema

SHIPPED = Path(__file__).resolve().parent.parent / "schedules" / "chase.toml"


def test_the_shipped_policy_file_states_the_built_in_defaults() -> None:
    assert ChasePolicy.load(SHIPPED) == ChasePolicy()


def test_the_ladder_initial_reminders_escalations_then_an_analyst() -> None:
    policy = ChasePolicy(reminders=1, ladder=(("registrar",), ("upstream",)), analyst_after=10)
    assert [policy.level_for(n) for n in range(5)] == [
        ("initial", ("site", "hosting", "cdn", "redirector")),  # whoever serves it, or a redirect to it
        ("reminder", ("site", "hosting", "cdn", "redirector")),
        ("escalation", ("registrar",)),
        ("escalation", ("upstream",)),
        None,
    ]
    assert ChasePolicy(analyst_after=1).level_for(1) is None


def test_the_policy_says_which_lists_confirm_a_report_without_an_analyst(tmp_path: Path) -> None:
    assert not ChasePolicy().confirms("iwf", "csam")  # nobody is trusted out of the box
    path = tmp_path / "policy.toml"
    path.write_text('[hash_lists]\nconfirm_without_analyst = [{ list = "IWF", categories = ["csam"] }]\n')
    policy = ChasePolicy.load(path)
    assert policy.confirms("iwf", "csam")
    assert not policy.confirms("iwf", "other") and not policy.confirms("partner", "csam")
    assert not policy.confirms("iwf", None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[revisit_hours]\nlive = -1", r"\[revisit_hours\] live=-1 must be zero or more"),
        (
            '[revisit_hours]\nlive = "often"',
            r"\[revisit_hours\] live='often' is not a duration.*90s, 15m, 2h",
        ),
        ("[revisit_hours]\nsoon = 1", r"'soon' is not one of"),
        ("[notices]\nladder = [['police']]", "ladder rungs are lists of roles"),
        ("[notices]\nreminders = 1.5", r"\[notices\] reminders: expected a whole number"),
        ("[chase]\nx = 1", "unknown section"),
        ('[hash_lists]\nconfirm_without_analyst = [{ list = "iwf" }]', "list 'iwf' needs categories"),
        (
            '[hash_lists]\nconfirm_without_analyst = [{ list = "iwf", categories = ["cats"] }]',
            "needs categories",
        ),
        ("[hash_lists]\ntrust = true", "expected a list of"),
        ("not toml = = 1", "cannot read"),
    ],
)
def test_policy_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        ChasePolicy.load(path)


def add_case(
    store: Store, n: int, *, live: datetime, removed: datetime | None, country: str, asn: int
) -> None:
    """A case seen live at ``live`` on a network in ``country``, and removed at ``removed`` (a
    revisit finds it gone then, and another 13 hours later confirms it), as the pipeline does it."""
    url = f"http://h{n}.test/x"
    with store.session() as session:
        [queued] = queue_batch(session, [validate_report(Report(url))], actor="analyst:t", now=live)
        record_hosted_at(session, [HostedAt(queued.case_id, "192.0.2.0/24", "Example", asn, country)])
    looks = [(live, 200)]
    if removed is not None:
        looks += [(removed, 404), (removed + timedelta(hours=13), 404)]
    for at, status in looks:
        with store.session() as session:
            record_fetches(session, [Fetch(queued.case_id, at, http_status=status, final_url=url)])


def test_time_to_removal_per_group(store: Store) -> None:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    for n, hours in enumerate([2, 10, 30, 100, 200]):
        add_case(store, n, live=t0, removed=t0 + timedelta(hours=hours), country="NL", asn=64500)
    add_case(store, 10, live=t0, removed=None, country="NL", asn=64500)
    add_case(store, 11, live=t0, removed=t0 + timedelta(hours=5), country="US", asn=64501)
    with store.session() as session:  # two rounds about each NL case, three about the US one
        session.execute(update(Case).values(notice_rounds=case((Case.hosting_country == "NL", 2), else_=3)))
    with store.session() as session:
        rows = {row.group: row for row in removal_stats(session, "country")}
        by_asn = [row.group for row in removal_stats(session, "asn")]
    nl = rows["NL"]
    assert (nl.removed, nl.still_open, nl.median_hours) == (5, 1, 30.0)
    assert nl.p90_hours == pytest.approx(160.0)
    assert (nl.within_24h, nl.within_7d) == (0.4, 0.8)  # 200 h is past a week
    assert rows["all"].removed == 6 and rows["US"].median_hours == 5.0
    assert (rows["NL"].notice_rounds, rows["US"].notice_rounds, rows["all"].notice_rounds) == (12, 3, 15)
    assert by_asn == ["AS64500", "AS64501", "all"]


def test_stats_command_prints_json_and_draws_a_chart(store: Store, tmp_path: Path) -> None:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    add_case(store, 1, live=t0, removed=t0 + timedelta(hours=20), country="NL", asn=64500)
    app = App(settings=Settings.from_env({"TAKEDOWN_HOME": str(tmp_path)}), clock=ManualClock(), _store=store)
    chart = tmp_path / "ttr.png"
    result = CliRunner().invoke(cli, ["stats", "--by", "country", "--json", "--chart", str(chart)], obj=app)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["groups"][0] == {
        "group": "NL",
        "removed": 1,
        "still_open": 0,
        "median_hours": 20.0,
        "p90_hours": 20.0,
        "within_24h": 1.0,
        "within_7d": 1.0,
        "notice_rounds": 0,
    }
    assert chart.read_bytes().startswith(b"\x89PNG")
    text = CliRunner().invoke(cli, ["stats", "--by", "country"], obj=app)
    assert "NL" in text.output and "100%" in text.output


def test_content_already_gone_at_first_look_closes_as_already_gone_and_is_counted_apart(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    with store.session() as session:
        [never_live] = queue_batch(
            session, [validate_report(Report("http://gone.test/x.jpg"))], actor="analyst:t", now=clock.now()
        )
    for _ in range(2):  # two looks, far enough apart to confirm, both find it gone
        with store.session() as session:
            record_fetches(session, [Fetch(never_live.case_id, clock.now(), http_status=404)])
        clock.advance(timedelta(hours=13))
    with store.session() as session:
        case = session.get(Case, never_live.case_id)
        assert case is not None and (case.state, case.removed_at) == ("already_gone", None)
        assert case.closed_at is not None and case.next_check_at is None
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    add_case(store, 1, live=t0, removed=t0 + timedelta(hours=20), country="NL", asn=64500)
    app = App(settings=Settings.from_env({"TAKEDOWN_HOME": str(tmp_path)}), clock=clock, _store=store)
    runner = CliRunner()
    data = json.loads(runner.invoke(cli, ["stats", "--json"], obj=app).output)
    assert data["already_gone"] == 1 and data["groups"][-1]["removed"] == 1  # not a removal
    listed = runner.invoke(cli, ["queue", "list", "--state", "already_gone", "--json"], obj=app).output
    assert [json.loads(line)["id"] for line in listed.splitlines()] == [never_live.case_id]
    removed = runner.invoke(cli, ["queue", "list", "--state", "removed", "--json"], obj=app).output
    assert never_live.case_id not in [json.loads(line)["id"] for line in removed.splitlines()]
    assert "already gone when first checked" in runner.invoke(cli, ["stats"], obj=app).output


@pytest.fixture(
    scope="module",
    params=["sqlite", "sqlite-stepping", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def stats_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One store per way of finding the percentiles, for the whole module: SQLite walks the sorted
    times or steps to each group's neighbours, PostgreSQL ranks them with a window, and all must
    agree with the statistics module."""
    if request.param.startswith("sqlite"):
        opened = Store.open(sqlite_url(tmp_path_factory.mktemp("stats") / "takedown.db"))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(stats, "STEP_FROM", 1 if request.param == "sqlite-stepping" else 10**9)
            yield opened
        opened.dispose()
        return
    for url in postgres_url_for_new_schema():
        opened = Store.open(url)
        yield opened
        opened.dispose()


_networks = itertools.count(64600)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60 * 24 * 30), min_size=1, max_size=9))
def test_the_store_computes_the_figures_statistics_would(stats_store: Store, minutes: list[int]) -> None:
    """Median and p90 as statistics.median and statistics.quantiles(method="inclusive") give them,
    and the shares within a day and a week, whatever the times (ties, one case, even counts)."""
    assert_figures_as_statistics_gives_them(stats_store, minutes)


def test_every_count_of_removals_up_to_twenty_gives_the_figures_statistics_would(stats_store: Store) -> None:
    """Each count puts the median and the p90 at another place between two neighbours (tenths
    0 to 9 of the way): all of them, which a handful of random lists rarely reaches."""
    for count in range(1, 21):
        assert_figures_as_statistics_gives_them(stats_store, [(n * 37 + count) % 500 for n in range(count)])


def assert_figures_as_statistics_gives_them(stats_store: Store, minutes: list[int]) -> None:
    asn = next(_networks)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    for n, took in enumerate(minutes):
        add_case(
            stats_store, asn * 100 + n, live=t0, removed=t0 + timedelta(minutes=took), country="NL", asn=asn
        )
    with stats_store.session() as session:
        row = next(r for r in removal_stats(session, "asn") if r.group == f"AS{asn}")
    hours = sorted(m / 60 for m in minutes)
    p90 = statistics.quantiles(hours, n=10, method="inclusive")[8] if len(hours) > 1 else hours[0]
    assert row.removed == len(minutes) and row.still_open == 0
    # to the hundredth of an hour shown, give or take one step where a value ends in 5 (the store
    # works in seconds, this in hours, and the last bit of a float can round either way)
    assert row.median_hours == pytest.approx(round(statistics.median(hours), 2), abs=0.0101)
    assert row.p90_hours == pytest.approx(round(p90, 2), abs=0.0101)
    assert row.within_24h == round(sum(h <= 24 for h in hours) / len(hours), 3)
    assert row.within_7d == round(sum(h <= 24 * 7 for h in hours) / len(hours), 3)


def test_walking_and_stepping_give_every_group_its_figures_groups_without_a_value_too(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite finds each group's median and p90 by walking every removal time, or, where groups
    are large, by stepping to the neighbours along the group's index. Both ways give the figures
    statistics gives, for every grouping, the groups of cases never resolved among them (no
    network, AS or country: a stepping read that asked for "= NULL" would find nothing)."""
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    hours = {n: (n * 7) % 50 + 1 for n in range(30)}
    for n, took in hours.items():
        add_case(
            store,
            n,
            live=t0,
            removed=t0 + timedelta(hours=took),
            country=("NL", "DE")[n % 2],
            asn=64500 + n % 3,
        )
    unresolved = [n for n in hours if n % 3 == 2]
    with store.session() as session:
        session.execute(
            update(Case)
            .where(Case.url.in_([f"http://h{n}.test/x" for n in unresolved]))
            .values(hosting_network=None, hosting_organisation=None, hosting_asn=None, hosting_country=None)
        )
    expected_groups = {
        "network": lambda n: "unresolved" if n in unresolved else "192.0.2.0/24 Example",
        "asn": lambda n: "unknown AS" if n in unresolved else f"AS{64500 + n % 3}",
        "country": lambda n: "unknown country" if n in unresolved else ("NL", "DE")[n % 2],
    }
    for by in GROUPINGS:
        found = {}
        for step_from in (10**9, 1):  # walking, then stepping
            monkeypatch.setattr(stats, "STEP_FROM", step_from)
            with store.reading() as session:
                found[step_from] = removal_stats(session, by)
        assert found[1] == found[10**9], by
        times: dict[str, list[float]] = {}
        for n, took in hours.items():
            times.setdefault(expected_groups[by](n), []).append(float(took))
        times["all"] = [float(took) for took in hours.values()]
        assert {row.group for row in found[1]} == set(times)
        for row in found[1]:
            ordered = sorted(times[row.group])
            p90 = statistics.quantiles(ordered, n=10, method="inclusive")[8]
            assert row.removed == len(ordered), (by, row.group)
            assert (row.median_hours, row.p90_hours) == (
                pytest.approx(statistics.median(ordered), abs=0.0101),
                pytest.approx(p90, abs=0.0101),
            ), (by, row.group)
