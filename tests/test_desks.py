"""The sandbox's abuse desks act as providers do, over the same channels: the link in the notice
to the provider page, and mail to the hotline's inbox; a scenario names what each desk does."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from hosting.contacts import bad_mailboxes
from notices.inbox_server import InboxServer
from notices.outbox import Outbox
from sandbox import HOTLINE_ADDRESS, Sandbox, Scenario
from sandbox.desks import Desk
from sandbox.scenario import ScenarioError
from takedown.clock import ManualClock
from takedown.inbox_views import inbox
from takedown.provider_access import provider_key
from takedown.settings import Settings
from takedown.store import Store
from tests.console_support import serve_console
from tests.worlds import composer, make_live

SECRET = "desks-test-provider-key-0123456789abcdef"


@pytest.fixture
def desks(world: Sandbox) -> Iterator[Sandbox]:
    yield world
    world.desks.desks, world.desks.done, world.desks.inbox = [], set(), None


def test_desks_answer_on_the_page_and_bounce_through_the_hotlines_own_channels(
    desks: Sandbox, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    world = desks
    world.desks.desks = [
        Desk("abuse@host-a.test", "page", answer="need_information", reason="Which customer?", ticket="A-77"),
        Desk("abuse@host-b.test", "bounce"),
    ]
    make_live(store, clock, {world.url("host-a.test", "/d/1.jpg"): "127.0.40.1",
                             world.url("host-b.test", "/d/2.jpg"): "127.0.41.1"})  # fmt: skip
    base = Settings.from_env({**world.environment(), "TAKEDOWN_HOME": str(tmp_path)})
    with (
        serve_console(store, clock, provider_key=provider_key(SECRET)) as served,
        InboxServer(store, clock, [HOTLINE_ADDRESS], port=0) as server,
    ):
        world.desks.inbox = server.address
        settings = dataclasses.replace(base, provider_key=SECRET, public_url=served.url)
        notices = composer(store, settings, clock)
        notices.compose_round(notices.due_case_ids(clock.now()), level="initial", now=clock.now())
        Outbox(store, settings, clock).deliver_due()
        said = world.desks.act()
        assert world.desks.act() == []  # each desk acts once
    assert said == [
        "abuse@host-a.test answered on the provider page: need information, 1 case(s) (ticket A-77)",
        "abuse@host-b.test bounced the notice (5.1.1: no such mailbox)",
    ]
    with store.reading() as session:
        [asked] = inbox(session, limit=10)
        [bounce] = inbox(session, limit=10, handled=True)
    assert (asked.channel, asked.kind, asked.text, asked.ticket) == (
        "page",
        "need_information",
        "Which customer?",
        "A-77",
    )
    assert (bounce.channel, bounce.kind, bounce.sender) == ("mail", "bounce", "mailer-daemon@googlemail.com")
    assert [mailbox.value for mailbox in bad_mailboxes(store)] == ["abuse@host-b.test"]


def test_a_scenarios_desks_are_checked_when_it_is_read() -> None:
    hosts = {"h.test": "127.0.0.2"}
    scenario = Scenario.from_dict(
        {"hosts": hosts, "desks": [{"mailbox": "abuse@h.test", "do": "page", "after": 2}]}
    )
    assert scenario.desks == [Desk("abuse@h.test", "page", after=2)]
    for bad, message in [
        ({"mailbox": "nobody", "do": "page"}, "needs 'mailbox'"),
        ({"mailbox": "abuse@h.test", "do": "phone"}, "'do' is one of page, reply, auto_reply, bounce"),
        ({"mailbox": "abuse@h.test", "do": "reply", "after": 0}, "'after' must be a whole number"),
        ({"mailbox": "abuse@h.test", "do": "reply", "when": 1}, "unknown key(s) when"),
    ]:
        with pytest.raises(ScenarioError, match=r"desks\[0\]"):
            Scenario.from_dict({"hosts": hosts, "desks": [bad]})
        with pytest.raises(ScenarioError) as refused:
            Scenario.from_dict({"hosts": hosts, "desks": [bad]})
        assert message in str(refused.value)
