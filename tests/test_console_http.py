"""The analyst console over HTTP: signing in (password, second factor, throttling, sessions), who
may do what, CSRF, escaping and defanging, and the pages analysts work in."""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from faces.cli import App, cli
from faces.console.app import create_app
from faces.console.config import ConsoleSettings
from faces.console.refreshing import Refreshing
from faces.console.security import safe_next
from faces.console.serve import serving
from faces.console.text import defang
from hosting.contact_entries import contact_history, list_contacts
from hosting.contact_writes import mark_mailbox_bad, set_contact
from notices.message import build_message
from notices.outbox import OutgoingNotice, enqueue
from notices.render import Rendered
from takedown.accounts import disable_account
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.models import Case, Check, Event, Hosting, Notice, NoticeCase, PortalUrl, WebSession
from takedown.reports import Report, validate_report
from takedown.settings import Settings, sqlite_url
from takedown.store import Store
from takedown.vocabulary import StaffRole
from tests.console_support import PASSWORD, Served, csrf_of, hidden, sign_in

HOSTILE_URL = "http://evil.example/<script>alert(1)</script>/x.jpg?u=javascript:alert(2)"
HOSTILE_REFERENCE = '<script>alert("ref")</script>'


def queue(served: Served, url: str, reference: str | None = None) -> int:
    with served.store.session() as session:
        [result] = queue_batch(
            session, [validate_report(Report(url, reference=reference))], actor="t", now=served.clock.now()
        )
    return result.case_id


def signed_in_as(served: Served, role: StaffRole) -> httpx.Client:
    name = f"{role.value}1"
    served.account(name, role)
    client = served.client()
    assert sign_in(client, name).status_code == 303
    return client


# --- nothing without signing in ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/cases", "/cases/1", "/queue", "/cases?state=live"])
def test_every_page_sends_a_stranger_to_the_login(console: Served, path: str) -> None:
    answer = console.client().get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


def test_a_stranger_cannot_change_anything(console: Served) -> None:
    case_id = queue(console, "http://a.example/x")
    client = console.client()
    assert client.post(f"/cases/{case_id}/withdraw", data={"reason": "r", "csrf": "x"}).status_code == 401
    assert client.post("/queue", data={"urls": "http://b.example/y", "csrf": "x"}).status_code == 401
    with console.store.session() as session:
        assert session.scalar(select(Case.state).where(Case.id == case_id)) == "queued"
        assert session.scalar(select(Case.id).where(Case.host == "b.example")) is None


def test_a_forged_or_stale_session_cookie_opens_nothing(console: Served) -> None:
    client = console.client()
    client.cookies.set("takedown_session", "forged-token")
    assert client.get("/").status_code == 303


# --- signing in ---------------------------------------------------------------------------------


