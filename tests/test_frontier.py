"""The shared Redis frontier: fed idempotently, claimed exclusively, leases that return to the queue,
and a crawl on a second "machine" that revisits what it claimed. Runs against the real Redis of
TAKEDOWN_TEST_REDIS_URL (skipped with a reason without it; CI requires it)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.frontier import RedisFrontier
from sandbox import Sandbox
from takedown.clock import SystemClock
from takedown.intake import queue_batch
from takedown.models import Check
from takedown.reports import Report, validate_report
from takedown.settings import sqlite_url
from takedown.store import Store


@pytest.fixture
def frontier(redis_url: str) -> Iterator[RedisFrontier]:
    queue = RedisFrontier(redis_url, key=f"test:{uuid.uuid4().hex}", lease_seconds=60)
    yield queue
    queue.clear()


def test_feeding_is_idempotent_and_claims_come_oldest_first(frontier: RedisFrontier) -> None:
    assert frontier.feed([3, 1, 2]) == 3
    assert frontier.feed([1, 2, 4]) == 1  # 1 and 2 are already queued
    assert frontier.claim(2) == [3, 1]
    assert frontier.feed([3]) == 0  # leased to a crawler: not queued again
    assert frontier.sizes() == {"pending": 2, "leased": 2}
    frontier.acknowledge([3, 1])
    assert frontier.claim(10) == [2, 4]
    assert frontier.claim(10) == []


def test_a_lease_not_acknowledged_returns_to_the_queue(redis_url: str) -> None:
    queue = RedisFrontier(redis_url, key=f"test:{uuid.uuid4().hex}", lease_seconds=0.5)
    try:
        queue.feed([7])
        assert queue.claim(5) == [7]
        assert queue.claim(5) == []  # still leased
        time.sleep(0.7)  # the worker died: its lease runs out
        assert queue.claim(5) == [7]
    finally:
        queue.clear()


def test_concurrent_workers_never_claim_the_same_case(frontier: RedisFrontier) -> None:
    frontier.feed(range(1, 2001))
    claimed: list[list[int]] = [[] for _ in range(8)]

    def work(n: int) -> None:
        while batch := frontier.claim(25):
            claimed[n].extend(batch)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [case_id for batch in claimed for case_id in batch]
    assert sorted(everything) == list(range(1, 2001))  # each exactly once


def test_a_crawler_machine_revisits_what_it_claims_and_acknowledges_it(
    redis_url: str, frontier: RedisFrontier, tmp_path: Path
) -> None:
    database_url = sqlite_url(tmp_path / "takedown.db")
    store = Store.open(database_url)
    with Sandbox({"host-f.test": "127.0.70.1"}) as world:
        urls = [world.url("host-f.test", f"/{n}.jpg") for n in range(5)]
        with store.session() as session:
            results = queue_batch(
                session,
                [validate_report(Report(u)) for u in urls],
                actor="analyst:t",
                now=SystemClock().now(),
            )
        env = {
            **os.environ,
            **world.environment(),
            "TAKEDOWN_DATABASE_URL": database_url,
            "TAKEDOWN_HOME": str(tmp_path),
            "TAKEDOWN_FRONTIER": f"{redis_url}",
            "TAKEDOWN_FETCH_TIMEOUT": "5",
        }
        default = RedisFrontier(redis_url)  # the key the CLI uses; the test database is ours to clear
        default.clear()

        def takedown(*args: str) -> subprocess.CompletedProcess[str]:
            done = subprocess.run(
                [sys.executable, "-m", "faces.cli", *args, "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr[-2000:]
            return done

        try:
            assert '"added": 5' in takedown("frontier", "feed").stdout
            assert '"revisited": 3' in takedown("crawl", "--batch", "3").stdout
            assert default.sizes() == {"pending": 2, "leased": 0}  # the three are acknowledged
            assert '"revisited": 2' in takedown("crawl", "--batch", "3").stdout
            assert "frontier empty" in takedown("crawl").stdout
        finally:
            default.clear()
    with store.session() as session:
        checked = {check.case_id for check in session.query(Check)}
    assert checked == {result.case_id for result in results}
    store.dispose()
