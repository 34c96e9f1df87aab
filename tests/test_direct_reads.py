"""The terminal's direct reads (``takedown.direct_reads``, through sqlite3 or psycopg alone) give
what the store's own path gives, on SQLite and PostgreSQL: every listing and count, for any filter,
and every case shown. They are the answers an analyst reads at the terminal, so a difference here is
a wrong answer there. Where the direct reads cannot answer, the store's path does."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import astuple
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update

from faces.cli import App, cli
from notices.listing import list_notices
from takedown import exitcodes
from takedown.case_listing import listed_cases
from takedown.case_views import CaseFilter
from takedown.cases import count_cases, list_cases, show_case
from takedown.clock import ManualClock
from takedown.direct_reads import DirectReader
from takedown.direct_writes import DirectWriter
from takedown.errors import CaseNotFound, StoreError
from takedown.intake import queue_batch
from takedown.models import Case, Event, Notice, NoticeCase
from takedown.plain import iso
from takedown.reports import Report, validate_report
from takedown.settings import Settings, sqlite_url
from takedown.sql_reads import SessionReads
from takedown.states import CaseState
from takedown.store import Store
from takedown.vocabulary import NoticeStatus
from tests.conftest import printed_both_ways, probe_cli

OPENERS = {"reader": DirectReader.open, "writer": DirectWriter.open}
"""Both ways to the store through its driver alone; what one leaves to the store, so does the other."""
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HOSTS = ("a.test", "b.test", "xn--bcher-kva.test")
REFERENCES = (None, "HL-1", "HL-2 'quoted' \"both\"", "ref ünïcode")
COUNTRIES = (None, "NL", "DE")
NETWORKS = (None, "192.0.2.0/24", "2001:db8::/32")
STATES = sorted(CaseState, key=lambda state: state.value)
CASES = 48
EAST = timezone(timedelta(hours=5))
NOTICE_STATES = [status.value for status in NoticeStatus]


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def worked_store(store: Store) -> Store:
    """Cases in every state, some for an analyst, hosted in places, queued over two days, with
    fingerprints and events whose details say things (the timeline shows them)."""
    for n in range(CASES):
        report = Report(
            f"http://{HOSTS[n % 3]}/{n}?q='{n}'",
            category=("csam", "csam-nonphoto", "other")[n % 3] if n % 5 else "csam",
            reference=REFERENCES[n % 4],
            sha256=("ab" * 32,) if n % 2 else (),
            md5=("cd" * 16,) if n % 4 == 1 else (),
        )
        with store.session() as session:
            [result] = queue_batch(
                session, [validate_report(report)], actor="analyst:t", now=START + timedelta(minutes=55 * n)
            )
            state = STATES[n % len(STATES)]
            seen_live = START + timedelta(minutes=55 * n + 7) if n % 2 else None
            removed = START + timedelta(days=3, microseconds=n) if state == CaseState.REMOVED else None
            session.execute(
                update(Case)
                .where(Case.id == result.case_id)
                .values(
                    state=state.value,
                    needs_analyst=n % 3 == 0,  # closed ones too: a count for an analyst leaves them out
                    hosting_country=COUNTRIES[n % 3],
                    hosting_asn=64500 + n % 2 if n % 3 else None,
                    hosting_network=NETWORKS[n % 3],
                    first_seen_live_at=seen_live,
                    removed_at=removed,
                    removal_seconds=(removed - seen_live).total_seconds() if removed and seen_live else None,
                    notice_rounds=n % 4,
                )
            )
            session.add(
                Event(
                    case_id=result.case_id,
                    at=START + timedelta(hours=n, microseconds=17),
                    actor="provider:x",
                    action="provider_removed",
                    from_state=None,
                    to_state=None,
                    detail={"reason": f"gone {n} ✓", "ticket": "T-1"} if n % 2 else None,
                )
            )
    with store.session() as session:  # notices in every state, about none to three cases
        for n, status in enumerate(NOTICE_STATES * 2):
            notice = Notice(
                recipient=("abuse@a.test", "Abuse@B.test", "noc@c.test")[n % 3],
                level=("initial", "reminder", "escalation")[n % 3],
                message_id=f"<{n}@hotline.test>",
                subject=f"Notice {n}: 'quoted' ünïcode",
                status=status,
                attempts=n % 4,
                created_at=START + timedelta(hours=n, microseconds=n),
                next_attempt_at=START + timedelta(days=1, hours=n) if status == "retry" else None,
                sent_at=START + timedelta(hours=n, minutes=1) if status == "sent" else None,
                last_error="550 mailbox unavailable" if status in ("failed", "retry") else None,
                role=(None, "hosting", "registrar")[n % 3],
            )
            session.add(notice)
            session.flush()
            for case_id in range(1, 1 + n % 4):
                session.add(NoticeCase(notice_id=notice.id, case_id=case_id + n))
    return store


def east_of_start(minutes: int) -> datetime:
    """A time given in another zone than UTC, as a user's --queued-before may be."""
    return (START + timedelta(minutes=minutes)).astimezone(EAST)


