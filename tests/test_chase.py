"""The chase end to end on the sandbox: weeks of revisits, notices, reminders, escalations and
closures, on an accelerated clock, with real crawls (child processes) and real SMTP."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from sandbox import Sandbox, Scenario
from schedules.jobs import crawl_job, notify_job
from takedown.case_views import CaseFilter
from takedown.cases import list_cases
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.models import Case, Event, Notice
from takedown.policy import ChasePolicy
from takedown.reports import Report, validate_report
from takedown.settings import Settings
from takedown.stats import removal_stats
from takedown.store import Store

pytestmark = pytest.mark.e2e

POLICY = """
[revisit_hours]
live = 48
gone = 24
unreachable = 24
[removal]
confirm_after_hours = 24
[notices]
reminder_after_hours = 48
reminders = 2
ladder = [["registrar", "cdn"], ["upstream"]]
analyst_after = 6
"""

SCENARIO = {
    "hosts": {
        "quick.test": "127.0.50.1",
        "slow.test": "127.0.51.1",
        "stubborn.test": "127.0.52.1",
        "never.test": "127.0.53.1",
        "edge.sandcdn.test": "127.0.54.1",
    },
    "records": {"cdn-fronted.test": {"CNAME": ["edge.sandcdn.test"]}},
    "paths": {
        "quick.test": {"/a.jpg": {"serve": "img-a"}},
        "slow.test": {"/b.jpg": {"serve": "img-b"}},
        "stubborn.test": {"/c.jpg": {"serve": "img-c"}},
        "never.test": {"/e.jpg": {"serve": "img-e"}},
        "cdn-fronted.test": {"/d.mp4": {"serve": "clip-d"}},
    },
    "networks": [
        {
            "cidr": "127.0.50.0/24",
            "registry": "ripe",
            "organisation": "Quick Hosting",
            "country": "NL",
            "abuse": "abuse@quick.test",
            "asn": 64550,
        },
        {
            "cidr": "127.0.51.0/24",
            "registry": "arin",
            "organisation": "Slow Hosting",
            "country": "US",
            "abuse": "abuse@slow.test",
            "asn": 64551,
        },
        {
            "cidr": "127.0.52.0/24",
            "registry": "lacnic",
            "organisation": "Stubborn Hosting",
            "country": "BR",
            "abuse": "abuse@stubborn.test",
            "asn": 64552,
        },
        {
            "cidr": "127.0.53.0/24",
            "registry": "afrinic",
            "organisation": "Never Hosting",
            "country": "MU",
            "abuse": "abuse@never.test",
            "asn": 64553,
        },
        {
            "cidr": "127.0.54.0/24",
            "registry": "apnic",
            "organisation": "SandCDN Pty Ltd",
            "country": "AU",
            "abuse": "abuse@sandcdn.test",
            "asn": 64499,
        },
    ],
    "autnums": [
        {
            "asn": 64553,
            "registry": "afrinic",
            "organisation": "Never Hosting",
            "abuse": "abuse@never.test",
            "peers": [64560],
        },
        {"asn": 64560, "registry": "ripe", "organisation": "Transit plc", "abuse": "abuse@transit.test"},
    ],
    "domains": [
        {"domain": name, "registrar": "Example Registrar, Inc.", "abuse": "abuse@registrar.test"}
        for name in ("quick.test", "slow.test", "stubborn.test", "never.test", "cdn-fronted.test")
    ],
    "changes": [
        {
            "after": "notice:abuse@quick.test",
            "count": 1,
            "host": "quick.test",
            "path": "/a.jpg",
            "then": {"status": 404},
        },
        {
            "after": "notice:abuse@slow.test",
            "count": 3,
            "host": "slow.test",
            "path": "/b.jpg",
            "then": {"status": 410},
        },
        {"after": "notice:abuse@registrar.test", "count": 1, "name": "stubborn.test", "records": None},
        {
            "after": "notice:abuse@sandcdn.test",
            "count": 1,
            "host": "cdn-fronted.test",
            "path": "/d.mp4",
            "then": {"status": 451},
        },
    ],
}


def test_weeks_of_chasing_close_every_case_the_policy_can_and_flag_the_rest(
    database_url: str, tmp_path: Path
) -> None:
    policy_file = tmp_path / "chase.toml"
    policy_file.write_text(POLICY, encoding="utf-8")
    assert ChasePolicy.load(policy_file).level_for(5) is None
    clock = ManualClock()
    store = Store.open(database_url)
    with Sandbox.from_scenario(Scenario.from_dict(SCENARIO)) as world:
        settings = Settings.from_env(
            {
                **world.environment(),
                "TAKEDOWN_DATABASE_URL": database_url,
                "TAKEDOWN_CHASE_POLICY": str(policy_file),
                "TAKEDOWN_FETCH_TIMEOUT": "5",
                "TAKEDOWN_HOME": str(tmp_path),
            }
        )
        urls = {
            "quick": world.url("quick.test", "/a.jpg"),
            "slow": world.url("slow.test", "/b.jpg"),
            "stubborn": world.url("stubborn.test", "/c.jpg"),
            "never": world.url("never.test", "/e.jpg"),
            "cdn": world.url("cdn-fronted.test", "/d.mp4"),
        }
        with store.session() as session:
            queued = queue_batch(
                session,
                [validate_report(Report(u)) for u in urls.values()],
                actor="analyst:t",
                now=clock.now(),
            )
        ids = {name: result.case_id for name, result in zip(urls, queued, strict=True)}
        start = clock.now()
        for _ in range(8):  # 16 days, a step every two
            # five cases are not worth a second Scrapy process, whatever the cores
            assert crawl_job(settings, clock.now()).get("processes", 0) <= 1
            notify_job(settings, store, clock)
            clock.advance(timedelta(days=2))

        received = Counter(r.lower() for m in world.smtp.messages for r in m.recipients)
    assert received == {
        "abuse@quick.test": 1,
        "abuse@slow.test": 3,
        "abuse@stubborn.test": 3,
        "abuse@never.test": 3,
        "abuse@sandcdn.test": 1,
        "abuse@registrar.test": 1,  # stubborn and never, one notice listing both
        "abuse@transit.test": 1,  # never's upstream, after the registrar did not help
    }
    with store.session() as session:
        cases = {name: session.get(Case, case_id) for name, case_id in ids.items()}
        states = {name: case.state for name, case in cases.items() if case is not None}
        assert states == {
            "quick": "removed",
            "slow": "removed",
            "stubborn": "removed",
            "cdn": "removed",
            "never": "live",
        }
        never = cases["never"]
        assert never is not None and never.needs_analyst and never.next_notice_at is None
        quick = cases["quick"]
        assert quick is not None and quick.first_seen_live_at == start
        assert quick.removed_at == start + timedelta(days=2)  # first seen gone, confirmed two days later
        levels = Counter(n.level for n in session.query(Notice))
        assert levels == {"initial": 5, "reminder": 6, "escalation": 2}  # reminders: slow, stubborn, never x2
        assert session.query(Notice).filter(Notice.status != "sent").count() == 0
        assert session.query(Event).filter_by(case_id=ids["never"], action="needs_analyst").count() == 1
        by_country = {row.group: row for row in removal_stats(session, "country")}
        assert [case.id for case in list_cases(session, CaseFilter(needs_analyst=True))] == [ids["never"]]
    assert by_country["NL"].removed == 1 and by_country["NL"].median_hours == 48.0
    assert by_country["NL"].within_24h == 0.0 and by_country["NL"].within_7d == 1.0
    assert by_country["MU"].removed == 0 and by_country["MU"].still_open == 1
    assert by_country["all"].removed == 4
    store.dispose()
