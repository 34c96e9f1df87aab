"""Intake written once in plain SQL (``takedown.sql_writes``), carried by the terminal's direct
writer (sqlite3 or psycopg alone) or by a session of the store: both ways store the same rows, on
SQLite and PostgreSQL, and what the direct writer stores is what the rest of the pipeline (the
mapped models, queries binding times) reads. A difference here would be a case that never comes
due, a count that is wrong, or a URL opened twice."""

from __future__ import annotations

import ipaddress
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import astuple, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text, update

from faces.cli import App, cli
from hosting.contact_entries import ContactError, contact_history, list_contacts
from hosting.contact_writes import clear_bounce, mark_mailbox_bad, remove_contact, set_contact
from hosting.rdap.parse import AbuseContacts, NetworkRecord
from hosting.record import record_resolutions
from hosting.resolve import Resolution
from notices.outbox import OutgoingNotice, enqueue, enqueue_many
from notices.settling import settle_uncertain
from sandbox.desk_mail import gmail_style_bounce
from takedown import exitcodes
from takedown.accounts import (
    add_account,
    check_password,
    check_second_factor,
    disable_account,
    reset_account,
    totp_code,
)
from takedown.api_tokens import add_token, find_token, revoke_token
from takedown.case_moves import withdraw
from takedown.clock import ManualClock
from takedown.direct_writes import DirectWriter
from takedown.errors import (
    AccountError,
    CaseNotFound,
    ConfigurationError,
    InvalidTransition,
    ReportRefused,
    StoreError,
)
from takedown.intake import queue_batch, queue_reports
from takedown.models import (
    Account,
    ApiToken,
    Case,
    Contact,
    Event,
    Fingerprint,
    Hosting,
    Notice,
    NoticeCase,
    PortalUrl,
    ProviderRevocation,
    StaffEvent,
    WebSession,
)
from takedown.portal_decisions import decide
from takedown.portal_queue import awaiting
from takedown.portal_reports import receive_report
from takedown.portal_views import list_portals
from takedown.portals import PortalChange, PortalError, add_portal, find_portal, set_portal
from takedown.provider_access import revoke
from takedown.reports import QueueOutcome, Report, ValidReport, validate_report
from takedown.settings import Settings, sqlite_url
from takedown.sql_writes import SqlWrites
from takedown.staff_log import record_staff_event
from takedown.states import CaseState
from takedown.store import Store
from takedown.tallies import case_counts
from takedown.token_views import TokenScope, list_tokens
from takedown.vocabulary import StaffRole
from takedown.web_sessions import SIGNED_IN, find_session, start_session
from tests.conftest import probe_cli

NOW = datetime(2026, 3, 1, 9, 0, 0, 250_001, tzinfo=UTC)
CASE_COLUMNS = (
    "canonical_url", "host", "category", "reference", "classification", "state", "queued_by",
    "queued_at", "updated_at", "next_check_at", "notice_rounds", "needs_analyst", "first_seen_live_at",
)  # fmt: skip


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def report(path: str, **fields: Any) -> ValidReport:
    return validate_report(Report(f"http://a.test/{path}", **fields))


def through_session(store: Store) -> AbstractContextManager[Any]:
    return store.session()


@contextmanager
def through_driver(store: Store) -> Iterator[SqlWrites]:
    writer = DirectWriter.open(url_of(store))
    assert writer is not None, "the direct writer should handle this store"
    with writer:
        yield writer


WAYS = {"session": through_session, "driver": through_driver}


def stored(store: Store, case_id: int) -> dict[str, Any]:
    """What the rest of the pipeline reads of a case: its row, events and fingerprints."""
    with store.reading() as session:
        case = session.get(Case, case_id)
        assert case is not None
        events = session.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.id)).all()
        digests = session.execute(
            select(Fingerprint.algorithm, Fingerprint.digest).where(Fingerprint.case_id == case_id)
        ).all()
        return {
            "case": {name: getattr(case, name) for name in CASE_COLUMNS},
            "events": [(e.at, e.actor, e.action, e.from_state, e.to_state, e.detail) for e in events],
            "fingerprints": sorted(digests),
        }


def test_both_ways_store_the_same_case_events_and_fingerprints(store: Store) -> None:
    fields = {
        "reference": "HL-7 'q' ünï",
        "sha256": ("ab" * 32,),
        "md5": ("cd" * 16,),
        "classification": "A1",
    }
    with through_session(store) as session:
        [by_session] = queue_batch(session, [report("one", **fields)], actor="analyst:t", now=NOW)
    with through_driver(store) as writer:
        [by_driver] = queue_batch(writer, [report("two", **fields)], actor="analyst:t", now=NOW)
    ours, theirs = stored(store, by_driver.case_id), stored(store, by_session.case_id)
    ours["case"]["canonical_url"] = ours["case"]["canonical_url"].replace("/two", "/one")
    assert ours == theirs
    assert theirs["case"]["queued_at"] == NOW and theirs["events"][0][-1] == {
        "category": "csam",
        "reference": "HL-7 'q' ünï",
        "classification": "A1",
    }
    with store.reading() as session:  # a query binding the time finds it: the case comes due
        due = session.scalars(select(Case.id).where(Case.next_check_at == NOW).order_by(Case.id)).all()
        assert due == [by_session.case_id, by_driver.case_id]
        assert case_counts(session)[(CaseState.QUEUED, False)] == 2


