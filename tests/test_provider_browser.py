"""A hosting provider in a real browser (Playwright driving Debian's Chromium): it follows the link
in the signed notice it received, marks two of its three cases removed with its ticket number, and
the pipeline revisits those two at once; only the one whose content is really gone moves towards
closing, and it closes when a second revisit confirms it."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from notices.message import signed_content
from notices.outbox import Outbox
from sandbox import Sandbox
from sandbox.web import Serve
from schedules.jobs import crawl_job
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.models import Case, Event
from takedown.provider_access import provider_key
from takedown.reports import Report, validate_report
from takedown.settings import Settings
from takedown.store import Store
from tests.browsing import follow
from tests.console_support import serve_console
from tests.worlds import composer

pytestmark = pytest.mark.e2e

SECRET = "provider-browser-test-key-0123456789abcdef"


def test_a_provider_marks_two_cases_removed_from_the_link_in_its_notice(
    browser_page: Any, world: Sandbox, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    paths = ["/p/1.jpg", "/p/2.jpg", "/p/3.jpg"]
    for n, path in enumerate(paths, 1):
        world.site.set("host-a.test", path, Serve(f"provider-img-{n}"))
    url = store.engine.url.render_as_string(hide_password=False)
    environment = {"TAKEDOWN_HOME": str(tmp_path), "TAKEDOWN_DATABASE_URL": url}
    base = Settings.from_env({**world.environment(), **environment})
    with store.session() as session:
        queued = queue_batch(session, [validate_report(Report(world.url("host-a.test", p))) for p in paths],
                             actor="analyst:t", now=clock.now())  # fmt: skip
    ids = [result.case_id for result in queued]
    crawl_job(base, clock.now())  # the first revisit: all three live
    with serve_console(store, clock, provider_key=provider_key(SECRET)) as served:
        settings = dataclasses.replace(base, provider_key=SECRET, public_url=served.url)
        notices = composer(store, settings, clock)
        notices.compose_round(notices.due_case_ids(clock.now()), level="initial", now=clock.now())
        Outbox(store, settings, clock).deliver_due()
        [mail] = [m.message for m in world.smtp.received_by("abuse@host-a.test")]
        text = signed_content(mail).get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        [link] = re.findall(rf"^{re.escape(served.url)}/provider/\S+", text, re.M)

        world.site.set("host-a.test", paths[0], None)  # the provider really removed the first only
        clock.advance(timedelta(hours=1))
        page = browser_page
        page.goto(link)
        assert page.locator("h1").inner_text() == "Open cases notified to abuse@host-a.test"
        assert page.locator("input[name=case]").count() == 3
        assert page.locator("text=hxxp://host-a[.]test").count() == 3  # text, defanged
        page.uncheck(f"#case-{ids[2]}")
        page.check("input[value=removed]")
        page.fill("#ticket", "HA-2026-0042")
        follow(page, "button[type=submit]")
        assert "your answer on 2 case(s) is recorded" in page.locator(".done").inner_text()
        assert page.context.cookies() == []
        assert page.problems == [], page.problems

    with store.session() as session:
        due = dict(session.execute(select(Case.id, Case.next_check_at).where(Case.id.in_(ids))).all())
        answered = session.execute(
            select(Event.case_id, Event.actor, Event.detail).where(Event.action == "provider_removed")
        ).all()
    assert due[ids[0]] == due[ids[1]] == clock.now() and due[ids[2]] > clock.now()  # revisited at once
    assert sorted((case_id, actor, detail["ticket"]) for case_id, actor, detail in answered) == [
        (ids[0], "provider:abuse@host-a.test", "HA-2026-0042"),
        (ids[1], "provider:abuse@host-a.test", "HA-2026-0042"),
    ]

    crawl_job(settings, clock.now())  # the next crawl: the claim is checked, not taken on trust
    states = {case.id: case.state for case in _cases(store, ids)}
    assert states == {ids[0]: "gone", ids[1]: "live", ids[2]: "live"}
    clock.advance(timedelta(hours=13))
    crawl_job(settings, clock.now())  # a second look agrees: the removal is confirmed
    assert {case.id: case.state for case in _cases(store, ids)}[ids[0]] == "removed"


def _cases(store: Store, ids: list[int]) -> list[Case]:
    with store.session() as session:
        return list(session.scalars(select(Case).where(Case.id.in_(ids))))
