"""Reports from the public: kept without anything about the reporter, each URL triaged at once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from takedown.clock import ManualClock
from takedown.errors import ReportRefused
from takedown.intake import queue_batch
from takedown.models import Case, Event, PortalReport, PortalUrl, ReporterAddress
from takedown.portal_reports import receive_report
from takedown.portals import PortalChange, add_portal
from takedown.reports import Report, validate_report
from takedown.store import Store
from tests.conftest import printed_both_ways


@pytest.fixture
def portal(store: Store, clock: ManualClock) -> str:
    with store.session() as session:
        add_portal(session, "ke", PortalChange(country="KE", languages=["en", "sw"], partner="P"), actor="t",
                   now=clock.now())  # fmt: skip
    return "ke"


def test_each_url_is_triaged_and_the_reporter_gets_a_reference(
    store: Store, clock: ManualClock, portal: str
) -> None:
    with store.session() as session:
        [opened] = queue_batch(
            session, [validate_report(Report("http://open.test/a.jpg"))], actor="t", now=clock.now()
        )
    with store.session() as session:
        first = receive_report(
            session, portal,
            ["http://new.test/x.jpg", "HTTP://OPEN.test/a.jpg", "ftp://files.test/y", "http://new.test/x.jpg#again"],
            content="images", found_where="a forum", details="seen today", now=clock.now(),
        )  # fmt: skip
    assert first.reference.startswith("R-") and len(first.reference) == 12
    assert first.states == (
        (0, "awaiting_revisit"),
        (1, "already_open"),
    )  # the repeat in the report counts once
    assert [(r.index, r.field) for r in first.refused] == [(2, "url")]
    with store.session() as session:
        trail = session.execute(
            select(Event.actor, Event.action, Event.detail).where(Event.case_id == opened.case_id)
        ).all()
        assert ("portal:ke", "reported_again", {"report": first.reference}) in [tuple(row) for row in trail]
        second = receive_report(session, portal, ["http://new.test/x.jpg"], content="videos", now=clock.now())
    assert second.states == ((0, "repeat"),)
    with store.session() as session:
        urls = session.execute(
            select(PortalUrl.url, PortalUrl.state, PortalUrl.times_reported).order_by(PortalUrl.id)
        ).all()
        assert [tuple(row) for row in urls] == [
            ("http://new.test/x.jpg", "awaiting_revisit", 2),
            ("HTTP://OPEN.test/a.jpg", "already_open", 1),  # kept as reported
            ("http://new.test/x.jpg", "repeat", 1),
        ]
        kept = session.scalars(select(PortalReport).order_by(PortalReport.id)).all()
        assert [(r.content, r.found_where, r.details) for r in kept] == [
            ("images", "a forum", "seen today"),
            ("videos", None, None),
        ]


def test_nothing_is_kept_of_a_report_that_cannot_be_taken(
    store: Store, clock: ManualClock, portal: str
) -> None:
    for urls, content, message in (
        (["javascript:alert(1)", "not a url"], "images", "no URL of the report"),
        (["http://a.test/"], "everything", "content must be one of"),
        ([], "images", "1 to 20 URLs"),
        ([f"http://a.test/{n}" for n in range(21)], "images", "1 to 20 URLs"),
    ):
        with pytest.raises(ReportRefused, match=message), store.session() as session:
            receive_report(session, portal, urls, content=content, now=clock.now())
    with pytest.raises(ReportRefused, match="does not take addresses"), store.session() as session:
        receive_report(
            session,
            portal,
            ["http://a.test/"],
            content="images",
            reporter_address="me@x.test",
            now=clock.now(),
        )
    with pytest.raises(ReportRefused, match="no portal"), store.session() as session:
        receive_report(session, "zz", ["http://a.test/"], content="images", now=clock.now())
    with store.session() as session:
        assert (
            session.scalars(select(PortalReport)).all() == []
            and session.scalars(select(PortalUrl)).all() == []
        )
        assert session.scalars(select(ReporterAddress)).all() == []


def test_an_analyst_decides_and_a_confirmation_opens_a_case(
    store: Store, clock: ManualClock, portal: str
) -> None:
    from takedown.cases import show_case
    from takedown.portal_decisions import decide
    from takedown.portal_queue import awaiting
    from takedown.portal_referrals import referrals

    with store.session() as session:
        first = receive_report(session, portal, ["http://d.test/1.jpg", "http://d.test/2.jpg", "http://br.test/3.jpg"],
                               content="images", now=clock.now())  # fmt: skip
        again = receive_report(session, portal, ["http://d.test/1.jpg"], content="images", now=clock.now())
    assert again.states == ((0, "repeat"),)
    with store.session() as session:
        queue = awaiting(session)
        assert [(u.url, u.report, u.portal, u.times_reported) for u in queue] == [
            ("http://d.test/1.jpg", first.reference, "ke", 2),
            ("http://d.test/2.jpg", first.reference, "ke", 1),
            ("http://br.test/3.jpg", first.reference, "ke", 1),
        ]
        one, two, three = (u.id for u in queue)
        [confirmed] = decide(
            session,
            [one],
            "confirm",
            category="csam",
            classification="A1",
            actor="analyst:ana",
            now=clock.now(),
        )
        assert confirmed.case_id is not None and confirmed.repeats == 1
        case = show_case(session, confirmed.case_id)
        assert (case.url, case.reference, case.queued_by) == (
            "http://d.test/1.jpg",
            first.reference,
            "analyst:ana",
        )
        assert session.get_one(Case, confirmed.case_id).classification == "A1"
        assert (
            decide(session, [one], "not_illegal", actor="analyst:ana", now=clock.now()) == []
        )  # decided once
        decide(session, [two], "not_found", actor="analyst:ana", now=clock.now())
        with pytest.raises(ReportRefused, match="names the country"):
            decide(session, [three], "refer", actor="analyst:ana", now=clock.now())
        decide(session, [three], "refer", country="br", actor="analyst:ana", now=clock.now())
        assert awaiting(session) == []
        [sent] = referrals(session, "BR")
        assert (sent.url, sent.report, sent.portal) == ("http://br.test/3.jpg", first.reference, "ke")
        assert referrals(session, "KE") == []


def test_the_assessment_queue_from_the_command_line(store: Store, clock: ManualClock, portal: str) -> None:
    import csv
    import io
    import json
    from datetime import timedelta

    from click.testing import CliRunner

    from faces.cli import App, cli
    from takedown import exitcodes
    from takedown.portal_referrals import REFERRAL_COLUMNS
    from takedown.settings import Settings
    from tests.conftest import printed_both_ways

    with store.session() as session:
        receive_report(
            session, portal, ["http://c.test/1.jpg", "http://c.test/2.jpg"], content="videos", now=clock.now()
        )
    app = App(settings=Settings(database_url="unused", actor="analyst:ana"), clock=clock, _store=store)
    runner = CliRunner()
    queue = [
        json.loads(line)
        for line in runner.invoke(cli, ["portals", "queue", "--json"], obj=app).stdout.splitlines()
    ]
    first, second = (row["id"] for row in queue)
    confirmed = runner.invoke(
        cli, ["portals", "assess", str(first), "--decision", "confirm", "--json"], obj=app
    )
    assert confirmed.exit_code == 0, confirmed.output
    assert json.loads(confirmed.stdout)["case_id"] is not None
    referred = runner.invoke(
        cli, ["portals", "assess", str(second), str(first), "--decision", "refer", "--country", "BR"], obj=app
    )
    assert (
        referred.exit_code == exitcodes.NOT_FOUND
        and f"not waiting for a decision: {first}" in referred.output
    )
    bad = runner.invoke(cli, ["portals", "assess", "99", "--decision", "refer"], obj=app)
    assert bad.exit_code == exitcodes.DATA_ERROR
    sheet = list(
        csv.DictReader(
            io.StringIO(runner.invoke(cli, ["portals", "referrals", "--country", "br"], obj=app).stdout)
        )
    )
    assert [(row["url"], row["content"]) for row in sheet] == [("http://c.test/2.jpg", "videos")]
    assert "nothing waits" in runner.invoke(cli, ["portals", "queue"], obj=app).output
    today, tomorrow = (f"{clock.now() + timedelta(days=days):%Y-%m-%d}" for days in (0, 1))
    since_today, since_tomorrow = printed_both_ways(
        store,
        clock,
        ["portals", "referrals", "--country", "BR", "--since", today],
        ["portals", "referrals", "--country", "br", "--since", tomorrow, "--json"],
    )
    assert since_today.splitlines()[0] == ",".join(REFERRAL_COLUMNS)
    assert since_today.splitlines()[1].startswith(f"http://c.test/2.jpg,{clock.now():%Y-%m-%dT%H:%M}")
    assert since_tomorrow == ""


def test_each_portal_says_how_its_reports_fare(store: Store, clock: ManualClock, portal: str) -> None:
    import dataclasses
    import json
    from datetime import timedelta

    from sqlalchemy import update

    from takedown.portal_decisions import decide
    from takedown.portal_figures import portal_stats
    from takedown.portal_queue import awaiting
    from takedown.portals import PortalChange, add_portal

    start = clock.now()
    with store.session() as session:
        add_portal(
            session, "br", PortalChange(country="BR", languages=["pt"], partner="P"), actor="t", now=start
        )
        three_urls = ["http://s.test/1", "http://s.test/2", "http://s.test/3"]
        receive_report(session, portal, three_urls, content="images", now=start)
        receive_report(session, portal, ["http://s.test/4"], content="images", now=start)
    clock.advance(timedelta(hours=6))
    with store.session() as session:
        one, two, three, _four = (row.id for row in awaiting(session))
        [confirmed] = decide(session, [one], "confirm", actor="analyst:a", now=clock.now())
        decide(session, [two], "not_illegal", actor="analyst:a", now=clock.now())
    clock.advance(timedelta(hours=4))
    with store.session() as session:
        decide(session, [three], "confirm", actor="analyst:a", now=clock.now())
        # Reported again: the first has its case open already, the second waits as a repeat.
        receive_report(
            session, portal, ["http://s.test/1", "http://s.test/4"], content="images", now=clock.now()
        )
        removed = {"state": "removed", "removed_at": start + timedelta(days=2)}
        session.execute(update(Case).where(Case.id == confirmed.case_id).values(**removed))
    with store.session() as session:
        ke_row = next(row for row in portal_stats(session) if row.portal == "ke")
    # A URL reported again while its case is open counts as received, not as a second removal.
    assert (ke_row.reports, ke_row.urls, ke_row.decided, ke_row.confirmed) == (3, 6, 3, 2)
    assert ke_row.confirmed_share == 0.667 and ke_row.median_hours_to_assessment == 6.0
    assert ke_row.median_hours_to_removal == 48.0
    # The terminal reads the same figures through the database driver alone.
    as_json, text = printed_both_ways(
        store, clock, ["stats", "--by", "portal", "--json"], ["stats", "--by", "portal"]
    )
    shown = json.loads(as_json)
    assert [group["portal"] for group in shown["groups"]] == ["br", "ke"]
    assert shown["groups"][0]["reports"] == 0 and shown["groups"][0]["confirmed_share"] is None
    assert shown["groups"][1] == dataclasses.asdict(ke_row)
    assert "ke" in text and "67%" in text


def test_a_live_url_a_trusted_list_knows_is_confirmed_without_an_analyst(
    store: Store, clock: ManualClock, portal: str
) -> None:
    import hashlib

    from takedown.hash_list_import import HashRow, ReadHashRow, import_hash_list
    from takedown.policy import ChasePolicy
    from takedown.portal_reports import awaiting_revisit, record_revisits
    from takedown.revisits import Fetch

    def body(label: str) -> dict[str, str]:
        return {name: hashlib.new(name, label.encode()).hexdigest() for name in ("sha256", "md5", "sha1")}

    rows = [
        ReadHashRow(
            2, HashRow(sha256=body("known")["sha256"], category="csam", classification="A1", reference="I-1")
        ),
        ReadHashRow(3, HashRow(sha256=body("partner-known")["sha256"], category="csam", reference="P-1")),
    ]
    import_hash_list(store.session, iter(rows[:1]), name="iwf", version="1", actor="t", clock=clock)
    import_hash_list(store.session, iter(rows[1:]), name="partner", version="1", actor="t", clock=clock)
    policy = ChasePolicy(trusted_lists=(("iwf", ("csam",)),))
    urls = [
        "http://t.test/known.jpg",
        "http://t.test/partner.jpg",
        "http://t.test/gone.jpg",
        "http://t.test/other.jpg",
    ]
    with store.session() as session:
        received = receive_report(session, portal, urls, content="images", now=clock.now())
        waiting = awaiting_revisit(session)
    assert [url for _, url in waiting] == urls
    ids = [url_id for url_id, _ in waiting]
    seen = [
        Fetch(0, clock.now(), http_status=200, final_url=urls[0], **body("known")),
        Fetch(0, clock.now(), http_status=200, final_url=urls[1], **body("partner-known")),
        Fetch(0, clock.now(), http_status=404, final_url=urls[2]),
        Fetch(0, clock.now(), http_status=200, final_url=urls[3], **body("never-seen")),
    ]
    with store.session() as session:
        states = record_revisits(session, list(zip(ids, seen, strict=True)), policy=policy, now=clock.now())
    assert [states[i] for i in ids] == [
        "confirmed",
        "awaiting_assessment",
        "awaiting_assessment",
        "awaiting_assessment",
    ]
    with store.session() as session:
        rows_now = {row.id: row for row in session.scalars(select(PortalUrl))}
        confirmed = rows_now[ids[0]]
        case = session.get_one(Case, confirmed.case_id)
        assert (case.reference, case.classification, case.queued_by) == (
            received.reference,
            "A1",
            "hashlist:iwf",
        )
        assert confirmed.decided_by == "hashlist:iwf" and confirmed.matches[0]["reference"] == "I-1"
        assert (
            rows_now[ids[1]].matches[0]["list"] == "partner" and rows_now[ids[1]].case_id is None
        )  # not trusted
        assert rows_now[ids[2]].revisit["outcome"] == "gone" and rows_now[ids[2]].matches == []
        assert awaiting_revisit(session) == []
    with store.session() as session:  # a URL is revisited once: a second answer changes nothing
        again = record_revisits(session, [(ids[1], seen[0])], policy=policy, now=clock.now())
    assert again == {}


def test_reports_kept_together_are_triaged_as_if_one_after_another(
    store: Store, clock: ManualClock, portal: str
) -> None:
    from takedown.portal_reports import IncomingReport, ReceivedReport, receive_reports

    with store.session() as session:
        [opened] = queue_batch(
            session, [validate_report(Report("http://open.test/a.jpg"))], actor="t", now=clock.now()
        )
        earlier = receive_report(
            session, portal, ["http://earlier.test/e"], content="images", now=clock.now()
        )
    batch = [
        IncomingReport(portal, ["http://new.test/1", "http://earlier.test/e"], "images"),
        IncomingReport(portal, ["ftp://nothing.test/"], "images"),  # refused: nothing of it kept
        IncomingReport("nowhere", ["http://new.test/2"], "images"),  # no such portal
        IncomingReport(
            portal, ["http://new.test/1", "http://open.test/a.jpg", "http://earlier.test/e"], "videos"
        ),
    ]
    with store.session() as session:
        results = receive_reports(session, batch, now=clock.now())
    first, refused, unknown, last = results
    assert isinstance(first, ReceivedReport) and isinstance(last, ReceivedReport)
    assert isinstance(refused, ReportRefused) and "no URL" in str(refused)
    assert isinstance(unknown, ReportRefused) and "no portal" in str(unknown)
    assert first.states == ((0, "awaiting_revisit"), (1, "repeat"))
    assert last.states == ((0, "repeat"), (1, "already_open"), (2, "repeat"))
    with store.session() as session:
        rows = {
            (url, state): (times, same_as)
            for url, state, times, same_as in session.execute(
                select(PortalUrl.url, PortalUrl.state, PortalUrl.times_reported, PortalUrl.same_as_id)
            )
        }
        new_id = session.scalars(
            select(PortalUrl.id).where(
                PortalUrl.url == "http://new.test/1", PortalUrl.state == "awaiting_revisit"
            )
        ).one()
        earlier_id = session.scalars(
            select(PortalUrl.id).where(
                PortalUrl.url == "http://earlier.test/e", PortalUrl.state == "awaiting_revisit"
            )
        ).one()
        reported_again = session.scalars(
            select(Event.detail).where(Event.case_id == opened.case_id, Event.action == "reported_again")
        ).all()
    assert rows[("http://new.test/1", "awaiting_revisit")] == (2, None)  # once new, once a repeat
    assert rows[("http://earlier.test/e", "awaiting_revisit")] == (3, None)
    assert rows[("http://new.test/1", "repeat")] == (1, new_id)
    assert {
        same
        for (url, state), (_, same) in rows.items()
        if url == "http://earlier.test/e" and state == "repeat"
    } == {earlier_id}
    assert reported_again == [{"report": last.reference}]
    assert earlier.reference not in (first.reference, last.reference)


def test_the_queue_reads_the_same_through_the_driver_alone(
    store: Store, clock: ManualClock, portal: str
) -> None:
    """``portals queue`` at the terminal reads through sqlite3 or psycopg alone (no SQLAlchemy to
    import): the same URLs, times in UTC, and what the revisit saw and the hash lists knew, as the
    mapped models hold them; the command prints what it prints through the store."""
    import json

    from sqlalchemy import update

    from takedown.direct_reads import DirectReader
    from takedown.portal_queue import awaiting

    with store.session() as session:
        receive_report(session, portal, ["http://q.test/1.jpg", "http://q.test/2.jpg", "http://q.test/3.jpg"],
                       content="images", now=clock.now())  # fmt: skip
        first = session.scalars(select(PortalUrl.id).order_by(PortalUrl.id)).first()
        session.execute(
            update(PortalUrl)
            .where(PortalUrl.id == first)
            .values(
                state="awaiting_assessment",
                revisit={"outcome": "live", "http_status": 200, "reason": "ünïcode 'quoted'"},
                matches=[{"list": "partner", "algorithm": "md5"}],
            )
        )
    with store.reading() as session:
        held = [
            (u.id, u.url, u.state, u.times_reported, u.revisit, tuple(u.matches or ()))
            for u in session.scalars(select(PortalUrl).order_by(PortalUrl.id))
        ]
        received = session.scalars(select(PortalReport.received_at)).one()
        through_session = awaiting(session)
    url = store.engine.url.render_as_string(hide_password=False)
    with DirectReader.open(url) as direct:  # type: ignore[union-attr]
        directly = awaiting(direct)
        page = awaiting(direct, after_id=held[0][0], limit=1)
    assert [(u.id, u.url, u.state, u.times_reported, u.revisit, u.matches) for u in directly] == held
    assert directly == through_session and held[0][4] is not None and held[1][4] is None
    assert {u.received_at for u in directly} == {received} and received.tzinfo is not None
    assert [u.id for u in page] == [held[1][0]]
    [queue, _] = printed_both_ways(store, clock, ["portals", "queue", "--json"], ["portals", "queue"])
    assert json.loads(queue.splitlines()[0])["matches"] == [{"list": "partner", "algorithm": "md5"}]