@pytest.mark.parametrize("way", sorted(WAYS))
def test_intake_dedups_and_reopens_the_same_either_way(store: Store, way: str) -> None:
    """Open URLs are not opened again, in any spelling; a closed one is reopened and linked."""
    write = WAYS[way]
    with write(store) as target:
        first = queue_batch(target, [report("x"), report("y"), report("x")], actor="a", now=NOW)
    assert [r.outcome for r in first] == [QueueOutcome.QUEUED, QueueOutcome.QUEUED, QueueOutcome.ALREADY_OPEN]
    assert first[0].case_id == first[2].case_id != first[1].case_id
    with store.session() as session:
        session.execute(update(Case).where(Case.id == first[1].case_id).values(state=CaseState.REMOVED.value))
    later = NOW + timedelta(days=1)
    with write(store) as target:
        again = queue_batch(
            target, [validate_report(Report("HTTP://A.TEST/x#frag")), report("y")], actor="b", now=later
        )
    assert [r.outcome for r in again] == [QueueOutcome.ALREADY_OPEN, QueueOutcome.REOPENED]
    assert again[0].case_id == first[0].case_id and again[1].previous_case_id == first[1].case_id
    reopened = stored(store, again[1].case_id)
    assert reopened["events"] == [
        (later, "b", "queued", None, "queued", {"category": "csam", "reopens_case": first[1].case_id})
    ]
    assert stored(store, first[1].case_id)["events"][-1][1:3] == ("b", "reopened_as")
    with store.reading() as session:
        assert case_counts(session)[(CaseState.QUEUED, False)] == 2  # x, and y reopened


@pytest.mark.parametrize("way", sorted(WAYS))
def test_a_naive_time_is_refused_and_nothing_is_written(store: Store, way: str) -> None:
    with pytest.raises(ValueError, match="naive datetime"), WAYS[way](store) as target:
        queue_batch(target, [report("x")], actor="a", now=datetime(2026, 3, 1))
    with store.reading() as session:
        assert session.scalars(select(Case.id)).all() == []


def test_both_ways_withdraw_a_case_alike(store: Store) -> None:
    """Closed with the reason in its trail, out of the revisits and notices, counted as withdrawn."""
    with through_session(store) as session:
        first, second, third = queue_batch(
            session, [report("1"), report("2"), report("3")], actor="a", now=NOW
        )
        session.execute(
            update(Case)
            .where(Case.id.in_([first.case_id, second.case_id]))
            .values(state=CaseState.LIVE.value, next_notice_at=NOW, first_seen_live_at=NOW)
        )
    later = NOW + timedelta(hours=5, microseconds=7)
    summaries = []
    for way, case_id in (("session", first.case_id), ("driver", second.case_id)):
        with WAYS[way](store) as target:
            summaries.append(
                withdraw(target, case_id, reason="  reported in error ", actor="analyst:w", now=later)
            )
    assert [(s.id, s.state, s.url) for s in summaries] == [
        (first.case_id, CaseState.WITHDRAWN, "http://a.test/1"),
        (second.case_id, CaseState.WITHDRAWN, "http://a.test/2"),
    ]
    ours, theirs = stored(store, second.case_id), stored(store, first.case_id)
    ours["case"]["canonical_url"] = ours["case"]["canonical_url"].replace("/2", "/1")
    assert ours == theirs
    assert theirs["events"][-1] == (
        later,
        "analyst:w",
        "withdrawn",
        "live",
        "withdrawn",
        {"reason": "reported in error"},
    )
    with store.reading() as session:
        rows = session.execute(
            select(
                Case.state, Case.closed_at, Case.updated_at, Case.next_check_at, Case.next_notice_at
            ).where(Case.id.in_([first.case_id, second.case_id]))
        ).all()
        assert rows == [("withdrawn", later, later, None, None)] * 2
        counts = case_counts(session)
        assert (counts[(CaseState.WITHDRAWN, False)], counts[(CaseState.QUEUED, False)]) == (2, 1)
    for way in WAYS:
        with pytest.raises(InvalidTransition, match="already closed"), WAYS[way](store) as target:
            withdraw(target, first.case_id, reason="again", actor="a", now=later)
        with pytest.raises(CaseNotFound), WAYS[way](store) as target:
            withdraw(target, 999, reason="none", actor="a", now=later)
        with pytest.raises(InvalidTransition, match="needs a reason"), WAYS[way](store) as target:
            withdraw(target, third.case_id, reason="  ", actor="a", now=later)
    assert stored(store, third.case_id)["case"]["state"] == "queued"


def test_a_session_sees_what_the_sql_wrote_and_the_sql_sees_what_the_session_had_not_flushed(
    store: Store,
) -> None:
    """The console writes through its session: a case it had loaded reads as withdrawn after, and
    a change it made just before is written first, not lost under the withdrawal."""
    with store.session() as session:
        [queued] = queue_batch(session, [report("x")], actor="a", now=NOW)
    with store.session() as session:
        case = session.get(Case, queued.case_id)
        assert case is not None and case.state == "queued"
        case.reference = "set just before"
        withdraw(session, queued.case_id, reason="duplicate", actor="a", now=NOW)
        assert case.state == "withdrawn" and case.closed_at == NOW
    with store.reading() as session:
        assert session.execute(select(Case.state, Case.reference)).one() == ("withdrawn", "set just before")


