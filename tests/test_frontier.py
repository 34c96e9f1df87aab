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


def test_leases_are_renewed_and_given_back_only_by_their_holder(redis_url: str) -> None:
    key = f"test:{uuid.uuid4().hex}"
    # Renewed every 0.6 s, past a lease of 1.5 s: a loaded CI machine may stall a while between
    # renewals without the lease running out under the test.
    first = RedisFrontier(redis_url, key=key, lease_seconds=1.5, holder="crawler-a")
    second = RedisFrontier(redis_url, key=key, lease_seconds=1.5, holder="crawler-b")
    try:
        first.feed([1, 2, 3, 4])
        assert first.claim(3) == [1, 2, 3]
        assert second.release([1, 2, 3]) == 0  # not b's to give back
        for _ in range(3):  # a crawler still busy with its cases keeps them past the first lease
            time.sleep(0.6)
            assert first.renew() == 3
        assert second.claim(10) == [4]
        first.acknowledge([1])
        status = first.status()
        assert (status.pending, status.leased) == (0, 3)
        assert [(h.holder, h.leased, h.expired) for h in status.holders] == [
            ("crawler-a", 2, 0),
            ("crawler-b", 1, 0),
        ]
        assert first.release() == 2  # a graceful stop: 2 and 3 go back at once, to the front
        assert second.claim(10) == [2, 3]
        assert first.held == set() and second.held == {2, 3, 4}
    finally:
        first.clear()


def test_a_lapsed_lease_is_shown_as_such_and_taken_back_by_the_next_claim(redis_url: str) -> None:
    key = f"test:{uuid.uuid4().hex}"
    dead = RedisFrontier(redis_url, key=key, lease_seconds=0.2, holder="dead-crawler")
    alive = RedisFrontier(redis_url, key=key, lease_seconds=60, holder="alive")
    try:
        dead.feed([5, 6])
        dead.claim(2)
        time.sleep(0.4)
        [held] = alive.status().holders
        assert (held.holder, held.leased, held.expired) == ("dead-crawler", 2, 2)
        assert held.oldest_seconds >= 0.3
        assert alive.claim(5) == [5, 6]
        assert dead.renew() == 0  # too late: they are another crawler's now
    finally:
        dead.clear()


def test_an_unreachable_frontier_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {**os.environ, "TAKEDOWN_HOME": str(tmp_path), "TAKEDOWN_FRONTIER": "redis://127.0.0.1:1/0"}
    for args in (["frontier", "status"], ["frontier", "feed"], ["crawl"]):
        done = subprocess.run(
            [sys.executable, "-m", "faces.cli", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 1, (args, done.stderr)
        assert done.stderr.startswith("error: the frontier's Redis at 127.0.0.1:1 failed"), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