filters = st.builds(
    CaseFilter,
    states=st.lists(st.sampled_from(STATES), max_size=3, unique=True).map(tuple),
    host=st.sampled_from((None, "", *HOSTS, "A.TEST", "nowhere.test")),
    needs_analyst=st.booleans(),
    after_id=st.integers(0, CASES + 2),
    newest_first=st.booleans(),
    queued_from=st.none() | st.integers(-60, 3000).map(lambda m: START + timedelta(minutes=m)),
    queued_before=st.none() | st.integers(-60, 3000).map(east_of_start),
    reference=st.sampled_from((*REFERENCES, "")),
    category=st.sampled_from((None, "csam", "other", "nothing")),
    country=st.sampled_from((None, "NL", "nl", "FR")),
    asn=st.sampled_from((None, 64500, 64501, 1)),
    network=st.sampled_from((*NETWORKS, "198.51.100.0/24")),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wanted=filters, limit=st.none() | st.integers(1, CASES + 5))
def test_listings_and_counts_are_the_stores_for_any_filter(
    worked_store: Store, wanted: CaseFilter, limit: int | None
) -> None:
    with worked_store.reading() as session, DirectReader.open(url_of(worked_store)) as direct:  # type: ignore[union-attr]
        listed = list(direct.iter_listed(wanted, limit=limit))
        assert listed == [case.listed() for case in list_cases(session, wanted, limit=limit)]
        assert list(listed_cases(SessionReads(session), wanted, limit=limit)) == listed  # the console's
        assert direct.count_cases(wanted) == count_cases(session, wanted)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(queued=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)))
def test_a_listed_time_is_the_time_every_face_shows(store: Store, queued: datetime) -> None:
    """The database writes a listed case's time (``LISTED_TIME``): any time the store can hold is
    written as :func:`takedown.plain.iso` writes it, cut to the second, never rounded up."""
    with store.session() as session:
        if count_cases(session) == 0:
            queue_batch(session, [validate_report(Report("http://a.test/1"))], actor="analyst:t", now=START)
        session.execute(update(Case).values(queued_at=queued.replace(tzinfo=UTC)))
    with DirectReader.open(url_of(store)) as direct:  # type: ignore[union-attr]
        [(*_, shown)] = direct.iter_listed(CaseFilter(), limit=None)
    assert shown == iso(queued) == f"{queued:%Y-%m-%dT%H:%M:%S}Z".rjust(20, "0")


