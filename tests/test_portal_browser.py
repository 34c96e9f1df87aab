"""The reporting portal in a real browser (Playwright driving Debian's Chromium), with JavaScript
and without: a visitor whose browser speaks Swahili fixes a mistake and reports, switches to French
and reports again; no cookie is set, nothing breaks the strict Content-Security-Policy."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from faces.console.serve import serving
from faces.portal.app import create_portal_app
from takedown.clock import ManualClock
from takedown.models import PortalReport, PortalUrl
from takedown.store import Store
from tests.browsing import follow

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.e2e


@pytest.fixture
def portal(portal_store: Store, clock: ManualClock) -> Iterator[tuple[str, Store]]:
    with serving(create_portal_app(portal_store, clock=clock)) as url:
        yield url, portal_store


@pytest.mark.parametrize("javascript", [True, False], ids=["with-javascript", "without-javascript"])
def test_a_visitor_reports_in_two_languages(
    chromium_path: str, portal: tuple[str, Store], javascript: bool
) -> None:
    url, store = portal
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        context = browser.new_context(java_script_enabled=javascript, locale="sw-KE")
        page = context.new_page()
        page.set_default_timeout(10_000)
        problems: list[str] = []
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)

        page.goto(url + "/ke/")
        assert page.locator("html").get_attribute("lang") == "sw"
        assert page.locator("h1").inner_text() == "Ripoti maudhui ya unyanyasaji wa kingono dhidi ya watoto"
        page.fill("#urls", "www.pasted.example/a.jpg\nftp://files.example/b")
        page.check("input[value=videos]")
        page.fill("#details", "imeonekana leo")
        counter = page.locator(".counter")
        if javascript:
            assert counter.inner_text() == "1986 herufi zimebaki"
        else:
            assert counter.count() == 0
        follow(page, "button[type=submit]")
        alert = page.locator("#problems")
        assert "Tafadhali kagua ripoti yako" in alert.inner_text()
        assert "ftp://files.example/b" in alert.inner_text() and "http:// au https://" in alert.inner_text()
        assert page.input_value("#urls") == "www.pasted.example/a.jpg\nftp://files.example/b"  # kept to fix
        assert page.is_checked("input[value=videos]")
        page.fill("#urls", "www.pasted.example/a.jpg")
        follow(page, "button[type=submit]")
        assert "Asante: ripoti yako imepokelewa" in page.locator("h1").inner_text()
        first = page.locator(".reference").inner_text()
        assert re.fullmatch(r"R-[A-Z2-7]{10}", first)

        follow(page, "text=Tuma ripoti nyingine")  # make another report
        follow(page, "nav >> text=Français")
        assert page.locator("html").get_attribute("lang") == "fr"
        page.fill("#urls", "https://second.example/c.jpg")
        page.check("input[value=images]")
        follow(page, "button[type=submit]")
        assert "Merci : votre signalement a été reçu" in page.locator("h1").inner_text()
        second = page.locator(".reference").inner_text()

        assert context.cookies() == []
        refused = [text for text in problems if "status of 400" not in text]  # the form sent back to fix
        assert refused == [], refused  # no script or style refused by the policy, no other error
        browser.close()
    with store.session() as session:
        kept = dict(session.execute(select(PortalReport.reference, PortalReport.content)).all())
        urls = set(session.scalars(select(PortalUrl.url)))
    assert kept == {first: "videos", second: "images"}
    assert urls == {"http://www.pasted.example/a.jpg", "https://second.example/c.jpg"}