def test_signing_in_sets_a_strict_httponly_cookie_and_rotates_the_session(console: Served) -> None:
    console.account("ana", StaffRole.ANALYST)
    client = console.client()
    client.cookies.set("takedown_session", "planted-before-login")  # session fixation attempt
    answer = sign_in(client, "ana")
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("takedown_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    assert token != "planted-before-login" and len(token) >= 40
    home = client.get("/")
    assert home.status_code == 200 and "Dashboard" in home.text
    with console.store.session() as session:  # only a hash of the token is kept
        assert session.scalar(select(WebSession.token_hash)) not in (token, None)


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(console: Served) -> None:
    console.account("ana", StaffRole.ANALYST)
    wrong = sign_in(console.client(), "ana", "not the password at all")
    unknown = sign_in(console.client(), "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    message = "Wrong name or password, or the account is locked."
    assert message in wrong.text and message in unknown.text


def test_a_login_form_without_its_token_is_refused(console: Served) -> None:
    console.account("ana", StaffRole.ANALYST)
    answer = console.client().post("/login", data={"name": "ana", "password": PASSWORD})
    assert answer.status_code == 403
    assert "takedown_session" not in answer.headers.get("set-cookie", "")


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(console: Served) -> None:
    console.account("ana", StaffRole.ANALYST)
    for _ in range(5):
        assert sign_in(console.client(), "ana", "wrong password 123").status_code == 401
    assert sign_in(console.client(), "ana").status_code == 401  # locked
    console.clock.advance(timedelta(minutes=16))
    assert sign_in(console.client(), "ana").status_code == 303


def test_one_address_that_keeps_failing_is_throttled(console: Served) -> None:
    for attempt in range(10):
        assert sign_in(console.client(), f"nobody{attempt}", "wrong password 123").status_code == 401
    console.account("ana", StaffRole.ANALYST)
    answer = sign_in(console.client(), "ana")
    assert answer.status_code == 429 and "Too many failed sign-ins" in answer.text


@pytest.mark.parametrize(
    "target",
    ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "/%0d%0aX: y"],
)
def test_next_after_login_never_leaves_the_site(console: Served, target: str) -> None:
    console.account("ana", StaffRole.ANALYST)
    answer = sign_in(console.client(), "ana", next_path=target)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/") and not location.startswith("//") and "evil" not in location


def test_next_after_login_returns_to_the_page_asked_for(console: Served) -> None:
    console.account("ana", StaffRole.ANALYST)
    client = console.client()
    asked = client.get("/cases?state=live")
    next_path = asked.headers["location"].split("next=", 1)[1]
    answer = sign_in(client, "ana", next_path=httpx.QueryParams(f"n={next_path}")["n"])
    assert answer.headers["location"] == "/cases?state=live"


@given(st.text(max_size=40))
def test_safe_next_only_ever_gives_a_local_path(target: str) -> None:
    result = safe_next(target)
    assert result.startswith("/")
    assert not result.startswith("//") and "\\" not in result
    assert not any(ord(char) < 0x21 for char in result)


# --- the second factor ------------------------------------------------------------------------------


def test_a_supervisor_needs_the_code_and_each_code_works_once(console: Served) -> None:
    secret = console.account("sue", StaffRole.SUPERVISOR)
    assert secret is not None
    client = console.client()
    answer = sign_in(client, "sue")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login/code")
    assert client.get("/").status_code == 303  # the password alone opens nothing
    form = client.get("/login/code")
    wrong = client.post("/login/code", data={"code": "000000", "csrf": hidden(form.text, "csrf")})
    assert wrong.status_code == 401
    code = console.code(secret)
    right = client.post("/login/code", data={"code": code, "csrf": hidden(form.text, "csrf")})
    assert right.status_code == 303
    assert client.get("/").status_code == 200

    again = console.client()  # someone who saw the code over a shoulder
    sign_in(again, "sue")
    form = again.get("/login/code")
    replay = again.post("/login/code", data={"code": code, "csrf": hidden(form.text, "csrf")})
    assert replay.status_code == 401
    assert again.get("/").status_code == 303


def test_the_session_after_the_code_is_a_new_one(console: Served) -> None:
    secret = console.account("sue", StaffRole.SUPERVISOR)
    assert secret is not None
    client = console.client()
    sign_in(client, "sue")
    halfway = client.cookies.get("takedown_session")
    form = client.get("/login/code")
    client.post("/login/code", data={"code": console.code(secret), "csrf": hidden(form.text, "csrf")})
    assert client.cookies.get("takedown_session") not in (None, halfway)
    stale = console.client()
    stale.cookies.set("takedown_session", halfway or "")
    assert stale.get("/").status_code == 303


# --- sessions end ---------------------------------------------------------------------------------


def test_an_idle_session_ends_and_so_does_a_long_one(console: Served) -> None:
    client = signed_in_as(console, StaffRole.ANALYST)
    console.clock.advance(timedelta(minutes=29))
    assert client.get("/").status_code == 200
    console.clock.advance(timedelta(minutes=31))
    assert client.get("/").status_code == 303

    busy = console.client()
    assert sign_in(busy, "analyst1").status_code == 303
    for _ in range(26):  # busy every half hour, for thirteen hours
        console.clock.advance(timedelta(minutes=29))
        busy.get("/")
    assert busy.get("/").status_code == 303


def test_signing_out_and_disabling_end_sessions(console: Served) -> None:
    client = signed_in_as(console, StaffRole.ANALYST)
    out = client.post("/logout", data={"csrf": csrf_of(client)})
    assert out.status_code == 303
    assert client.get("/").status_code == 303

    other = console.client()
    assert sign_in(other, "analyst1").status_code == 303
    with console.store.session() as session:
        disable_account(session, "analyst1", now=console.clock.now())
    assert other.get("/").status_code == 303
    assert sign_in(console.client(), "analyst1").status_code == 401


def test_sessions_left_behind_are_cleared_at_the_next_sign_in(console: Served) -> None:
    console.account("analyst1", StaffRole.ANALYST)
    for _ in range(3):  # browsers closed without signing out
        assert sign_in(console.client(), "analyst1").status_code == 303
    kept = console.client()
    console.clock.advance(timedelta(minutes=20))
    assert sign_in(kept, "analyst1").status_code == 303
    with console.store.session() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 4
    console.clock.advance(timedelta(minutes=15))  # the three are idle past 30 minutes, not the fourth
    kept.get("/")
    assert sign_in(console.client(), "analyst1").status_code == 303
    with console.store.session() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 2
    assert kept.get("/").status_code == 200


# --- roles and CSRF -----------------------------------------------------------------------------------


def test_an_auditor_reads_but_cannot_withdraw_or_queue(console: Served) -> None:
    case_id = queue(console, "http://a.example/x")
    client = signed_in_as(console, StaffRole.AUDITOR)
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200 and "Withdraw" not in page.text
    csrf = hidden(page.text, "csrf")
    assert client.post(f"/cases/{case_id}/withdraw", data={"reason": "r", "csrf": csrf}).status_code == 403
    assert client.get("/queue").status_code == 403
    assert client.post("/queue", data={"urls": "http://b.example/y", "csrf": csrf}).status_code == 403
    with console.store.session() as session:
        assert session.scalar(select(Case.state).where(Case.id == case_id)) == "queued"


def test_an_analyst_withdraws_and_the_trail_names_them(console: Served) -> None:
    case_id = queue(console, "http://a.example/x")
    client = signed_in_as(console, StaffRole.ANALYST)
    csrf = csrf_of(client, f"/cases/{case_id}")
    answer = client.post(f"/cases/{case_id}/withdraw", data={"reason": "reported in error", "csrf": csrf})
    assert answer.status_code == 303
    page = client.get(answer.headers["location"])
    assert "withdrawn: reported in error" in page.text
    with console.store.session() as session:
        event = session.scalars(select(Event).where(Event.action == "withdrawn")).one()
        assert event.actor == "analyst:analyst1"


@pytest.mark.parametrize(
    "tamper",
    [
        {"csrf": ""},
        {"csrf": "not-the-token"},
        {"origin": "http://evil.example"},
        {"sec-fetch-site": "cross-site"},
    ],
)
def test_a_forged_request_changes_nothing(console: Served, tamper: dict[str, str]) -> None:
    case_id = queue(console, "http://a.example/x")
    client = signed_in_as(console, StaffRole.ANALYST)
    csrf = tamper.get("csrf", csrf_of(client, f"/cases/{case_id}"))
    headers = {key: value for key, value in tamper.items() if key != "csrf"}
    answer = client.post(f"/cases/{case_id}/withdraw", data={"reason": "x", "csrf": csrf}, headers=headers)
    assert answer.status_code == 403
    with console.store.session() as session:
        assert session.scalar(select(Case.state).where(Case.id == case_id)) == "queued"


# --- what pages show ------------------------------------------------------------------------------


def test_every_page_sends_the_security_headers(console: Served) -> None:
    case_id = queue(console, "http://a.example/x")
    client = signed_in_as(console, StaffRole.ANALYST)
    for answer in (console.client().get("/login"), client.get("/"), client.get(f"/cases/{case_id}")):
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "http" not in policy
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"
        assert "server" not in answer.headers  # nothing said about what runs it


def test_a_hostile_url_and_reference_render_inert_and_never_as_a_link(console: Served) -> None:
    case_id = queue(console, HOSTILE_URL, reference=HOSTILE_REFERENCE)
    client = signed_in_as(console, StaffRole.ANALYST)
    filtered = client.get("/cases?host=evil.example")
    assert f'href="/cases/{case_id}"' in filtered.text
    pages = [client.get("/cases"), client.get(f"/cases/{case_id}"), client.get("/")]
    for page in [*pages, filtered]:
        assert page.status_code == 200
        assert "<script>" not in page.text
        hrefs = re.findall(r'(?:href|src|action)="([^"]*)"', page.text)
        assert all(href == "#main" or (href.startswith("/") and not href.startswith("//")) for href in hrefs)
    for page in pages:
        assert "evil.example" not in page.text  # defanged: evil[.]example
    detail = pages[1].text
    assert "hxxp://evil[.]example/&lt;script&gt;alert(1)&lt;/script&gt;/x.jpg" in detail
    assert "&lt;script&gt;alert(&#34;ref&#34;)&lt;/script&gt;" in detail


@given(st.text(max_size=60))
def test_defanged_text_holds_no_web_address_a_program_would_open(text: str) -> None:
    result = defang(text).lower()
    assert "http://" not in result and "https://" not in result and "ftp://" not in result


def test_filters_are_checked_not_passed_on(console: Served) -> None:
    queue(console, "http://a.example/x")
    client = signed_in_as(console, StaffRole.AUDITOR)
    injected = client.get("/cases", params={"state": "live' OR '1'='1"})
    assert injected.status_code == 200
    assert "That is not a state a case can be in." in injected.text
    assert "a[.]example" not in injected.text
    assert client.get("/cases", params={"after": "1; DROP TABLE case"}).status_code == 422
    assert client.get("/cases", params={"host": "a.example"}).text.count('/cases/1"') == 1


def test_the_case_list_pages_by_id(console: Served) -> None:
    for number in range(55):
        queue(console, f"http://a.example/{number}")
    client = signed_in_as(console, StaffRole.AUDITOR)
    first = client.get("/cases")
    ids = re.findall(r'href="/cases/(\d+)"', first.text)
    assert len(ids) == 50 and ids[0] == "1"
    following = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert following
    second = client.get(following.group(1).replace("&amp;", "&"))
    assert re.findall(r'href="/cases/(\d+)"', second.text) == [str(n) for n in range(51, 56)]
    assert 'rel="next"' not in second.text


def test_the_case_list_takes_queued_dates_and_the_newest_first(console: Served) -> None:
    days = []
    for number in range(4):  # one case a day, 1 to 4 March
        days.append(queue(console, f"http://d.example/{number}"))
        console.clock.advance(timedelta(days=1))
    client = signed_in_as(console, StaffRole.AUDITOR)

    def listed(**params: str) -> list[int]:
        page = client.get("/cases", params=params)
        assert page.status_code == 200
        return [int(n) for n in re.findall(r'href="/cases/(\d+)"', page.text)]

    assert listed(queued_from="2026-03-02", queued_to="2026-03-03") == days[1:3]  # both days whole
    assert listed(queued_from="2026-03-03") == days[2:]
    assert listed(order="newest") == days[::-1]
    assert listed(order="newest", queued_to="2026-03-02") == [days[1], days[0]]
    assert listed(order="newest", after=str(days[2])) == [days[1], days[0]]
    for bad, message in (
        ({"queued_from": "yesterday"}, "The queued from date is a day like 2026-03-01."),
        ({"queued_to": "2026-02-30"}, "The queued to date is a day like 2026-03-01."),
        ({"order": "random()"}, "The order is oldest or newest first."),
    ):
        page = client.get("/cases", params=bad)
        assert message in page.text and "d[.]example" not in page.text
    exported = client.get("/cases.jsonl", params={"queued_from": "2026-03-04", "order": "newest"}).text
    assert [json.loads(line)["id"] for line in exported.splitlines()] == [days[3]]
    page = client.get("/cases", params={"queued_from": "2026-03-02", "order": "newest"}).text
    assert 'value="2026-03-02"' in page and '<option value="newest" selected>' in page


def test_the_dashboard_counts_cases_and_says_when_no_scheduler_runs(console: Served) -> None:
    for number in range(3):
        queue(console, f"http://a.example/{number}")
    client = signed_in_as(console, StaffRole.AUDITOR)
    page = client.get("/").text
    assert re.search(r'state=queued">queued</a></td><td class="number">3<', page)
    assert "No scheduler has run against this store" in page


def test_queueing_by_paste_reports_each_line(console: Served) -> None:
    queue(console, "http://a.example/open")
    client = signed_in_as(console, StaffRole.ANALYST)
    csrf = csrf_of(client, "/queue")
    pasted = "http://b.example/new\nhttp://a.example/open\nftp://c.example/x\n\nhttp://b.example/new\n"
    answer = client.post("/queue", data={"urls": pasted, "csrf": csrf, "category": "csam"})
    assert answer.status_code == 200
    rows = re.findall(r'<tr class="(\w+)"><td>(\d+)</td>', answer.text)
    assert rows == [("queued", "1"), ("already_open", "2"), ("refused", "3"), ("already_open", "4")]
    assert "scheme &#39;ftp&#39; is not allowed" in answer.text
    with console.store.session() as session:
        opened = session.scalars(select(Event.actor).where(Event.action == "queued")).all()
        assert opened == ["t", "analyst:analyst1"]


# --- the command ----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_takedown_web_serves_the_console_on_the_store(tmp_path: Path) -> None:
    """``takedown web`` as an operator runs it: a process of its own, on the configured store."""
    env = {
        **os.environ,
        "TAKEDOWN_DATABASE_URL": sqlite_url(tmp_path / "web.db"),
        "TAKEDOWN_HOME": str(tmp_path),
    }
    add = subprocess.run(
        [sys.executable, "-m", "faces.cli", "users", "add", "ana", "--role", "analyst", "--password-stdin"],
        input=PASSWORD, text=True, env=env, capture_output=True, check=True,
    )  # fmt: skip
    assert "analyst" in add.stdout
    process = subprocess.Popen(
        [sys.executable, "-m", "faces.cli", "web", "--port", "0"],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        address = None
        for line in process.stderr:
            if found := re.search(r"running on (http://127\.0\.0\.1:\d+)", line):
                address = found.group(1)
                break
        assert address, "takedown web never said where it listens"
        with httpx.Client(base_url=address, follow_redirects=False, timeout=10) as client:
            assert client.get("/").status_code == 303
            assert sign_in(client, "ana").status_code == 303
            assert "Dashboard" in client.get("/").text
    finally:
        process.terminate()
        process.communicate(timeout=10)  # and its pipe closed


def test_the_case_page_shows_revisits_resolutions_and_notices_inert(console: Served) -> None:
    """What registries, servers and redirects said is hostile text too: an organisation named with
    markup, a redirect to a script address, an RDAP source that is not a URL."""
    case_id = queue(console, "http://a.example/x.jpg")
    now = console.clock.now()
    with console.store.session() as session:
        session.add(
            Check(
                case_id=case_id, checked_at=now, outcome="live", http_status=200, connected_ip="127.0.0.9",
                final_url="http://b.example/<b>moved</b>", redirect_chain=["http://a.example/x.jpg"],
                sha256="ab" * 32, fingerprint_match=True, size_bytes=1234, truncated=False, duration_ms=87,
            )
        )  # fmt: skip
        session.add(
            Hosting(
                case_id=case_id, hostname="a.example", ips=["127.0.0.9"], asn=64500, network="127.0.0.0/24",
                organisation='<img src=x onerror="alert(1)">Hosting', country="NL",
                abuse_contacts=["abuse@hosting.example"], rdap_sources=["javascript:alert(3)"],
                resolved_at=now,
            )
        )  # fmt: skip
        notice = Notice(
            recipient="abuse@hosting.example", level="initial", message_id="<m1@hotline.invalid>",
            subject="Report", status="sent", attempts=1, created_at=now, sent_at=now, role="hosting",
        )  # fmt: skip
        session.add(notice)
        session.flush()
        session.add(NoticeCase(notice_id=notice.id, case_id=case_id))
    page = signed_in_as(console, StaffRole.AUDITOR).get(f"/cases/{case_id}").text
    assert (
        "hxxp://b[.]example/&lt;b&gt;moved&lt;/b&gt;" in page and "via <code>hxxp://a[.]example/x.jpg" in page
    )
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;Hosting" in page and "<img" not in page
    assert "<code>javascript:alert(3)</code>" in page and 'href="javascript' not in page
    assert "abuse@hosting.example" in page and "127.0.0.9" in page and "same" in page
    assert re.search(r"<td>initial</td><td>abuse@hosting.example</td>", page)


def test_queueing_a_file_reports_each_refused_row_and_queues_the_rest(console: Served) -> None:
    client = signed_in_as(console, StaffRole.ANALYST)
    csrf = csrf_of(client, "/queue")
    table = "url,reference\nhttp://f.example/1.jpg,R1\nnot a url,R2\nhttp://f.example/2.jpg,R3\n"
    answer = client.post(
        "/queue/file",
        data={"csrf": csrf, "category": "csam"},
        files={"file": ("reports.csv", table, "text/csv")},
    )
    assert answer.status_code == 200
    assert "queued 2, reopened 0, already open 0, refused 1" in answer.text
    assert re.search(r'<tr class="refused"><td>3</td><td>url</td>', answer.text)
    unknown = client.post(
        "/queue/file", data={"csrf": csrf}, files={"file": ("reports.xls", "x", "text/plain")}
    )
    assert unknown.status_code == 400 and "Name the file .csv, .jsonl or .txt" in unknown.text
    forged = client.post(
        "/queue/file", data={"csrf": "x"}, files={"file": ("r.txt", "http://g.example/x", "text/plain")}
    )
    assert forged.status_code == 403
    with console.store.session() as session:
        assert session.scalars(select(Case.reference).order_by(Case.id)).all() == ["R1", "R3"]
        assert set(session.scalars(select(Event.actor))) == {"analyst:analyst1"}


def test_a_costly_figure_is_served_from_a_copy_refreshed_behind_it() -> None:
    now = [0.0]
    computed: list[int] = []
    done = threading.Event()

    def compute() -> int:
        computed.append(len(computed) + 1)
        if len(computed) > 1:
            done.set()
        return computed[-1]

    figure = Refreshing(compute, every=300, clock=lambda: now[0])
    assert figure.get() == 1 and figure.get() == 1 and computed == [1]
    now[0] = 301
    assert figure.get() == 1  # the copy at once; the refresh runs behind it
    assert done.wait(5)
    for _ in range(100):
        if figure.get() == 2:
            break
        time.sleep(0.01)
    assert figure.get() == 2 and computed == [1, 2]


def test_a_first_figure_is_computed_behind_the_request_that_asked_for_it() -> None:
    release = threading.Event()
    computed: list[int] = []

    def compute() -> int:
        computed.append(len(computed) + 1)
        assert release.wait(10)
        return computed[-1]

    figure = Refreshing(compute, every=300)
    started = time.monotonic()
    assert figure.get(wait=0.05) is None and figure.get(wait=0.05) is None
    assert time.monotonic() - started < 5  # neither request waited for the computation
    assert computed == [1]  # the second request did not start another
    release.set()
    assert figure.get() == 1 and computed == [1]


def test_a_figure_started_before_anyone_asks_is_there_for_the_first_request() -> None:
    done = threading.Event()
    figure = Refreshing(lambda: done.set() or 7, every=300)
    figure.start()
    assert done.wait(10)
    for _ in range(500):  # the copy is kept just after the computation returns
        if figure.get(wait=0) == 7:
            break
        time.sleep(0.01)
    assert figure.get(wait=0) == 7


def test_a_first_figure_that_fails_says_why_and_is_tried_again_by_the_next_request() -> None:
    attempts: list[int] = []

    def compute() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the store went away")
        return "figures"

    figure = Refreshing(compute, every=300)
    with pytest.raises(RuntimeError, match="the store went away"):
        figure.get()
    assert figure.get() == "figures" and attempts == [1, 1]


def test_warming_the_console_computes_every_costly_figure_before_anyone_asks(tmp_path: Path) -> None:
    store = Store.open(sqlite_url(tmp_path / "console.db"))
    try:
        console = create_app(store, clock=ManualClock()).state.console
        figures = [console.removals, *console.hosting.values(), console.portal_stats]
        computed = threading.Semaphore(0)

        def counted(compute: Callable[[], Any]) -> Callable[[], Any]:
            return lambda: (compute(), computed.release())[0]

        for figure in figures:
            figure._compute = counted(figure._compute)
        console.warm()
        assert all(computed.acquire(timeout=30) for _ in figures)  # no request asked for any
        assert all(figure.get(wait=30) is not None for figure in figures)  # and kept
    finally:
        store.dispose()


def test_pages_answer_at_once_while_their_first_figures_are_computed(tmp_path: Path) -> None:
    release = threading.Event()
    store = Store.open(sqlite_url(tmp_path / "console.db"))
    app = create_app(store, clock=ManualClock(), settings=ConsoleSettings(figures_wait=0.05))
    console = app.state.console

    def slowed(compute: Callable[[], Any]) -> Refreshing[Any]:
        """The figure as it is on a million cases just after a start: seconds to compute."""
        return Refreshing(lambda: release.wait(30) and compute(), every=300)

    console.removals = slowed(console._recent_removals)
    console.hosting = {by: slowed(functools.partial(console._removal_stats, by)) for by in console.hosting}
    console.portal_stats = slowed(console._portal_stats)
    try:
        with serving(app) as url:
            served = Served(url, store, console.clock)
            client = signed_in_as(served, StaffRole.AUDITOR)
            for path, figures in (("/", "Time to removal"), ("/hosting", "Time to removal by network")):
                page = client.get(path)
                assert page.status_code == 200 and figures in page.text
                assert "Being computed: the console has just started" in page.text
                assert "As of" not in page.text
            assert "Being computed" in client.get("/reports").text
            release.set()
            for path in ("/", "/hosting", "/reports"):
                for _ in range(500):
                    if "Being computed" not in (page := client.get(path)).text:
                        break
                    time.sleep(0.01)
                assert "Being computed" not in page.text
            assert "As of" in client.get("/").text and "As of" in client.get("/hosting").text
    finally:
        release.set()
        store.dispose()


def test_the_dashboard_shows_recent_removals_and_their_median(console: Served) -> None:
    ids = [queue(console, f"http://r.example/{n}") for n in range(4)]
    now = console.clock.now()
    with console.store.session() as session:
        for hours, days_ago, case_id in zip((2, 10, 30, 40), (1, 5, 40, 60), ids, strict=True):
            removed = {"removed_at": now - timedelta(days=days_ago), "removal_seconds": hours * 3600.0}
            session.execute(update(Case).where(Case.id == case_id).values(state="removed", **removed))
    page = signed_in_as(console, StaffRole.AUDITOR).get("/").text
    assert re.search(r"<td>30 days</td><td class=\"number\">2</td><td class=\"number\">10.0</td>", page)
    assert re.search(r"<td>90 days</td><td class=\"number\">4</td><td class=\"number\">30.0</td>", page)
    # the chart: 2 h within 6 h, 10 h within a day, 30 h and 40 h within 3 days
    chart = page.split('aria-labelledby="chart-90"')[1].split("</svg>")[0]
    assert re.findall(r"<title>([^<]+)</title></rect>", chart) == [
        "1 h: 0",
        "6 h: 1",
        "1 day: 1",
        "3 days: 2",
        "7 days: 0",
        "14 days: 0",
        "30 days: 0",
        "longer: 0",
    ]


def test_the_filtered_list_exports_as_csv_and_as_the_clis_json_lines(console: Served, tmp_path: Path) -> None:
    queue(console, "http://x.example/a.jpg", reference='=HYPERLINK("http://evil.example","click")')
    queue(console, "http://y.example/b.jpg", reference="-2+3")
    queue(console, "http://x.example/c.jpg")
    client = signed_in_as(console, StaffRole.AUDITOR)
    exported = client.get("/cases.csv", params={"host": "x.example"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["id", "state", "url_defanged", "host", "category", "reference", "queued_at"]
    assert [row[0] for row in rows[1:]] == ["1", "3"]
    assert rows[1][2] == "hxxp://x[.]example/a.jpg"
    assert rows[1][5].startswith("'=HYPERLINK(")  # shown by a spreadsheet, never run
    assert rows[2][2] == "hxxp://x[.]example/c.jpg"

    lines = client.get("/cases.jsonl").text
    app = App(settings=Settings(database_url="unused", actor="t"), clock=console.clock, _store=console.store)
    cli_lines = CliRunner().invoke(cli, ["queue", "list", "--limit", "1000", "--json"], obj=app).stdout
    assert lines == cli_lines
    assert client.get("/cases.csv", params={"state": "nonsense"}).status_code == 400
    assert console.client().get("/cases.jsonl").status_code == 303  # not without signing in


def test_an_analyst_rechecks_notes_and_decides_a_changed_case(console: Served) -> None:
    case_id = queue(console, "http://ch.example/x.jpg")
    now = console.clock.now()
    with console.store.session() as session:
        session.execute(update(Case).where(Case.id == case_id).values(state="changed", next_check_at=None))
        session.add(
            Check(case_id=case_id, checked_at=now, outcome="changed", http_status=200, sha256="cd" * 32,
                  md5="ef" * 16, fingerprint_match=False, truncated=False)
        )  # fmt: skip
    client = signed_in_as(console, StaffRole.ANALYST)
    csrf = csrf_of(client, f"/cases/{case_id}")
    assert client.post(f"/cases/{case_id}/recheck", data={"csrf": csrf}).status_code == 303
    assert (
        client.post(
            f"/cases/{case_id}/note", data={"csrf": csrf, "note": "<b>asked</b> a partner"}
        ).status_code
        == 303
    )
    decided = client.post(f"/cases/{case_id}/decide", data={"csrf": csrf, "decision": "still"})
    assert decided.status_code == 303
    page = client.get(decided.headers["location"]).text
    assert "Done: still the reported content." in page
    assert "note: &lt;b&gt;asked&lt;/b&gt; a partner" in page and "recheck_requested" in page
    with console.store.session() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.state == "live" and case.next_check_at == now
        assert {(f.algorithm, f.digest) for f in case.fingerprints} == {
            ("sha256", "cd" * 32),
            ("md5", "ef" * 16),
        }
    again = client.post(f"/cases/{case_id}/decide", data={"csrf": csrf, "decision": "still"})
    assert again.status_code == 409  # live now: nothing to decide


def test_the_review_queue_acts_on_every_case_ticked(console: Served) -> None:
    ids = [queue(console, f"http://rv.example/{n}") for n in range(4)]
    with console.store.session() as session:
        session.execute(update(Case).where(Case.id.in_(ids)).values(state="live", needs_analyst=True))
    auditor = signed_in_as(console, StaffRole.AUDITOR)
    assert auditor.get("/review").text.count('href="/cases/') == 4
    assert 'type="checkbox"' not in auditor.get("/review").text
    client = console.client()
    console.account("ana", StaffRole.ANALYST)
    sign_in(client, "ana")
    csrf = csrf_of(client, "/review")
    resumed = client.post(
        "/review", data={"csrf": csrf, "action": "resume", "case": [str(ids[0]), str(ids[1])]}
    )
    assert resumed.status_code == 303 and "resume%3A+2+of+2" in resumed.headers["location"]
    refused = client.post("/review", data={"csrf": csrf, "action": "withdraw", "case": [str(ids[2])]})
    assert refused.status_code == 400  # a withdrawal needs its reason
    client.post(
        "/review", data={"csrf": csrf, "action": "withdraw", "reason": "police", "case": [str(ids[2])]}
    )
    with console.store.session() as session:
        states = {case_id: flag for case_id, flag in session.execute(select(Case.id, Case.needs_analyst))}
        assert [states[i] for i in ids] == [False, False, True, True]
        assert session.get(Case, ids[2]).state == "withdrawn"
    assert client.get("/review").text.count('type="checkbox"') == 1


def test_a_notice_is_shown_exactly_as_sent_with_its_html_inert(console: Served) -> None:
    case_id = queue(console, "http://nt.example/x.jpg")
    rendered = Rendered(
        subject="[HL-1] Child sexual abuse material on nt.example",
        text="Please remove hxxp://nt[.]example/x.jpg",
        html='<p>Please remove</p><script>alert("html part")</script><img src="http://tracker.example/p.gif">',
        language="en",
    )
    message = build_message(
        rendered=rendered, sender=("Hotline", "reports@hotline.invalid"), recipient="abuse@nt.example",
        message_id="<n1@hotline.invalid>", date=console.clock.now(),
        reports=[(case_id, {"Version": "4", "ReporterOrg": "Hotline", "Source": "<script>x</script>"})],
    )  # fmt: skip
    with console.store.session() as session:
        notice_id = enqueue(
            session,
            OutgoingNotice(
                recipient="abuse@nt.example", level="initial", message_id="<n1@hotline.invalid>",
                subject=rendered.subject, role="hosting", party="NT Hosting", language="en",
                message=message.decode("ascii"), case_ids=(case_id,),
            ),
            now=console.clock.now(),
        )  # fmt: skip
    client = signed_in_as(console, StaffRole.AUDITOR)
    listed = client.get("/notices", params={"recipient": "ABUSE@nt.example"}).text
    assert f'href="/notices/{notice_id}"' in listed and "pending" in listed
    assert "No notice matches." in client.get("/notices", params={"status": "sent"}).text
    page = client.get(f"/notices/{notice_id}").text
    assert "Please remove hxxp://nt[.]example/x.jpg" in page
    assert "&lt;script&gt;alert(&#34;html part&#34;)&lt;/script&gt;" in page  # the HTML as source
    assert "<script>" not in page and "<img" not in page
    assert "hxxp://tracker[.]example/p.gif" in page and "http://tracker" not in page  # URLs defanged
    assert "xarf-case-1.json" in page and "&#34;ReporterOrg&#34;: &#34;Hotline&#34;" in page
    assert f'href="/cases/{case_id}"' in page and "&lt;n1@hotline.invalid&gt;" in page
    assert client.get("/notices/999").status_code == 404


def signed_in_supervisor(served: Served) -> httpx.Client:
    secret = served.account("sue", StaffRole.SUPERVISOR)
    assert secret
    client = served.client()
    sign_in(client, "sue")
    form = client.get("/login/code")
    client.post("/login/code", data={"code": served.code(secret), "csrf": hidden(form.text, "csrf")})
    return client


def test_the_hosting_page_puts_the_slowest_providers_first(console: Served) -> None:
    ids = [queue(console, f"http://hp.example/{n}") for n in range(3)]
    now = console.clock.now()
    networks = ("10.0.0.0/24", "10.9.0.0/24", "10.9.0.0/24")
    with console.store.session() as session:
        for case_id, network, hours in zip(ids, networks, (5, 90, 70), strict=True):
            values = {
                "state": "removed",
                "first_seen_live_at": now - timedelta(hours=hours),
                "removed_at": now,
                "removal_seconds": hours * 3600.0,
                "hosting_network": network,
                "hosting_organisation": "<b>Org</b>",
            }
            session.execute(update(Case).where(Case.id == case_id).values(**values))
    page = signed_in_as(console, StaffRole.AUDITOR).get("/hosting").text
    assert page.index("10.9.0.0/24") < page.index("10.0.0.0/24")  # median 80 h before 5 h
    assert "&lt;b&gt;Org&lt;/b&gt;" in page and "<b>Org" not in page
    assert "80.0" in page


def test_only_a_supervisor_edits_the_contact_book(console: Served) -> None:
    analyst = signed_in_as(console, StaffRole.ANALYST)
    csrf = csrf_of(analyst, "/contacts")
    entry = {
        "scope": "asn",
        "value": "AS64500",
        "email": "abuse@provider.example",
        "note": "<script>x</script>",
    }
    assert analyst.post("/contacts", data={"csrf": csrf, **entry}).status_code == 403
    assert 'action="/contacts"' not in analyst.get("/contacts").text

    supervisor = signed_in_supervisor(console)
    csrf = csrf_of(supervisor, "/contacts")

    def change(**fields: str) -> httpx.Response:
        return supervisor.post("/contacts", data={"csrf": csrf, **fields})

    saved = change(**entry)
    assert saved.status_code == 303 and "asn+64500+saved" in saved.headers["location"]
    page = supervisor.get("/contacts").text
    assert "abuse@provider.example" in page and "analyst:sue" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "barred" in change(scope="email", value="x@y.example", never_notify="1").headers["location"]
    bad = change(scope="asn", value="not-a-number", email="a@b.example")
    assert bad.status_code == 400 and "expected an AS number" in bad.text
    assert "removed" in change(scope="asn", value="64500", remove="1").headers["location"]
    book, recent = supervisor.get("/contacts").text.split('id="changes"')
    assert "abuse@provider.example" not in book and "abuse@provider.example" in recent
    # The entry's history survives it, for every role to read.
    history = analyst.get("/contacts/history", params={"scope": "asn", "value": "AS64500"}).text
    rows = re.findall(r"<tr><td>[^<]*</td><td>(\w+)</td>.*?<td>([^<]*)</td></tr>", history)
    assert rows == [("removed", "analyst:sue"), ("set", "analyst:sue")]
    assert "&lt;script&gt;x&lt;/script&gt;" in history and "<script>x" not in history
    assert analyst.get("/contacts/history", params={"scope": "asn", "value": "x"}).status_code == 400


def test_a_supervisor_manages_accounts_and_tokens_and_nobody_else_can(console: Served) -> None:
    analyst = signed_in_as(console, StaffRole.ANALYST)
    assert analyst.get("/users").status_code == 403
    assert (
        analyst.post("/users", data={"csrf": csrf_of(analyst), "action": "add", "name": "eve"}).status_code
        == 403
    )
    assert 'href="/users"' not in analyst.get("/").text

    supervisor = signed_in_supervisor(console)
    csrf = csrf_of(supervisor, "/users")

    def change(**fields: str) -> httpx.Response:
        return supervisor.post("/users", data={"csrf": csrf, **fields})

    added = change(
        action="add", name="bob", role="analyst", password="a long enough password", second_factor="1"
    )
    assert (
        added.status_code == 200 and "bob added" in added.text and "otpauth://totp/takedown:bob" in added.text
    )
    assert "Shown now and never again" not in supervisor.get("/users").text  # the secret was shown once
    assert (
        sign_in(console.client(), "bob", "a long enough password")
        .headers["location"]
        .startswith("/login/code")
    )
    assert change(action="add", name="bob", role="analyst", password="x" * 12).status_code == 400
    assert change(action="disable", name="sue").status_code == 409  # not oneself
    assert "bob disabled" in change(action="disable", name="bob").text
    assert sign_in(console.client(), "bob", "a long enough password").status_code == 401
    made = change(action="token", name="nightly", scope="read")
    token = re.search(r"(tdk_[A-Za-z0-9_-]+)", made.text)
    assert (
        token
        and httpx.get(
            console.url + "/api/v1/cases", headers={"Authorization": f"Bearer {token.group(1)}"}
        ).status_code
        == 200
    )
    assert "token nightly revoked" in change(action="revoke", name="nightly").text

    # Everything above is in the staff log, for supervisors and auditors, never a secret.
    sign_in(console.client(), "sue", "not sue's password at all")
    sign_in(console.client(), "correct horse battery staple", "typed the password as the name")
    log = supervisor.get("/staff-log").text
    rows = re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>", log)
    assert rows[:7] == [
        ("unknown", "password_refused", "-"),  # the name typed is not kept: it may be a password
        ("analyst:sue", "password_refused", "sue"),
        ("analyst:sue", "token_revoked", "nightly"),
        ("analyst:sue", "token_made", "nightly"),
        ("analyst:bob", "password_refused", "bob"),  # disabled
        ("analyst:sue", "account_disabled", "bob"),
        ("analyst:bob", "password_accepted", "bob"),
    ]
    assert ("analyst:sue", "account_added", "bob") in rows and ("analyst:sue", "code_accepted", "sue") in rows
    assert "horse" not in log and "a long enough password" not in log and "tdk_" not in log
    assert "reason: wrong password" in log and "reason: disabled" in log
    only_bob = supervisor.get("/staff-log", params={"account": "bob"}).text
    assert "nightly" not in only_bob and "account_disabled" in only_bob
    assert analyst.get("/staff-log").status_code == 403 and 'href="/staff-log"' not in analyst.get("/").text
    auditor = signed_in_as(console, StaffRole.AUDITOR)
    assert auditor.get("/staff-log").status_code == 200


def test_the_case_list_filters_by_reference_category_and_where_it_is_hosted(console: Served) -> None:
    ids = [queue(console, f"http://fl.example/{n}", reference=f"REF-{n}") for n in range(4)]
    with console.store.session() as session:
        countries, ases = ("NL", "NL", "DE", None), (64500, 64501, 64500, None)
        networks = ("10.0.0.0/24", "10.1.0.0/24", None, None)
        for case_id, country, asn, network in zip(ids, countries, ases, networks, strict=True):
            values = {"hosting_country": country, "hosting_asn": asn, "hosting_network": network}
            session.execute(update(Case).where(Case.id == case_id).values(**values))
    client = signed_in_as(console, StaffRole.AUDITOR)

    def listed(**params: str) -> list[int]:
        page = client.get("/cases", params=params)
        assert page.status_code == 200
        return [int(n) for n in re.findall(r'<td><a href="/cases/(\d+)">', page.text)]

    assert listed(country="nl") == [ids[0], ids[1]]
    assert listed(asn="AS64500") == [ids[0], ids[2]]
    assert listed(network="10.1.0.0/24") == [ids[1]]
    assert listed(reference="REF-3") == [ids[3]]
    assert listed(country="NL", asn="64500") == [ids[0]]
    assert listed(category="csam") == ids
    for bad, message in (
        ({"asn": "sixty"}, "An AS is a number"),
        ({"country": "Netherlands"}, "A country is two letters"),
        ({"category": "<script>"}, "A category is one of"),
    ):
        page = client.get("/cases", params=bad).text
        assert message in page and "<script>" not in page
    exported = client.get("/cases.jsonl", params={"country": "DE"}).text.splitlines()
    assert [json.loads(line)["id"] for line in exported] == [ids[2]]


def test_notices_in_doubt_and_bad_mailboxes_wait_for_an_analyst(console: Served) -> None:
    case_id = queue(console, "http://doubt.example/x.jpg")
    with console.store.session() as session:
        ids = [
            enqueue(
                session,
                OutgoingNotice(
                    recipient=f"abuse{n}@doubt.example", level="initial",
                    message_id=f"<d{n}@hotline.invalid>",
                    subject="s", role="hosting", party="P", language="en", message="m", case_ids=(case_id,),
                ),
                now=console.clock.now(),
            )
            for n in range(3)
        ]  # fmt: skip
        session.execute(update(Notice).where(Notice.id.in_(ids)).values(status="uncertain"))
        mark_mailbox_bad(
            session, "gone@doubt.example", "550 5.1.1 no such user", now=console.clock.now(), actor="notifier"
        )
    set_contact(
        console.store,
        "email",
        "kept@doubt.example",
        email="new@doubt.example",
        actor="t",
        clock=console.clock,
    )
    with console.store.session() as session:
        mark_mailbox_bad(session, "kept@doubt.example", "550 gone", now=console.clock.now(), actor="notifier")

    auditor = signed_in_as(console, StaffRole.AUDITOR)
    board = auditor.get("/").text
    assert re.search(r'Notices in doubt</dt><dd><a href="/review#uncertain">3<', board)
    assert re.search(r'Mailboxes gone bad</dt><dd><a href="/review#bad-mailboxes">2<', board)
    review = auditor.get("/review").text
    assert "&lt;d1@hotline.invalid&gt;" in review and "gone@doubt.example" in review
    assert 'name="notice"' not in review and 'name="mailbox"' not in review  # an auditor reads
    refused = auditor.post("/review/notices", data={"csrf": csrf_of(auditor), "notice": str(ids[0])})
    assert refused.status_code == 403

    analyst = console.client()
    console.account("ana", StaffRole.ANALYST)
    sign_in(analyst, "ana")
    csrf = csrf_of(analyst, "/review")
    page = analyst.get("/review").text
    assert 'name="notice"' in page and 'name="mailbox"' not in page  # vouching is a supervisor's
    settled = analyst.post(
        "/review/notices", data={"csrf": csrf, "action": "delivered", "notice": [str(ids[0]), str(ids[1])]}
    )
    assert settled.status_code == 303 and "delivered%3A+2+of+2" in settled.headers["location"]
    again = analyst.post(
        "/review/notices", data={"csrf": csrf, "action": "resend", "notice": [str(i) for i in ids]}
    )
    assert "sent+again%3A+1+of+3" in again.headers["location"]  # only the one still in doubt
    assert "Done: sent again: 1 of 3 notices." in analyst.get(again.headers["location"]).text
    with console.store.session() as session:
        statuses = dict(session.execute(select(Notice.id, Notice.status).where(Notice.id.in_(ids))).all())
        assert [statuses[i] for i in ids] == ["sent", "sent", "retry"]
        actions = session.scalars(select(Event.action).where(Event.actor == "analyst:ana")).all()
        assert sorted(actions) == ["notice_confirmed_delivered"] * 2 + ["notice_resend_requested"]
    assert (
        analyst.post("/review/mailboxes", data={"csrf": csrf, "mailbox": "gone@doubt.example"}).status_code
        == 403
    )

    supervisor = signed_in_supervisor(console)
    csrf = csrf_of(supervisor, "/review")
    vouched = supervisor.post(
        "/review/mailboxes", data={"csrf": csrf, "mailbox": ["gone@doubt.example", "kept@doubt.example"]}
    )
    assert "written+to+again%3A+2+of+2" in vouched.headers["location"]
    entries = {entry.value: entry for entry in list_contacts(console.store)}
    assert "gone@doubt.example" not in entries  # only the bounce had made it
    assert (
        entries["kept@doubt.example"].email == "new@doubt.example"
        and entries["kept@doubt.example"].bad_since is None
    )
    assert [c.change for c in contact_history(console.store, "email", "gone@doubt.example")] == [
        "removed",
        "bounced",
    ]
    assert "No mailbox has gone bad." in supervisor.get("/review").text


def test_the_case_page_shows_hash_list_matches_and_the_dashboard_counts_them(console: Served) -> None:
    import hashlib

    from takedown.hash_list_import import HashRow, ReadHashRow, import_hash_list
    from takedown.revisits import Fetch, record_fetches

    body = hashlib.sha1(b"stand-in").hexdigest()
    import_hash_list(
        console.store.session,
        iter([ReadHashRow(2, HashRow(sha1=body, category="csam", reference="<b>L-1</b>"))]),
        name="partner", version="v7", actor="t", clock=console.clock,
    )  # fmt: skip
    case_id = queue(console, "http://lm.example/x.jpg")
    with console.store.session() as session:
        record_fetches(
            session, [Fetch(case_id, console.clock.now(), http_status=200, final_url="http://x", sha1=body)]
        )
    client = signed_in_as(console, StaffRole.AUDITOR)
    page = client.get(f"/cases/{case_id}").text
    assert "partner v7: &lt;b&gt;L-1&lt;/b&gt; (sha1)" in page and "<b>L-1" not in page
    board = client.get("/").text
    assert re.search(r"Hash list entries in use</dt><dd>1<", board)
    assert re.search(r"Revisits that matched a list</dt><dd>1<", board)


def test_analysts_decide_portal_reports_and_auditors_only_read(console: Served) -> None:
    from takedown.portal_queue import awaiting
    from takedown.portal_reports import receive_report
    from takedown.portals import PortalChange, add_portal

    with console.store.session() as session:
        add_portal(session, "ke", PortalChange(country="KE", languages=["en"], partner="P"), actor="t",
                   now=console.clock.now())  # fmt: skip
        urls = [
            "http://pr.example/<script>1</script>.jpg",
            "http://pr.example/2.jpg",
            "http://pr.example/3.jpg",
        ]
        received = receive_report(session, "ke", urls, content="images", now=console.clock.now())
    auditor = signed_in_as(console, StaffRole.AUDITOR)
    page = auditor.get("/reports").text
    assert received.reference in page and "hxxp://pr[.]example/&lt;script&gt;1&lt;/script&gt;.jpg" in page
    assert 'name="url"' not in page and "<script>1" not in page and 'href="http' not in page
    assert (
        auditor.post(
            "/reports", data={"csrf": csrf_of(auditor), "url": "1", "decision": "confirm"}
        ).status_code
        == 403
    )

    analyst = console.client()
    console.account("ana", StaffRole.ANALYST)
    sign_in(analyst, "ana")
    csrf = csrf_of(analyst, "/reports")
    with console.store.session() as session:
        ids = [row.id for row in awaiting(session)]
    decision = {"decision": "confirm", "category": "csam", "classification": "A1"}
    confirmed = analyst.post("/reports", data={"csrf": csrf, "url": [str(ids[0]), str(ids[1])], **decision})
    assert (
        confirmed.status_code == 303
        and "2+of+2+decided%2C+2+case%28s%29+opened" in confirmed.headers["location"]
    )
    refused = analyst.post("/reports", data={"csrf": csrf, "url": str(ids[2]), "decision": "refer"})
    assert refused.status_code == 400 and "names the country" in refused.text
    referred = analyst.post(
        "/reports", data={"csrf": csrf, "url": str(ids[2]), "decision": "refer", "country": "br"}
    )
    assert "1+of+1+decided" in referred.headers["location"]
    assert "Nothing waits for a decision." in analyst.get("/reports").text
    with console.store.session() as session:
        reasons = session.scalars(select(Case.reference).order_by(Case.id)).all()
    assert reasons == [received.reference, received.reference]  # the cases carry the report's reference


def test_reports_are_assessed_one_at_a_time_with_what_their_revisit_saw(console: Served) -> None:
    from takedown.policy import ChasePolicy
    from takedown.portal_reports import receive_report, record_revisits
    from takedown.portals import PortalChange, add_portal
    from takedown.revisits import Fetch

    with console.store.session() as session:
        add_portal(session, "ke", PortalChange(country="KE", languages=["en"], partner="P"), actor="t",
                   now=console.clock.now())  # fmt: skip
        first = receive_report(
            session, "ke", ["http://one.example/a.jpg", "http://one.example/b.jpg"], content="videos",
            details="see http://elsewhere.example/ <b>now</b>", now=console.clock.now(),
        )  # fmt: skip
        second = receive_report(
            session, "ke", ["http://two.example/c.jpg"], content="images", now=console.clock.now()
        )
        ids = session.scalars(select(PortalUrl.id).order_by(PortalUrl.id)).all()
        record_revisits(
            session, [(ids[0], Fetch(0, console.clock.now(), http_status=404))], policy=ChasePolicy(),
            now=console.clock.now(),
        )  # fmt: skip
    auditor = signed_in_as(console, StaffRole.AUDITOR)
    page = auditor.get("/reports/assess").text
    assert first.reference in page and second.reference not in page and "2 report(s) wait" in page
    assert "gone (HTTP 404)" in page and "not revisited yet" in page
    assert "hxxp://elsewhere[.]example/ &lt;b&gt;now&lt;/b&gt;" in page  # the reporter's words, as text
    assert 'name="decision"' not in page
    assert auditor.post("/reports/assess", data={"csrf": csrf_of(auditor), "url": str(ids[0]),
                                                 "decision": "not_found"}).status_code == 403  # fmt: skip
    assert "How each portal" in auditor.get("/reports").text

    analyst = console.client()
    console.account("ana", StaffRole.ANALYST)
    sign_in(analyst, "ana")
    csrf = csrf_of(analyst, "/reports/assess")
    one = analyst.post("/reports/assess", data={"csrf": csrf, "url": str(ids[0]), "decision": "not_found",
                                                "reference": first.reference})  # fmt: skip
    assert one.status_code == 303 and one.headers["location"].startswith("/reports/assess?done=")
    page = analyst.get(one.headers["location"]).text
    assert f"{first.reference}: 1 URL(s) not_found" in page
    assert first.reference in page and "hxxp://one[.]example/b.jpg" in page
    skipped = analyst.get(f"/reports/assess?after={_report_id(console, first.reference)}").text
    assert second.reference in skipped and first.reference not in skipped
    rest = {"csrf": csrf, "url": [str(ids[1])], "decision": "confirm", "category": "csam"}
    both = analyst.post("/reports/assess", data={**rest, "reference": first.reference})
    page = analyst.get(both.headers["location"]).text
    assert second.reference in page  # the next report, at once
    analyst.post(
        "/reports/assess", data={"csrf": csrf, "url": str(ids[2]), "decision": "refer", "country": "BR"}
    )
    assert "No report waits for a decision" in analyst.get("/reports/assess").text
    download = auditor.get("/reports/referrals.csv", params={"country": "br"})
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert 'filename="referrals-BR.csv"' in download.headers["content-disposition"]
    lines = download.text.splitlines()
    assert lines[0] == "url,reported_at,content,report,portal,referred_at"
    assert lines[1].startswith("http://two.example/c.jpg,") and f",images,{second.reference},ke," in lines[1]
    assert len(lines) == 2
    assert auditor.get("/reports/referrals.csv", params={"country": "Brazil"}).status_code == 400
    with console.store.session() as session:
        states = session.scalars(select(PortalUrl.state).order_by(PortalUrl.id)).all()
    assert states == ["not_found", "confirmed", "referred"]


def _report_id(console: Served, reference: str) -> int:
    from takedown.models import PortalReport

    with console.store.session() as session:
        return session.scalars(select(PortalReport.id).where(PortalReport.reference == reference)).one()