def test_every_case_is_shown_as_the_store_shows_it(worked_store: Store) -> None:
    reader = DirectReader.open(url_of(worked_store))
    assert reader is not None
    with worked_store.reading() as session, reader:
        for case_id in range(1, CASES + 1):
            assert reader.show_case(case_id) == show_case(session, case_id)
        shown = reader.show_case(2)
        assert shown.fingerprints and shown.timeline[-1].describe() == (
            "the provider says it is removed: gone 1 ✓ (their ticket T-1)"
        )
        with pytest.raises(CaseNotFound):
            reader.show_case(CASES + 1)


def test_the_counts_by_state_add_up_to_the_cases_listed(worked_store: Store) -> None:
    """The running counts (case_tally) answer counts by state: held to the cases themselves, so a
    count that read the tallies wrong cannot agree with the store's count by accident."""
    with DirectReader.open(url_of(worked_store)) as direct:  # type: ignore[union-attr]
        for state in CaseState:
            listed = list(direct.iter_listed(CaseFilter(states=(state,)), limit=CASES))
            assert direct.count_cases(CaseFilter(states=(state,))) == len(listed) > 0
        assert direct.count_cases(CaseFilter()) == CASES
        flagged = list(direct.iter_listed(CaseFilter(needs_analyst=True), limit=CASES))
        assert direct.count_cases(CaseFilter(needs_analyst=True)) == len(flagged) > 0


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_long_listing_is_fetched_from_postgresql_a_page_at_a_time(worked_store: Store) -> None:
    """psycopg's plain cursor takes every row of a result into memory before the first is read: a
    million cases would be a million rows held at once. The listing reads a server-side cursor,
    through the driver (``queue list``) and through a session (the console's export) alike."""
    cursors = "SELECT count(*) FROM pg_cursors WHERE NOT is_holdable"
    with DirectReader.open(url_of(worked_store)) as direct:  # type: ignore[union-attr]
        listing = direct.iter_listed(CaseFilter(), limit=None)
        first = next(listing)
        [(open_cursors,)] = direct._rows(cursors, ())
        rest = list(listing)
    assert open_cursors == 1 and [first[0], *(case[0] for case in rest)] == list(range(1, CASES + 1))
    with worked_store.reading() as session:
        listing = listed_cases(SessionReads(session), CaseFilter(), limit=None)
        first = next(listing)
        open_cursors = session.execute(text(cursors)).scalar_one()
        rest = list(listing)
        # Only the long reads page: the session's later reads are plain ones (no cursor to open).
        list_cases(session, CaseFilter(), limit=5)
        assert session.execute(text(cursors)).scalar_one() == 0
    assert open_cursors == 1 and [first[0], *(case[0] for case in rest)] == list(range(1, CASES + 1))


def test_the_direct_reader_cannot_write(worked_store: Store) -> None:
    direct = DirectReader.open(url_of(worked_store))
    assert direct is not None
    with direct, pytest.raises(StoreError, match=r"the store failed: .*read.?only"):
        direct._rows('DELETE FROM "case"', ())
    with worked_store.reading() as session:
        assert count_cases(session) == CASES


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:x.db?mode=ro&uri=true",
        "sqlite:////nowhere/takedown.db",
        "mysql://user@localhost/takedown",
        "postgresql+psycopg2://postgres@127.0.0.1:1/test",
        "postgresql://postgres@127.0.0.1:1/test",  # nothing listens: the store's path says so
    ],
)
@pytest.mark.parametrize("way", sorted(OPENERS))
def test_what_the_direct_reads_and_writes_do_not_handle_is_left_to_the_store(url: str, way: str) -> None:
    assert OPENERS[way](url) is None


@pytest.mark.parametrize("way", sorted(OPENERS))
def test_a_store_behind_the_schema_is_left_to_the_store_which_upgrades_it(tmp_path: Path, way: str) -> None:
    path = tmp_path / "takedown.db"
    Store.open(sqlite_url(path)).dispose()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0030'")
    assert OPENERS[way](sqlite_url(path)) is None
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE alembic_version")
    assert OPENERS[way](sqlite_url(path)) is None
    missing = tmp_path / "missing.db"
    assert OPENERS[way](sqlite_url(missing)) is None
    assert not missing.exists()  # the store's path makes it, private to its owner