def test_both_ways_make_find_and_revoke_tokens_alike(store: Store) -> None:
    """A token made either way is found by its secret (and its use noted), revoked once, and
    refused after; a taken name is refused either way; the staff log records what was done."""
    made = {}
    for way in sorted(WAYS):
        with WAYS[way](store) as target:
            made[way] = add_token(target, f"feed-{way}", TokenScope.READ, created_by="supervisor:s", now=NOW)
            record_staff_event(target, at=NOW, actor="supervisor:s", action="token_made",
                               subject=f"feed-{way}", detail={"scope": "read", "note": "ünï"})  # fmt: skip
        with pytest.raises(AccountError, match="already a token"), WAYS[way](store) as target:
            add_token(target, f"FEED-{way} ", TokenScope.WRITE, created_by="supervisor:s", now=NOW)
    later = NOW + timedelta(minutes=6)
    for way in sorted(WAYS):
        for token in made.values():
            with WAYS[way](store) as target:
                found = find_token(target, token.token, now=later)
            assert found is not None and found.last_used_at == later and found.scope is TokenScope.READ
        with WAYS[way](store) as target:
            assert find_token(target, "tdk_" + "x" * 43, now=later) is None
    with store.reading() as session:
        rows = session.execute(select(ApiToken.name, ApiToken.created_at, ApiToken.last_used_at)).all()
        assert sorted(rows) == [("feed-driver", NOW, later), ("feed-session", NOW, later)]
        logged = session.execute(select(StaffEvent.at, StaffEvent.subject, StaffEvent.detail)).all()
        assert sorted(logged) == [
            (NOW, f"feed-{way}", {"scope": "read", "note": "ünï"}) for way in sorted(WAYS)
        ]
    for way in sorted(WAYS):
        with WAYS[way](store) as target:
            view = revoke_token(target, f" Feed-{way}", now=later)
        assert (view.name, view.revoked, view.created_at) == (f"feed-{way}", True, NOW)
        with WAYS[way](store) as target:
            assert find_token(target, made[way].token, now=later) is None
        with pytest.raises(AccountError, match="no token named"), WAYS[way](store) as target:
            revoke_token(target, "nothing", now=later)
    assert [(t.name, t.revoked) for t in list_tokens(store)] == [
        ("feed-driver", True),
        ("feed-session", True),
    ]


