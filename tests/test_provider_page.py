"""The provider page over HTTP: a notice's recipient sees its own open cases and nobody else's,
answers them, and "removed" brings the revisit forward; any bad link gets the same plain refusal."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from takedown.case_moves import withdraw
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.models import Case, Event, Notice, NoticeCase
from takedown.provider_access import issue_token, provider_key, revoke
from takedown.reports import Report, validate_report
from takedown.settings import sqlite_url
from takedown.store import Store
from takedown.vocabulary import StaffRole
from tests.console_support import Served, csrf_of, serve_console, sign_in

KEY = provider_key("provider-page-test-key-0123456789abcdef")


def with_reports(case_ids: list[int]) -> str:
    """A sent message carrying an X-ARF report per case, as the composer attaches them."""
    message = EmailMessage()
    message["Subject"] = "notice"
    message.set_content("text")
    for case_id in case_ids:
        report = json.dumps({"report_id": f"report-of-{case_id}", "type": "csam"}).encode()
        message.add_attachment(
            report, maintype="application", subtype="json", filename=f"xarf-case-{case_id}.json"
        )
    return message.as_string()


@pytest.fixture
def site(tmp_path: Path, clock: ManualClock) -> Iterator[tuple[httpx.Client, Store, dict[str, Any], Served]]:
    store = Store.open(sqlite_url(tmp_path / "console.db"))
    store.upgrade()
    urls = [
        "http://a.example/1.jpg",
        "http://a.example/2.jpg",
        "http://b.example/3.jpg",
        "http://a.example/4.jpg",
    ]
    with store.session() as session:
        reports = [validate_report(Report(url)) for url in urls]
        cases = [result.case_id for result in queue_batch(session, reports, actor="t", now=clock.now())]
        session.execute(update(Case).values(next_check_at=clock.now() + timedelta(days=1)))
        notices = {}
        for recipient, about in (("abuse@a.example", cases[:2] + cases[3:]), ("abuse@b.example", cases[2:3])):
            notice = Notice(recipient=recipient, level="initial", message_id=f"<{recipient}@t>", subject="s",
                            status="sent", created_at=clock.now(), sent_at=clock.now(),
                            message=with_reports(about))  # fmt: skip
            session.add(notice)
            session.flush()
            session.add_all(NoticeCase(notice_id=notice.id, case_id=case_id) for case_id in about)
            notices[recipient] = notice.message_id
        withdraw(session, cases[3], reason="test", actor="t", now=clock.now())  # closed: not shown
    ids = {"a": notices["abuse@a.example"], "b": notices["abuse@b.example"], **{f"case{n}": c for n, c in
           enumerate(cases, 1)}}  # fmt: skip
    try:
        with (
            serve_console(store, clock, provider_key=KEY) as served,
            httpx.Client(base_url=served.url, follow_redirects=False, timeout=10) as client,
        ):
            yield client, store, ids, served
    finally:
        store.dispose()


def test_a_recipient_sees_its_own_open_cases_and_nothing_else(site, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    client, _, ids, _served = site
    token = issue_token(KEY, "abuse@a.example", ids["a"], now=clock.now())
    page = client.get(f"/provider/{token}")
    assert page.status_code == 200
    assert "hxxp://a[.]example/1.jpg" in page.text and "hxxp://a[.]example/2.jpg" in page.text
    assert "b[.]example" not in page.text and "a[.]example/4.jpg" not in page.text  # another's; closed
    assert 'href="http' not in page.text and "<img" not in page.text
    assert "set-cookie" not in page.headers and page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["cache-control"] == "no-store"


def test_every_bad_link_gets_the_same_plain_refusal(site, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    client, store, ids, _served = site
    good = issue_token(KEY, "abuse@a.example", ids["a"], now=clock.now())
    expired = issue_token(KEY, "abuse@a.example", ids["a"], now=clock.now() - timedelta(days=91))
    someone_elses = issue_token(KEY, "abuse@a.example", ids["b"], now=clock.now())
    forged = issue_token(provider_key("x" * 40), "abuse@a.example", ids["a"], now=clock.now())
    refusals = [
        client.get(f"/provider/{bad}") for bad in (expired, someone_elses, forged, good[:-3], "nonsense")
    ]
    assert {r.status_code for r in refusals} == {403}
    assert len({r.text for r in refusals}) == 1 and "This link cannot be used" in refusals[0].text
    clock.advance(timedelta(seconds=1))
    with store.session() as session:
        revoke(session, "abuse@a.example", actor="analyst:t", now=clock.now())
    assert client.get(f"/provider/{good}").text == refusals[0].text


def test_removed_brings_the_revisit_forward_and_every_answer_is_attributed(site, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    client, store, ids, _served = site
    token = issue_token(KEY, "abuse@a.example", ids["a"], now=clock.now())
    answered = client.post(
        f"/provider/{token}",
        data={"case": [str(ids["case1"]), str(ids["case3"])], "answer": "removed", "ticket": "INC-42"},
    )
    assert answered.status_code == 303 and answered.headers["location"].startswith(f"/provider/{token}?done=")
    assert "answer on 1 case(s) is recorded" in client.get(answered.headers["location"]).text
    with store.session() as session:
        first = session.get_one(Case, ids["case1"])
        third = session.get_one(Case, ids["case3"])
        assert first.next_check_at == clock.now() and first.state == "queued"  # due now; still open
        assert third.next_check_at == clock.now() + timedelta(days=1)  # not theirs: untouched
        events = session.execute(
            select(Event.case_id, Event.actor, Event.action, Event.detail).where(
                Event.action.like("provider_%")
            )
        ).all()
        rechecks = session.scalars(select(Event.actor).where(Event.action == "recheck_requested")).all()
    assert [tuple(e) for e in events] == [
        (ids["case1"], "provider:abuse@a.example", "provider_removed", {"ticket": "INC-42"})
    ]
    assert rechecks == ["provider:abuse@a.example"]
    no_reason = client.post(f"/provider/{token}", data={"case": str(ids["case2"]), "answer": "not_ours"})
    assert no_reason.status_code == 400 and "say why" in no_reason.text
    cross_site = client.post(f"/provider/{token}", data={"case": str(ids["case2"]), "answer": "removed"},
                             headers={"Origin": "https://elsewhere.example"})  # fmt: skip
    assert cross_site.status_code == 403
    why = client.post(f"/provider/{token}", data={"case": str(ids["case2"]), "answer": "not_ours",
                                                  "reason": "we moved it to another provider"})  # fmt: skip
    assert why.status_code == 303


def test_the_reports_as_sent_can_be_downloaded_for_own_open_cases_only(site, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    client, _, ids, _served = site
    token = issue_token(KEY, "abuse@a.example", ids["a"], now=clock.now())
    page = client.get(f"/provider/{token}").text
    assert f'href="/provider/{token}/reports/xarf-case-{ids["case1"]}.json"' in page
    one = client.get(f"/provider/{token}/reports/xarf-case-{ids['case1']}.json")
    assert one.status_code == 200 and one.json() == {"report_id": f"report-of-{ids['case1']}", "type": "csam"}
    assert one.headers["content-disposition"].startswith("attachment;")
    assert one.headers["content-type"] == "application/json"
    for not_theirs in (ids["case3"], ids["case4"], 999):  # another recipient's; closed; none at all
        refused = client.get(f"/provider/{token}/reports/xarf-case-{not_theirs}.json")
        assert refused.status_code == 404 and "report-of" not in refused.text
    bundle = client.get(f"/provider/{token}/reports.zip")
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        assert sorted(archive.namelist()) == sorted(f"xarf-case-{ids[c]}.json" for c in ("case1", "case2"))
    forged = issue_token(provider_key("y" * 40), "abuse@a.example", ids["a"], now=clock.now())
    assert client.get(f"/provider/{forged}/reports.zip").status_code == 403


def test_not_ours_waits_in_the_console_inbox_until_an_analyst_handles_it(site, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    provider, store, ids, served = site
    token = issue_token(KEY, "abuse@a.example", ids["a"], now=clock.now())
    reason = "<script>alert(1)</script> moved to http://c.example/ last week"
    answered = provider.post(f"/provider/{token}", data={"case": [str(ids["case1"]), str(ids["case2"])],
                             "answer": "not_ours", "reason": reason, "ticket": "T-9"})  # fmt: skip
    assert answered.status_code == 303
    served.account("ana", StaffRole.ANALYST)
    served.account("aud", StaffRole.AUDITOR)
    with served.client() as auditor:
        sign_in(auditor, "aud")
        listed = auditor.get("/inbox")
        assert listed.status_code == 200 and "says not theirs (provider page)" in listed.text
        assert "&lt;script&gt;" in listed.text and "<script>alert" not in listed.text
        assert "hxxp://c[.]example/" in listed.text and "T-9" in listed.text
        assert 'name="message"' not in listed.text  # an auditor reads; it cannot mark handled
        [message_id] = re.findall(r'href="/inbox/(\d+)"', listed.text)
        assert auditor.post("/inbox", data={"message": message_id}).status_code in (400, 403)
    with served.client() as analyst:
        sign_in(analyst, "ana")
        case_page = analyst.get(f"/cases/{ids['case1']}").text
        assert (
            "the provider says it is not theirs" in case_page and f'href="/inbox/{message_id}"' in case_page
        )
        no_token = analyst.post("/inbox", data={"message": message_id, "note": "x"})
        assert no_token.status_code == 403
        handled = analyst.post("/inbox", data={"message": message_id, "note": "asked the CDN",
                                               "csrf": csrf_of(analyst, "/inbox")})  # fmt: skip
        assert handled.status_code == 303
        assert "Nothing waiting" in analyst.get("/inbox").text
        assert "asked the CDN" in analyst.get(f"/cases/{ids['case2']}").text
        assert "by analyst:ana" in analyst.get("/inbox?handled=1").text
    with store.session() as session:
        events = session.scalars(select(Event.action).where(Event.case_id == ids["case1"])).all()
    assert "provider_not_ours" in events and "inbox_handled" in events


def test_a_recipients_links_are_rate_limited_and_failed_links_per_address(
    tmp_path: Path, clock: ManualClock
) -> None:
    from faces.console.serve import serving
    from faces.provider.app import create_provider_app

    store = Store.open(sqlite_url(tmp_path / "limits.db"))
    store.upgrade()
    with store.session() as session:
        for recipient in ("abuse@a.example", "abuse@b.example"):
            session.add(Notice(recipient=recipient, level="initial", message_id=f"<{recipient}@t>",
                               subject="s", status="sent", created_at=clock.now()))  # fmt: skip
    app = create_provider_app(store, clock=clock, key=KEY, requests_per_link=(3, 600.0))
    a = issue_token(KEY, "abuse@a.example", "<abuse@a.example@t>", now=clock.now())
    b = issue_token(KEY, "abuse@b.example", "<abuse@b.example@t>", now=clock.now())
    try:
        with serving(app) as url, httpx.Client(base_url=url, timeout=10) as client:
            assert [client.get(f"/{a}").status_code for _ in range(4)] == [200, 200, 200, 429]
            assert "Too many requests" in client.get(f"/{a}").text
            assert client.get(f"/{b}").status_code == 200  # another recipient is not held back
            assert {client.get(f"/{b[:-2]}").status_code for _ in range(20)} == {403}
            assert client.get(f"/{b}").status_code == 429  # 20 bad links from this address: refused
    finally:
        store.dispose()