def test_the_cli_reads_directly_and_prints_what_the_store_path_prints(worked_store: Store) -> None:
    """The same command run both ways (a store given to the app is read through it), byte for byte."""
    settings_ = Settings(database_url=url_of(worked_store), actor="analyst:t")
    direct, through_store = App(settings=settings_), App(settings=settings_, _store=worked_store)
    runner = CliRunner()
    commands = [
        ["queue", "list"],
        ["queue", "list", "--json", "--state", "live", "--newest-first"],
        ["queue", "list", "--host", "B.test", "--queued-from", "2026-03-01T12:00:00", "--limit", "5"],
        ["queue", "list", "--count", "--json"],
        ["queue", "list", "--limit", "1000000", "--state", "removed", "--state", "live"],
        ["queue", "list", "--limit", "1000000", "--json", "--queued-before", "2026-03-02T00:00:00"],
        ["queue", "list", "--count", "--country", "nl"],
        ["case", "show", "2"],
        ["case", "show", "7", "--json"],
        ["case", "show", "999"],
        ["stats"],
        ["stats", "--by", "asn", "--json"],
        ["stats", "--by", "country"],
        ["notices", "list"],
        ["notices", "list", "--json", "--status", "retry"],
        ["notices", "list", "--status", "uncertain", "--limit", "1"],
        ["notices", "list", "--status", "sent"],
    ]
    for command in commands:
        ours = runner.invoke(cli, command, obj=direct, catch_exceptions=False)
        theirs = runner.invoke(cli, command, obj=through_store, catch_exceptions=False)
        assert (ours.exit_code, ours.stdout, ours.stderr) == (theirs.exit_code, theirs.stdout, theirs.stderr)
    assert runner.invoke(cli, ["case", "show", "999"], obj=direct).exit_code == exitcodes.NOT_FOUND
    listed = runner.invoke(cli, ["notices", "list", "--json"], obj=direct).stdout.splitlines()
    assert len(listed) == 2 * len(NOTICE_STATES) and json.loads(listed[0])["cases"] == (len(listed) - 1) % 4
    figures = json.loads(runner.invoke(cli, ["stats", "--by", "asn", "--json"], obj=direct).stdout)
    everything = figures["groups"][-1]
    assert (everything["group"], everything["removed"]) == ("all", 6)  # the six removed ones seen live
    assert everything["median_hours"] > 0 and everything["notice_rounds"] > 0


def test_the_everyday_reads_are_made_without_importing_sqlalchemy(tmp_path: Path) -> None:
    """What makes them quick (timed in bench/bench_million.py): the store's stack is not loaded."""
    environment = {"TAKEDOWN_HOME": str(tmp_path), "TAKEDOWN_ACTOR": "analyst:t", "PATH": "/usr/bin:/bin"}
    takedown = [sys.executable, "-m", "faces.cli"]
    queued = subprocess.run([*takedown, "queue", "import", "-", "--format", "lines", "-q"],
                            input="http://a.test/x\nhttp://b.test/y\n", capture_output=True, text=True,
                            env=environment, timeout=60)  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    for command, expected in [
        (["queue", "list", "--json"], "http://b.test/y"),
        (["queue", "list", "--limit", "1000000"], "http://b.test/y"),
        (["queue", "list", "--count"], "2"),
        (["case", "show", "1"], "http://a.test/x"),
        (["stats", "--by", "country"], "all"),
        (["stats", "--by", "portal"], "h to removal"),
        (["notices", "list"], "no notices"),
        (["portals", "queue"], "nothing waits for an analyst"),
        (["portals", "referrals", "--country", "BR"], "url,reported_at,content"),
        (["contacts", "list"], "The contact book is empty"),
        (["hashes", "list"], "no hash lists"),
        (["hashes", "export"], "action,sha256,md5,sha1,pdq,category,classification,first_seen"),
        (["users", "list"], ""),
        (["tokens", "list"], ""),
        (["inbox", "list"], ""),
        (["users", "log"], "the staff log is empty"),
        (["contacts", "history"], "no changes"),
        (["portals", "list"], "no portals"),
        (["db", "status"], "up to date"),
    ]:
        probe = probe_cli(tmp_path, *command)
        assert probe.returncode == 0, probe.stderr
        assert expected in probe.stdout
        assert "sqlalchemy loaded: False" in probe.stderr, command
    shutil.rmtree(tmp_path)
    gone = subprocess.run([*takedown, "queue", "list"], capture_output=True, text=True, env=environment,
                          timeout=60)  # fmt: skip
    assert gone.returncode == 0 and gone.stdout == "no cases\n"  # a new store, made by the store's path