def test_both_ways_keep_accounts_and_their_sessions_alike(store: Store) -> None:
    """Accounts made, checked, locked, reset and disabled either way: the same rows, read back by
    the other way (a hash written by the driver signs in through the console's session, and the
    other way round), and an account's console sessions ended by a reset or a disabling."""
    idle, lifetime = timedelta(minutes=30), timedelta(hours=12)
    password = "a long enough password"
    other = {"session": "driver", "driver": "session"}
    rows = {}
    for way in sorted(WAYS):
        name = f"ana-{way}"
        with WAYS[way](store) as target:
            made = add_account(target, name, StaffRole.SUPERVISOR, password, now=NOW)
        assert made.totp_secret is not None and made.account.second_factor
        with pytest.raises(AccountError, match="already an account"), WAYS[way](store) as target:
            add_account(target, name.upper(), StaffRole.ANALYST, password, now=NOW)
        with WAYS[other[way]](store) as target:  # the other way reads what this one wrote
            assert check_password(target, name, password, now=NOW).account == made.account
            code = totp_code(made.totp_secret, int(NOW.timestamp()) // 30)
            assert check_second_factor(target, name, code, now=NOW).account == made.account
            token = start_session(target, name, stage=SIGNED_IN, now=NOW)
        for _ in range(5):  # the fifth failure locks it for 15 minutes
            with WAYS[way](store) as target:
                assert check_password(target, name, "wrong " * 3, now=NOW).reason == "wrong password"
        with WAYS[way](store) as target:
            assert check_password(target, name, password, now=NOW).reason == (
                f"locked until {(NOW + timedelta(minutes=15)).isoformat()}"
            )
            assert find_session(target, token, now=NOW, idle=idle, lifetime=lifetime) is not None
        with WAYS[way](store) as target:
            reset = reset_account(target, name, now=NOW, password=password + "!", role=StaffRole.ANALYST,
                                  second_factor=False)  # fmt: skip
        assert reset.totp_secret is None and not reset.account.second_factor
        with WAYS[way](store) as target:
            assert find_session(target, token, now=NOW, idle=idle, lifetime=lifetime) is None
            assert check_password(target, name, password + "!", now=NOW).account is not None
            token = start_session(target, name, stage=SIGNED_IN, now=NOW)
        with WAYS[way](store) as target:
            assert disable_account(target, name, now=NOW).disabled
        with WAYS[other[way]](store) as target:
            assert find_session(target, token, now=NOW, idle=idle, lifetime=lifetime) is None
            assert check_password(target, name, password + "!", now=NOW).reason == "disabled"
        with store.reading() as session:
            account = session.scalars(select(Account).where(Account.name == name)).one()
            assert account.password_hash.startswith("$argon2id$") and password not in account.password_hash
            rows[way] = (account.role, account.totp_secret, account.totp_last_step, account.failed_logins,
                         account.locked_until, account.disabled_at, account.created_at,
                         account.password_changed_at)  # fmt: skip
            assert session.scalars(select(WebSession.token_hash)).all() == []
    assert rows["session"] == rows["driver"] == ("analyst", None, None, 0, None, NOW, NOW, NOW)


def contact_book_worked(store: Store, way: str, asn: int) -> list[Any]:
    """A day of the contact book, written one way: what each step said."""
    write = WAYS[way]
    said: list[Any] = []
    with store.session() as session:  # a mailbox an older version left stored in two cases
        for value in (f"Old@{way}.test", f"old@{way}.test"):
            session.add(
                Contact(scope="email", value=value, never_notify=True, updated_at=NOW, updated_by="v0")
            )
    steps = [
        lambda t: set_contact(t, "asn", f"AS{asn}", email=f"Desk@{way}.example", language="nl", note="ünï",
                              actor="supervisor:s", clock=ManualClock(NOW)),
        lambda t: set_contact(t, "email", f"OLD@{way}.test", email=f"new@{way}.test", actor="supervisor:s",
                              clock=ManualClock(NOW)),
        lambda t: mark_mailbox_bad(t, f"Gone@{way}.test", "550 no such user", now=NOW, actor="outbox"),
        lambda t: mark_mailbox_bad(t, f"gone@{way}.test", "550 still gone", now=NOW + timedelta(hours=1),
                                   actor="outbox"),
        lambda t: [e.bad_since for e in list_contacts(t) if e.value.lower() == f"gone@{way}.test"],
        lambda t: set_contact(t, "email", f"kept@{way}.test", email=f"desk@{way}.test", actor="s",
                              clock=ManualClock(NOW)),
        lambda t: mark_mailbox_bad(t, f"KEPT@{way}.test", "552 mailbox full", now=NOW, actor="outbox"),
        lambda t: clear_bounce(t, f"gone@{way}.test", actor="s", clock=ManualClock(NOW)),
        lambda t: clear_bounce(t, f"gone@{way}.test", actor="s", clock=ManualClock(NOW)),
        lambda t: clear_bounce(t, f"kept@{way}.test", actor="s", clock=ManualClock(NOW)),
        lambda t: set_contact(t, "network", "192.0.2.7/24" if way == "driver" else "198.51.100.7/24",
                              never_notify=True, actor="s", clock=ManualClock(NOW)),
        lambda t: remove_contact(t, "asn", str(asn), actor="s", clock=ManualClock(NOW)),
        lambda t: remove_contact(t, "asn", str(asn), actor="s", clock=ManualClock(NOW)),
    ]  # fmt: skip
    for step in steps:
        with write(store) as target:
            said.append(step(target))
    with pytest.raises(ContactError, match="not a mailbox"), write(store) as target:
        set_contact(target, "asn", "1", email="nobody", actor="s", clock=ManualClock(NOW))
    return said


def test_both_ways_keep_the_contact_book_alike(store: Store) -> None:
    """Entries set, a twin merged, bounces marked and cleared, entries removed: the book and its
    history come out the same either way (the other way's names aside)."""
    ours = contact_book_worked(store, "driver", 64501)
    theirs = contact_book_worked(store, "session", 64500)
    assert ours[-2:] == theirs[-2:] == [True, False]
    assert ours[7:10] == theirs[7:10] == [True, False, True]
    assert ours[4] == theirs[4] == [NOW]  # barred since the first refusal, not the last

    def alike(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        text = text.replace("driver", "session").replace("64501", "64500")
        return text.replace("192.0.2.0", "198.51.100.0")

    def entries(owner: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(alike(v) for v in astuple(e)) for e in list_contacts(store) if owner in e.value)

    assert entries("driver") == entries("session")
    assert entries("session") == [
        ("email", "Old@session.test", "new@session.test", None, False, None, NOW, "supervisor:s", None),
        ("email", "kept@session.test", "desk@session.test", None, False, None, NOW, "s", None),
    ]

    def history(owner: str, *others: str) -> list[tuple[Any, ...]]:
        return [
            tuple(alike(v) for v in astuple(c))
            for c in reversed(contact_history(store, limit=1000))
            if owner in c.value or c.value in others
        ]

    theirs_history = history("session", "64500", "198.51.100.0/24")
    assert history("driver", "64501", "192.0.2.0/24") == theirs_history
    assert [change[2] for change in theirs_history] == [
        "set", "removed", "set", "bounced", "bounced", "set", "bounced", "removed", "set", "barred",
        "removed",
    ]  # fmt: skip


def test_both_ways_decide_reported_urls_alike(store: Store) -> None:
    """A confirmation opens a case with the report's reference, a referral names the country, later
    reports of the URL follow it, and a URL is decided once, whichever way it is written."""
    kenya = PortalChange(country="KE", languages=["en"], partner="P")
    with store.session() as session:
        add_portal(session, "ke", kenya, actor="t", now=NOW)
        urls = [f"http://{way}.test/{n}.jpg" for way in sorted(WAYS) for n in (1, 2)]
        first = receive_report(session, "ke", urls, content="images", now=NOW)
        receive_report(session, "ke", [urls[0], urls[2]], content="videos", now=NOW)  # repeats
        waiting = {url.url: url.id for url in awaiting(session)}
    later = NOW + timedelta(minutes=3)
    for way in sorted(WAYS):
        one, two = waiting[f"http://{way}.test/1.jpg"], waiting[f"http://{way}.test/2.jpg"]
        analyst = f"analyst:{way}"
        with WAYS[way](store) as target:
            [confirmed] = decide(target, [one], "confirm", actor=analyst, now=later, classification="B1")
            [referred] = decide(target, [two, 999], "refer", country=" br", actor=analyst, now=later)
        assert (confirmed.state, confirmed.repeats) == ("confirmed", 1)
        assert (referred.state, referred.repeats) == ("referred", 0)
        case = stored(store, confirmed.case_id)
        assert (case["case"]["reference"], case["case"]["classification"]) == (first.reference, "B1")
        assert case["case"]["queued_by"] == analyst and case["case"]["queued_at"] == later
        with pytest.raises(ReportRefused, match="names the country"), WAYS[way](store) as target:
            decide(target, [two], "refer", actor=analyst, now=later)
    for way in sorted(WAYS):
        with WAYS[way](store) as target:
            assert decide(target, list(waiting.values()), "not_found", actor="x", now=later) == []
    columns = (PortalUrl.state, PortalUrl.decided_at, PortalUrl.decided_by, PortalUrl.referred_to)
    with store.reading() as session:
        rows = session.execute(select(*columns).order_by(PortalUrl.id)).all()
    assert rows == [
        ("confirmed", later, "analyst:driver", None),
        ("referred", later, "analyst:driver", "BR"),
        ("confirmed", later, "analyst:session", None),
        ("referred", later, "analyst:session", "BR"),
        ("confirmed", later, "analyst:driver", None),  # the later reports, decided with the first
        ("confirmed", later, "analyst:session", None),
    ]


def test_both_ways_settle_notices_in_doubt_alike(store: Store) -> None:
    """Delivered or to send again, only notices still in doubt change, each with an event on every
    case it is about; a notice settled already, or unknown, is left out."""
    with store.session() as session:
        cases = [
            r.case_id for r in queue_batch(session, [report(str(n)) for n in range(4)], actor="a", now=NOW)
        ]
        notices = [
            enqueue(session, OutgoingNotice(f"abuse@{n}.test", "initial", f"<{n}@t>", "s", "hosting", None,
                                            None, "message", tuple(cases[n:n + 2])), now=NOW)
            for n in range(4)
        ]  # fmt: skip
        session.execute(update(Notice).values(status="uncertain"))
        session.execute(update(Notice).where(Notice.id == notices[3]).values(status="sent"))
    later = NOW + timedelta(hours=2)
    for way, ids, delivered, settled in [
        ("driver", [notices[0], notices[3], 999], True, [notices[0]]),
        ("session", [notices[1], notices[3]], True, [notices[1]]),
        ("driver", [notices[2], notices[0]], False, [notices[2]]),
    ]:
        with WAYS[way](store) as target:
            assert settle_uncertain(target, ids, delivered=delivered, actor=way[0], now=later) == settled
    with store.reading() as session:
        rows = session.execute(select(Notice.status, Notice.next_attempt_at).order_by(Notice.id)).all()
        assert rows == [("sent", NOW), ("sent", NOW), ("retry", later), ("sent", NOW)]
        trail = session.execute(
            select(Event.case_id, Event.actor, Event.action, Event.detail, Event.at)
            .where(Event.action.like("notice_%"))
            .order_by(Event.id)
        ).all()
    assert trail == [
        (cases[0], "d", "notice_confirmed_delivered", {"notice": notices[0]}, later),
        (cases[1], "d", "notice_confirmed_delivered", {"notice": notices[0]}, later),
        (cases[1], "s", "notice_confirmed_delivered", {"notice": notices[1]}, later),
        (cases[2], "s", "notice_confirmed_delivered", {"notice": notices[1]}, later),
        (cases[2], "d", "notice_resend_requested", {"notice": notices[2]}, later),
        (cases[3], "d", "notice_resend_requested", {"notice": notices[2]}, later),
    ]


def test_both_ways_revoke_provider_links_alike(store: Store) -> None:
    """A recipient's links are revoked once an entry, whatever the address's case; revoking again
    moves the time on (links made in between are refused too)."""
    later = NOW + timedelta(days=1)
    for when in (NOW, later):
        for way in sorted(WAYS):
            with WAYS[way](store) as target:
                revoke(target, f" Abuse@{way}.test", actor=f"s:{way}", now=when)
    with pytest.raises(ConfigurationError, match="not an email address"), through_driver(store) as writer:
        revoke(writer, "nobody", actor="s", now=NOW)
    with store.reading() as session:
        columns = (ProviderRevocation.recipient, ProviderRevocation.revoked_at, ProviderRevocation.revoked_by)
        rows = session.execute(select(*columns).order_by(ProviderRevocation.recipient)).all()
    assert rows == [("abuse@driver.test", later, "s:driver"), ("abuse@session.test", later, "s:session")]


def test_both_ways_configure_portals_alike(store: Store) -> None:
    """Added and changed through a session and through the driver, two portals read back alike, and
    each way refuses a host already another portal's, leaving the caller's transaction usable."""
    views = {}
    for way, prefix in (("session", "s"), ("driver", "d")):
        first = PortalChange(country="ke", languages=["sw", "en", "sw"], partner=" P ", welcome="Karibu")
        later = PortalChange(
            host=f"{prefix}.Report.example.", helplines=["Childline: 116"], acknowledgements=True
        )
        with WAYS[way](store) as target:
            added = add_portal(target, f"{prefix}-ke", first, actor="analyst:a", now=NOW)
            changed = set_portal(
                target, f"{prefix}-ke", later, actor="analyst:b", now=NOW + timedelta(hours=1)
            )
            with pytest.raises(PortalError, match="already a portal's"):
                add_portal(target, "other", replace(first, host=f"{prefix}.report.example"),
                           actor="analyst:a", now=NOW)  # fmt: skip
            with pytest.raises(PortalError, match="no portal"):
                set_portal(target, "missing", later, actor="analyst:a", now=NOW)
            add_portal(target, f"{prefix}-tz", replace(first, country="TZ"), actor="analyst:a", now=NOW)
            with pytest.raises(PortalError, match="already another portal's"):
                set_portal(target, f"{prefix}-tz", PortalChange(host=f"{prefix}.report.example"),
                           actor="analyst:a", now=NOW)  # fmt: skip
            assert find_portal(target, f"{prefix}-KE") == changed
        assert (added.languages, added.partner, added.host) == (("sw", "en"), "P", None)
        views[way] = replace(changed, slug="", host=changed.host and changed.host[2:])
    assert views["session"] == views["driver"]
    assert views["driver"].updated_by == "analyst:b" and views["driver"].acknowledgements
    listed = [portal for portal in list_portals(store) if portal.country == "KE"]
    assert [(p.slug, p.host) for p in listed] == [("d-ke", "d.report.example"), ("s-ke", "s.report.example")]
    assert [replace(p, slug="", host="") for p in listed] == [replace(views["driver"], host="")] * 2


def test_a_failed_command_writes_nothing(store: Store) -> None:
    """The direct writer commits when its block ends, and rolls back when the block raises."""
    with pytest.raises(RuntimeError), through_driver(store) as writer:
        queue_batch(writer, [report("x")], actor="a", now=NOW)
        raise RuntimeError("the command failed after writing")
    with store.reading() as session:
        assert session.scalars(select(Case.id)).all() == []
        assert case_counts(session).get((CaseState.QUEUED, False), 0) == 0


def masked(said: str) -> str:
    return re.sub(r"\d+", "N", said)


def test_the_cli_queues_directly_and_says_what_the_store_path_says(store: Store) -> None:
    settings = Settings(database_url=url_of(store), actor="analyst:t")
    direct, through_store = App(settings=settings), App(settings=settings, _store=store)
    runner = CliRunner()
    for command in (
        ["queue", "add", "http://a.test/1", "--reference", "R-1", "--json"],
        ["queue", "add", "http://a.test/1"],
        ["queue", "add", "http://a.test/2", "--sha256", "AB" * 32, "--classification", "b2"],
        ["queue", "add", "ftp://a.test/3"],
    ):
        ours = runner.invoke(cli, command, obj=direct, catch_exceptions=False)
        theirs = runner.invoke(cli, [*command[:2], command[2].replace("a.test", "b.test"), *command[3:]],
                               obj=through_store, catch_exceptions=False)  # fmt: skip
        assert ours.exit_code == theirs.exit_code
        # the same words about the other URL; the case numbers differ (both ways share the store)
        assert masked(ours.stdout.replace("a.test", "b.test")) == masked(theirs.stdout)
        assert masked(ours.stderr.replace("a.test", "b.test")) == masked(theirs.stderr)
    assert (
        runner.invoke(cli, ["queue", "add", "ftp://a.test/3"], obj=direct).exit_code == exitcodes.DATA_ERROR
    )
    with store.reading() as session:
        hosts = session.execute(
            select(Case.host, Case.reference, Case.classification).order_by(Case.id)
        ).all()
    assert hosts == [
        ("a.test", "R-1", None),
        ("b.test", "R-1", None),
        ("a.test", None, "B2"),
        ("b.test", None, "B2"),
    ]
    for command, code in (
        (["case", "withdraw", "1", "--reason", "wrong", "--json"], 0),
        (["case", "withdraw", "1", "--reason", "wrong"], exitcodes.REFUSED),
        (["case", "withdraw", "99", "--reason", "wrong"], exitcodes.NOT_FOUND),
        (["case", "withdraw", "3", "--reason", " "], exitcodes.REFUSED),
    ):
        ours = runner.invoke(cli, command, obj=direct, catch_exceptions=False)
        theirs = runner.invoke(cli, [*command[:2], str(int(command[2]) + 1), *command[3:]], obj=through_store)
        said = (masked(ours.stdout.replace("a.test", "b.test")), masked(ours.stderr))
        assert (ours.exit_code, *said) == (code, masked(theirs.stdout), masked(theirs.stderr))


def test_the_commands_that_change_one_thing_write_without_importing_sqlalchemy(tmp_path: Path) -> None:
    """What makes it quick (timed in bench/bench_million.py): the store's stack is not loaded once
    the store exists at this code's schema; a new store is made by the store's path."""

    def probe(*command: str) -> subprocess.CompletedProcess[str]:
        return probe_cli(tmp_path, *command)

    made = probe("queue", "add", "http://a.test/x")
    assert made.returncode == 0 and "sqlalchemy loaded: True" in made.stderr, made.stderr
    for url, said in [
        ("http://a.test/y", "queued as case 2"),
        ("http://A.test/y#z", "already open as case 2"),
    ]:
        added = probe("queue", "add", url)
        assert added.returncode == 0, added.stderr
        assert said in added.stdout
        assert "sqlalchemy loaded: False" in added.stderr
    withdrawn = probe("case", "withdraw", "2", "--reason", "reported twice")
    assert withdrawn.stdout == "case 2 withdrawn\n" and "sqlalchemy loaded: False" in withdrawn.stderr
    listed = probe("queue", "list", "--count", "--state", "withdrawn")
    assert listed.stdout.strip() == "1"
    for command, said in [
        (("tokens", "add", "nightly", "--scope", "write"), "nightly: write token"),
        (("tokens", "revoke", "nightly"), "nightly: revoked"),
    ]:
        done = probe(*command)
        assert done.returncode == 0 and said in done.stdout, done.stderr
        assert "sqlalchemy loaded: False" in done.stderr
    book = probe("contacts", "set", "asn", "64500", "--email", "desk@alpha.example")
    assert book.returncode == 0 and "sqlalchemy loaded: False" in book.stderr, book.stderr
    listed = probe("contacts", "list")
    assert "desk@alpha.example" in listed.stdout
    store = Store.open(sqlite_url(tmp_path / "takedown.db"))
    with store.session() as session:
        add_portal(
            session, "ke", PortalChange(country="KE", languages=["en"], partner="P"), actor="t", now=NOW
        )
        receive_report(session, "ke", ["http://reported.test/1.jpg"], content="images", now=NOW)
        [waiting] = awaiting(session)
        doubtful = OutgoingNotice("abuse@a.test", "initial", "<1@t>", "s", "hosting", None, None, "m", (1,))
        enqueue(session, doubtful, now=NOW)
        session.execute(update(Notice).values(status="uncertain"))
    store.dispose()
    settled = probe("notices", "settle", "1", "--delivered")
    assert settled.stdout == "delivered: 1\n" and "sqlalchemy loaded: False" in settled.stderr
    assessed = probe("portals", "assess", str(waiting.id), "--decision", "confirm")
    assert assessed.stdout == f"{waiting.id}: confirmed, case 3\n", assessed.stderr
    assert "sqlalchemy loaded: False" in assessed.stderr
    revoked = probe("contacts", "revoke-links", "Abuse@a.test")
    assert (
        revoked.stdout == "links to abuse@a.test revoked\n" and "sqlalchemy loaded: False" in revoked.stderr
    )
    logged = probe("users", "log")
    assert "token_made" in logged.stdout and "token_revoked" in logged.stdout
    for command, said in [
        (("portals", "add", "br", "--country", "BR", "--languages", "pt,en", "--partner", "P"), "br"),
        (("portals", "set", "br", "--helpline", "Disque 100: 100", "--host", "denuncie.example"), "Disque"),
    ]:
        done = probe(*command)
        assert done.returncode == 0 and said in done.stdout, done.stderr
        assert "sqlalchemy loaded: False" in done.stderr
    refused = probe("portals", "add", "br-2", "--country", "BR", "--languages", "pt", "--partner", "P",
                    "--host", "denuncie.example")  # fmt: skip
    assert refused.returncode == exitcodes.DATA_ERROR and "already a portal's" in refused.stderr
    # The notice settled above bounces for good: a mail server piping the report here takes it in
    # (the notice failed, its mailbox barred) with the driver alone, and a redelivery changes nothing.
    sent = EmailMessage()
    sent["From"], sent["To"], sent["Subject"] = "reports@hotline.test", "abuse@a.test", "s"
    sent["Message-ID"] = "<1@t>"
    (tmp_path / "bounce.eml").write_bytes(gmail_style_bounce(sent, recipient="abuse@a.test"))
    for said in ("notice 1 failed; mailbox abuse@a.test marked bad", "already recorded"):
        taken = probe("inbox", "take", str(tmp_path / "bounce.eml"))
        assert taken.returncode == 0 and said in taken.stdout, taken.stderr
        assert "sqlalchemy loaded: False" in taken.stderr
    assert "bad since" in probe("contacts", "list").stdout
    # A supervisor makes, resets and disables an account: argon2 and the driver, no SQLAlchemy.
    for command, said in [
        (("users", "add", "bob", "--role", "analyst", "--password-stdin"), "bob: analyst"),
        (("users", "reset", "bob", "--role", "auditor", "--password-stdin"), "bob: auditor"),
        (("users", "disable", "bob"), "bob: disabled"),
    ]:
        done = probe_cli(tmp_path, *command, stdin="a long enough password\n")
        assert done.returncode == 0 and said in done.stdout, (done.stdout, done.stderr)
        assert "sqlalchemy loaded: False" in done.stderr
    assert "account_disabled" in probe("users", "log", "--account", "bob").stdout
    (tmp_path / "feed.csv").write_text("sha256\n" + "ab" * 32 + "\n", encoding="utf-8")
    imported = probe("hashes", "import", str(tmp_path / "feed.csv"), "--list", "feed")
    assert imported.stdout.startswith("list feed version ") and "1 entries" in imported.stdout
    assert "sqlalchemy loaded: False" in imported.stderr
    version = imported.stdout.split()[3].rstrip(":")
    matched = probe("hashes", "match", "sha256:" + "AB" * 32, "md5:" + "cd" * 16)
    assert matched.returncode == 1 and matched.stdout.splitlines() == [
        "sha256:" + "AB" * 32 + f": sha256 on list feed ({version}), entry -",
        "md5:" + "cd" * 16 + ": no match",
    ]
    assert "sqlalchemy loaded: False" in matched.stderr
    removed = probe("hashes", "remove", "Feed")
    assert removed.stdout == "removed list feed (1 entries)\n"
    assert "sqlalchemy loaded: False" in removed.stderr
    assert probe("hashes", "remove", "feed").returncode == exitcodes.NOT_FOUND


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # two writers at once
def test_a_direct_writer_that_lost_a_race_tries_again_and_opens_nothing_twice(store: Store) -> None:
    """Another writer opens the same URL between this one's look-up and its write: the unique
    index refuses the second case, the whole transaction is rolled back, and the next try finds the
    URL open. (SQLite cannot race so: its writers hold the write lock from their first read.)"""
    tries: list[int] = []

    @contextmanager
    def racing() -> Iterator[SqlWrites]:
        with through_driver(store) as writer:
            tries.append(len(tries))
            if len(tries) == 1:
                looked_up = writer.stream

                def stream_then_race(sql: str, parameters: Any = ()) -> Any:
                    rows = looked_up(sql, parameters)
                    if "GROUP BY" in sql:  # after both look-ups, before the write
                        with store.session() as other:
                            queue_batch(other, [report("x")], actor="other", now=NOW)
                    return rows

                writer.stream = stream_then_race  # type: ignore[method-assign]
            yield writer

    results = queue_reports(racing, [report("x"), report("y")], actor="us", clock=ManualClock(NOW))
    assert len(tries) == 2
    assert [r.outcome for r in results] == [QueueOutcome.ALREADY_OPEN, QueueOutcome.QUEUED]
    with store.reading() as session:
        assert session.execute(select(Case.queued_by).order_by(Case.id)).scalars().all() == ["other", "us"]
        assert session.scalar(text("SELECT count(*) FROM event")) == 2


def test_a_store_that_fails_under_the_direct_writer_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """The file is made read-only after the writer opened it (a full or failing disk looks alike
    to a command): one line, exit 1, no traceback, nothing written."""
    path = tmp_path / "takedown.db"
    store = Store.open(sqlite_url(path))
    with store.session() as session:
        queue_batch(session, [report("kept")], actor="a", now=NOW)
    store.dispose()
    original_open = DirectWriter.open

    def open_then_refuse_writes(database_url: str) -> DirectWriter | None:
        writer = original_open(database_url)
        assert writer is not None
        writer._connection.execute("PRAGMA query_only = ON")
        return writer

    app = App(settings=Settings(database_url=sqlite_url(path), actor="analyst:t"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DirectWriter, "open", staticmethod(open_then_refuse_writes))
        result = CliRunner().invoke(cli, ["queue", "add", "http://a.test/x"], obj=app)
    assert result.exit_code == exitcodes.FAILURE, result.output
    assert result.stderr.startswith("error: the store failed: ") and result.stderr.count("\n") == 1
    writer = DirectWriter.open(sqlite_url(path))
    assert writer is not None
    with pytest.raises(StoreError), writer:
        writer._connection.execute("PRAGMA query_only = ON")
        writer.execute('DELETE FROM "case"')
    with sqlite3.connect(path) as connection:
        assert connection.execute('SELECT url FROM "case"').fetchall() == [("http://a.test/kept",)]


def test_a_rounds_notices_and_resolutions_are_stored_as_the_stores_types_store_them(store: Store) -> None:
    """The composer writes a round's notices and the resolutions it used in plain SQL, through its
    session: they read back as written, a missing list as JSON null, as the store's JSON type
    writes ``None``, and each case keeps its latest hosting for the statistics."""
    with store.session() as session:
        cases = [
            r.case_id for r in queue_batch(session, [report(str(n)) for n in range(3)], actor="a", now=NOW)
        ]
    network = NetworkRecord(
        registry="ripe", handle="NET-1", name="EXAMPLE-NET", start=ipaddress.ip_address("192.0.2.0"),
        end=ipaddress.ip_address("192.0.2.255"), organisation="Example Hosting", country="NL",
        abuse=AbuseContacts(("abuse@example.test",), "abuse"),
    )  # fmt: skip
    found = Resolution("http://a.test/0", "a.test", NOW, addresses=("192.0.2.7",), network=network)
    bare = Resolution("http://a.test/1", "a.test", NOW)
    for way in WAYS:
        with WAYS[way](store) as target:
            ids = enqueue_many(target, [
                OutgoingNotice("abuse@x.test", "initial", f"<x-{way}@t>", "s", "hosting", None, "en", "m",
                               tuple(cases[:2])),
                OutgoingNotice("abuse@y.test", "initial", f"<y-{way}@t>", "s", "cdn", "Y", None, "m",
                               (cases[2],)),
            ], now=NOW)  # fmt: skip
            record_resolutions(target, [(cases[0], found), (cases[1], bare), (None, bare)])
        assert ids == [ids[0], ids[0] + 1]
        with store.reading() as session:
            notices = session.execute(
                select(Notice.id, Notice.recipient, Notice.status, Notice.created_at, Notice.next_attempt_at)
                .where(Notice.id.in_(ids)).order_by(Notice.id)
            ).all()  # fmt: skip
            about = session.execute(
                select(NoticeCase.notice_id, NoticeCase.case_id).where(NoticeCase.notice_id.in_(ids))
            ).all()
        assert notices == [
            (ids[0], "abuse@x.test", "pending", NOW, NOW), (ids[1], "abuse@y.test", "pending", NOW, NOW)
        ]  # fmt: skip
        assert sorted(about) == [(ids[0], cases[0]), (ids[0], cases[1]), (ids[1], cases[2])]
    with store.reading() as session:
        rows = session.execute(
            select(Hosting.case_id, Hosting.ips, Hosting.network, Hosting.organisation, Hosting.resolved_at)
            .order_by(Hosting.id)
        ).all()  # fmt: skip
        nulls = session.execute(
            text("SELECT count(*) FROM hosting WHERE ips IS NULL OR abuse_contacts IS NULL")
        ).scalar()
        kept = session.execute(select(Case.id, Case.hosting_network, Case.hosting_organisation)).all()
    expected = [
        (cases[0], ["192.0.2.7"], "192.0.2.0/24", "Example Hosting", NOW),
        (cases[1], None, None, None, NOW),
        (None, None, None, None, NOW),
    ]
    assert rows == expected * 2
    assert nulls == 0  # JSON null, not SQL NULL: what the store's JSON type writes for None
    assert sorted(kept) == [(cases[0], "192.0.2.0/24", "Example Hosting"), (cases[1], None, None),
                            (cases[2], None, None)]  # fmt: skip
