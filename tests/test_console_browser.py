"""The console in a real browser (Playwright driving Debian's Chromium): what an analyst does with
a mouse and with the keyboard alone, under the console's strict Content-Security-Policy."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from takedown.intake import queue_batch
from takedown.models import Case, Check
from takedown.reports import Report, validate_report
from takedown.vocabulary import StaffRole
from tests.browsing import follow, press_and_follow
from tests.console_support import PASSWORD, Served

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(browser_page: object) -> object:
    return browser_page


def test_a_supervisor_signs_in_with_a_code_queues_finds_and_withdraws(console: Served, page) -> None:
    secret = console.account("sue", StaffRole.SUPERVISOR)
    assert secret
    with console.store.session() as session:  # one removal, 20 hours after it was seen live
        [result] = queue_batch(
            session,
            [validate_report(Report("http://gone.example/x.jpg"))],
            actor="t",
            now=console.clock.now(),
        )
        session.execute(
            update(Case)
            .where(Case.id == result.case_id)
            .values(state="removed", removed_at=console.clock.now(), removal_seconds=20 * 3600.0)
        )
    page.goto(console.url + "/cases")
    assert page.url.startswith(console.url + "/login")
    page.fill("#name", "sue")
    page.fill("#password", PASSWORD)
    follow(page, "button[type=submit]")
    page.wait_for_url(re.compile(r"/login/code"))
    page.fill("#code", console.code(secret))
    follow(page, "main button[type=submit]")
    page.wait_for_url(re.compile(r"/cases$"))  # back where they were going

    follow(page, "nav >> text=Queue URLs")
    page.fill("#urls", "http://pasted.example/one.jpg\nhttp://pasted.example/two.jpg\nnot a url")
    follow(page, "main button[type=submit]")
    rows = page.locator("section table tbody tr")
    assert rows.count() == 3
    assert "queued" in rows.nth(0).inner_text() and "refused" in rows.nth(2).inner_text()

    page.set_input_files(
        "#file",
        files=[{"name": "more.txt", "mimeType": "text/plain", "buffer": b"http://uploaded.example/a.jpg\n"}],
    )
    follow(page, "text=Queue the file")
    assert "queued 1, reopened 0, already open 0, refused 0" in page.locator("main").inner_text()

    follow(page, "nav >> text=Cases")
    page.fill("#host", "pasted.example")
    page.select_option("#state", "queued")
    follow(page, "form.filters button")
    assert page.locator("table.cases tbody tr").count() == 2
    assert "hxxp://pasted[.]example/one.jpg" in page.locator("table.cases").inner_text()
    assert page.locator("a[href^='http']").count() == 0  # never a live link

    follow(page, "table.cases tbody tr:first-child a")
    page.fill("#reason", "sent to the police instead")
    follow(page, "text=Withdraw case")
    assert "Done: withdrawn." in page.locator("main").inner_text()
    assert "withdrawn: sent to the police instead" in page.locator("main").inner_text()
    with console.store.session() as session:
        assert (
            session.scalar(select(Case.state).where(Case.url == "http://pasted.example/one.jpg"))
            == "withdrawn"
        )
    follow(page, "nav >> text=Dashboard")  # the time-to-removal chart, drawn by the server as SVG
    bars = page.locator("figure.chart svg rect.bar")
    assert bars.count() == 16  # 30 and 90 days, eight bars each
    assert bars.nth(2).bounding_box()["height"] > 0 and bars.nth(1).bounding_box()["height"] == 0
    assert page.problems == []  # type: ignore[attr-defined]  # no CSP violation, no script error


def test_the_main_flow_works_from_the_keyboard_alone(console: Served, page) -> None:
    console.account("ana", StaffRole.ANALYST)
    page.goto(console.url + "/login")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'name'")
    page.keyboard.type("ana")  # the name field has focus on arrival
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(console.url + "/")
    page.keyboard.press("Tab")  # the first stop is the skip link
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(12):  # then along the navigation to Queue URLs
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Queue URLs":
            break
    assert page.evaluate("document.activeElement.textContent") == "Queue URLs"
    page.keyboard.press("Enter")
    page.wait_for_url(console.url + "/queue")
    page.focus("#urls")
    page.keyboard.type("http://typed.example/a.jpg")
    for _ in range(3):  # category, reference, the button
        page.keyboard.press("Tab")
    press_and_follow(page, "Enter")
    assert "queued" in page.locator("section table tbody").inner_text()
    assert page.problems == []  # type: ignore[attr-defined]


def test_an_analyst_finds_a_changed_case_by_date_and_decides_it(console: Served, page) -> None:
    console.account("ana", StaffRole.ANALYST)
    ids = []
    for day in range(3):  # one case a day, 1 to 3 March; the second comes back changed
        with console.store.session() as session:
            [result] = queue_batch(
                session, [validate_report(Report(f"http://day{day}.example/x.jpg"))], actor="t",
                now=console.clock.now() + timedelta(days=day),
            )  # fmt: skip
        ids.append(result.case_id)
    with console.store.session() as session:
        session.execute(update(Case).where(Case.id == ids[1]).values(state="changed", next_check_at=None))
        session.add(
            Check(case_id=ids[1], checked_at=console.clock.now(), outcome="changed", http_status=200,
                  sha256="cd" * 32, md5="ef" * 16, fingerprint_match=False, truncated=False)
        )  # fmt: skip
    page.goto(console.url + "/login?next=/cases")
    page.fill("#name", "ana")
    page.fill("#password", PASSWORD)
    follow(page, "button[type=submit]")
    page.wait_for_url(re.compile(r"/cases$"))

    page.fill("#queued_from", "2026-03-02")  # a date field: the browser's own picker
    page.fill("#queued_to", "2026-03-02")
    follow(page, "form.filters button")
    rows = page.locator("table.cases tbody tr")
    assert rows.count() == 1 and "changed" in rows.first.inner_text()
    follow(page, "table.cases tbody tr:first-child a")
    page.check("input[name=decision][value=close]")
    page.fill("input[name=reason]", "a different file now: not the reported content")
    follow(page, "form[action$='/decide'] button")
    page.wait_for_url(re.compile(r"done="))
    main = page.locator("main").inner_text()
    assert "Done:" in main and "not the reported content" in main
    with console.store.session() as session:
        assert session.scalar(select(Case.state).where(Case.id == ids[1])) not in ("changed", "live")
    page.goto(console.url + "/cases")
    page.select_option("#order", "newest")
    follow(page, "form.filters button")
    assert page.locator("table.cases tbody tr").first.inner_text().startswith(str(ids[2]))
    assert page.problems == []  # type: ignore[attr-defined]


def test_an_analyst_assesses_portal_reports_with_single_keys(console: Served, page) -> None:
    from takedown.models import PortalUrl
    from takedown.portal_reports import receive_report
    from takedown.portals import PortalChange, add_portal

    console.account("ana", StaffRole.ANALYST)
    with console.store.session() as session:
        add_portal(session, "ke", PortalChange(country="KE", languages=["en"], partner="P"), actor="t",
                   now=console.clock.now())  # fmt: skip
        pair = ["http://k1.example/a", "http://k1.example/b"]
        first = receive_report(session, "ke", pair, content="images", now=console.clock.now())
        second = receive_report(
            session, "ke", ["http://k2.example/c"], content="videos", now=console.clock.now()
        )
        third = receive_report(
            session, "ke", ["http://k3.example/d"], content="other", now=console.clock.now()
        )
    page.goto(console.url + "/login")
    page.fill("#name", "ana")
    page.fill("#password", PASSWORD)
    follow(page, "button[type=submit]")
    page.wait_for_url(console.url + "/")
    page.goto(console.url + "/reports/assess")
    assert first.reference in page.locator("#report-heading").inner_text()
    # Each decision loads the next report; its keys work once that page has loaded (its script
    # comes last), so the next key waits for it: a heading alone can show before the script runs.
    press_and_follow(page, "n")  # both URLs of the report, not illegal; the next report at once
    assert second.reference in page.locator("#report-heading").inner_text()
    press_and_follow(page, "s")  # skipped
    assert third.reference in page.locator("#report-heading").inner_text()
    page.keyboard.press("r")  # a referral asks for its country first
    assert page.evaluate("document.activeElement.id") == "country"
    page.keyboard.type("tz")  # keys typed in a field are text, not shortcuts
    page.keyboard.press("Enter")  # Enter in the country field refers (never confirms)
    page.wait_for_selector("text=No report waits for a decision after the ones skipped")
    with console.store.session() as session:
        states = dict(session.execute(select(PortalUrl.url, PortalUrl.state)).all())
    assert states["http://k1.example/a"] == states["http://k1.example/b"] == "not_illegal"
    assert states["http://k2.example/c"] == "awaiting_revisit"  # skipped, still waiting
    assert states["http://k3.example/d"] == "referred"
    assert page.problems == []  # type: ignore[attr-defined]