def test_json_details_decode_on_both_backends(worked_store: Store) -> None:
    """SQLite keeps an event's detail as text, PostgreSQL as jsonb; both are read as the same dict,
    and a detail stored as JSON null reads as no detail."""
    with worked_store.session() as session:
        session.execute(text("UPDATE event SET detail = NULL WHERE id = 1"))
    with DirectReader.open(url_of(worked_store)) as direct:  # type: ignore[union-attr]
        timeline = direct.show_case(2).timeline
    assert json.loads(json.dumps(timeline[-1].detail)) == {"reason": "gone 1 ✓", "ticket": "T-1"}
    with DirectReader.open(url_of(worked_store)) as direct:  # type: ignore[union-attr]
        assert direct.show_case(1).timeline[0].detail == {}


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # a server to lose
def test_a_database_lost_mid_read_is_one_line_and_exit_1(worked_store: Store) -> None:
    """The server goes away between the reader's first query and the next (a restart, a failover):
    the command says so in one line and exits 1, as the store's path does, no traceback."""
    direct = App(settings=Settings(database_url=url_of(worked_store), actor="analyst:t"))
    original_open = DirectReader.open

    def open_then_lose_the_server(database_url: str) -> DirectReader | None:
        reader = original_open(database_url)
        assert reader is not None
        pid = reader._connection.info.backend_pid
        with worked_store.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return reader

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DirectReader, "open", staticmethod(open_then_lose_the_server))
        result = CliRunner().invoke(cli, ["case", "show", "2"], obj=direct)
    assert result.exit_code == exitcodes.FAILURE
    assert result.stderr.startswith("error: the store failed: ") and result.stderr.count("\n") == 1
    assert "(run with -v for the details)" in result.stderr


def test_the_outbox_is_listed_as_the_store_holds_it(worked_store: Store) -> None:
    """``notices list`` reads plain SQL, through the driver or a session alike: what it lists is
    what the mapped models hold (times in UTC, cases counted, notices about none kept), and each
    filter picks what it says."""
    with worked_store.reading() as session:
        held = sorted(session.scalars(select(Notice)), key=lambda notice: -notice.id)
        covered = Counter(session.scalars(select(NoticeCase.notice_id)))
        expected = [
            (n.id, n.recipient, n.role, n.level, n.status, covered[n.id], n.attempts, n.created_at, n.sent_at,
             n.next_attempt_at, n.last_error, n.subject, n.message_id)
            for n in held
        ]  # fmt: skip
    with DirectReader.open(url_of(worked_store)) as direct:  # type: ignore[union-attr]
        listed = list_notices(direct)
        to_b = list_notices(direct, recipient=" abuse@b.TEST ")
        retrying = list_notices(direct, status="retry")
        page = list_notices(direct, before_id=expected[3][0], limit=2)
        one = list_notices(direct, notice_id=expected[5][0])
    assert [astuple(listing) for listing in listed] == expected
    assert list_notices(worked_store) == listed  # through a session of the store
    assert any(row[5] == 0 for row in expected) and listed[0].created_at.tzinfo is UTC
    assert [n.id for n in to_b] == [row[0] for row in expected if row[1].lower() == "abuse@b.test"]
    assert [n.id for n in retrying] == [row[0] for row in expected if row[4] == "retry"]
    assert [n.id for n in page] == [expected[4][0], expected[5][0]]
    assert [n.id for n in one] == [expected[5][0]]


