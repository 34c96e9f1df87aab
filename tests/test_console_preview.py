"""The console's notice previews, on the sandbox: what a case's next round, or a notice's recipient,
would get now, composed with the real resolver and templates, and neither kept nor sent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from notices.outbox import Outbox
from notices.preview import NoticePreviewer
from sandbox import Sandbox
from takedown.clock import ManualClock
from takedown.models import Notice
from takedown.settings import Settings
from takedown.store import Store
from takedown.vocabulary import StaffRole
from tests.console_support import Served, serve_console, sign_in
from tests.worlds import composer, make_live


@pytest.fixture
def settings(world: Sandbox, tmp_path: Path) -> Settings:
    return Settings.from_env({**world.environment(), "TAKEDOWN_HOME": str(tmp_path)})


@pytest.fixture
def served(store: Store, clock: ManualClock, settings: Settings) -> Iterator[Served]:
    with serve_console(store, clock, previewer=NoticePreviewer(settings, store, clock)) as running:
        running.account("ana", StaffRole.AUDITOR)
        yield running


def notices_kept(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count(Notice.id))) or 0)


def test_a_live_case_previews_its_next_notice_without_keeping_or_sending_it(
    world: Sandbox, served: Served
) -> None:
    url = world.url("host-a.test", "/previewed.jpg")
    [case_id] = make_live(served.store, served.clock, {url: "127.0.40.1"}).values()
    client = served.client()
    sign_in(client, "ana")  # an auditor: a preview only reads
    case_page = client.get(f"/cases/{case_id}").text
    assert f'href="/cases/{case_id}/preview"' in case_page

    page = client.get(f"/cases/{case_id}/preview")
    assert page.status_code == 200
    assert "To abuse@host-a.test" in page.text and "<strong>initial</strong>" in page.text
    assert "xarf" in page.text  # its X-ARF report, as text
    assert "hxxp://host-a[.]test" in page.text and "http://host-a.test" not in page.text
    hrefs = re.findall(r'(?:href|src|action)="([^"]*)"', page.text)
    assert all(h == "#main" or (h.startswith("/") and not h.startswith("//")) for h in hrefs)
    assert world.smtp.messages == [] and notices_kept(served.store) == 0

    escalation = client.get(f"/cases/{case_id}/preview", params={"level": "escalation"}).text
    assert "<strong>escalation</strong>" in escalation and "abuse@registrar.test" in escalation
    assert client.get(f"/cases/{case_id}/preview", params={"level": "<script>"}).status_code == 400
    assert client.get("/cases/999/preview").status_code == 404


def test_after_a_round_the_preview_is_the_reminder_to_the_same_recipient(
    world: Sandbox, served: Served, settings: Settings
) -> None:
    url = world.url("host-a.test", "/reminded.jpg")
    [case_id] = make_live(served.store, served.clock, {url: "127.0.40.1"}).values()
    notices = composer(served.store, settings, served.clock)
    notices.compose_round([case_id], level="initial", now=served.clock.now())
    Outbox(served.store, settings, served.clock).deliver_due()
    assert len(world.smtp.messages) == 1
    with served.store.session() as session:
        notice_id = session.scalars(select(Notice.id)).one()
    client = served.client()
    sign_in(client, "ana")

    assert "<strong>reminder</strong>" in client.get(f"/cases/{case_id}/preview").text
    page = client.get(f"/notices/{notice_id}")
    assert f'href="/notices/{notice_id}/preview"' in page.text
    again = client.get(f"/notices/{notice_id}/preview").text
    assert "To abuse@host-a.test" in again and "<strong>reminder</strong>" in again
    assert f'href="/cases/{case_id}"' in again
    assert len(world.smtp.messages) == 1 and notices_kept(served.store) == 1


def test_without_the_pipelines_settings_a_preview_says_it_is_unavailable(console: Served) -> None:
    console.account("ana", StaffRole.AUDITOR)
    client = console.client()
    sign_in(client, "ana")
    page = client.get("/cases/1/preview")
    assert page.status_code == 503 and "not available" in page.text