URL_PART = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789._-+!$&'()*,;=~", min_size=1, max_size=12)


@given(
    scheme=st.sampled_from(["sqlite:///", "postgresql://", "postgresql+psycopg://"]),
    user=st.one_of(st.none(), URL_PART),
    password=st.one_of(st.none(), st.just(""), URL_PART, URL_PART.map(lambda text: text + ":" + text)),
    host=st.one_of(st.just(""), URL_PART),
    port=st.one_of(st.none(), st.integers(1, 65535)),
    database=st.one_of(st.just(""), URL_PART, st.just("/tmp/store.db")),
    query=st.one_of(st.none(), st.text(alphabet="ab=&%+ 2Fé;", max_size=16)),
)
def test_db_status_shows_a_store_as_the_stores_own_messages_do(
    scheme: str,
    user: str | None,
    password: str | None,
    host: str,
    port: int | None,
    database: str,
    query: str | None,
) -> None:
    """``db status`` says where the store is without SQLAlchemy when it can: the address it shows
    is SQLAlchemy's own rendering, the password hidden."""
    from sqlalchemy.engine import make_url

    from takedown.driver_connections import shown_url

    if scheme.startswith("sqlite"):
        url = scheme + database
    else:
        credentials = (user or "") + (f":{password}" if user and password is not None else "")
        authority = (credentials + "@" if credentials else "") + host + (f":{port}" if port and host else "")
        url = f"{scheme}{authority}/{database}"
    if query is not None:  # read as a form, in sorted order: "?b=1&a=%2F+x" is shown "?a=%2F+x&b=1"
        url += "?" + query
    shown = shown_url(url)
    if shown is None:  # left to the store's path, which renders it with SQLAlchemy
        return
    assert shown == make_url(url).render_as_string(hide_password=True)
    if user and password is not None and not scheme.startswith("sqlite"):
        assert shown.startswith(f"{scheme}{user}:***@")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:////var/lib/takedown/takedown.db", "sqlite:////var/lib/takedown/takedown.db"),
        ("postgresql://takedown:s3cret-pass@db.internal:5432/takedown",
         "postgresql://takedown:***@db.internal:5432/takedown"),
        ("postgresql+psycopg://postgres@127.0.0.1/test", "postgresql+psycopg://postgres@127.0.0.1/test"),
        ("postgresql://u:p@h/db?sslmode=require&application_name=takedown%20cli",
         "postgresql://u:***@h/db?application_name=takedown+cli&sslmode=require"),
        ("postgresql://h/db?options=-csearch_path%3Dx", "postgresql://h/db?options=-csearch_path%3Dx"),
    ],
)  # fmt: skip
def test_the_usual_store_addresses_are_shown_without_sqlalchemy(url: str, shown: str) -> None:
    from takedown.driver_connections import shown_url

    assert shown_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p%40ss@h/db",
        "mysql://u:p@h/db",
        "sqlite:///a;b",
    ],
)
def test_an_address_db_status_cannot_show_simply_is_left_to_the_store(url: str) -> None:
    from takedown.driver_connections import shown_url

    assert shown_url(url) is None


def test_db_status_says_the_same_either_way(store: Store, clock: ManualClock) -> None:
    [plain_text, as_json] = printed_both_ways(store, clock, ["db", "status"], ["db", "status", "--json"])
    assert plain_text.endswith("(up to date)\n")
    assert json.loads(as_json)["revision"] == json.loads(as_json)["head"]
