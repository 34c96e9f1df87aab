"""A fleet of crawler machines on one store and one frontier: three workers (`takedown crawl
--frontier --forever`) share the cases, a server is never asked more than its limit at once
whichever crawler asks, and a worker stopped with SIGTERM mid-batch gives back what it had not
checked, which the others then check: every case exactly once. Real Redis, real store, real
sandbox server; skipped (failing in CI) without Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crawler.frontier import RedisFrontier
from sandbox import Sandbox
from sandbox.web import Serve
from takedown.clock import SystemClock
from takedown.intake import queue_batch
from takedown.models import Check
from takedown.reports import Report, validate_report
from takedown.store import Store

CASES = 60
LIMIT = 2
"""Requests at once to one server (TAKEDOWN_CONCURRENCY_PER_HOST), for the whole fleet."""


def _pending_and_leased(frontier: RedisFrontier) -> tuple[int, int]:
    status = frontier.status()
    return status.pending, status.leased


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.1)


@pytest.mark.e2e
def test_three_crawlers_share_a_frontier_politely_and_a_stopped_one_hands_its_cases_over(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    key_db = redis_url  # the CLI's frontier key on the test database; cleared before and after
    frontier = RedisFrontier(key_db, holder="test")
    frontier.clear()
    store = Store.open(database_url)
    with Sandbox({"slow.test": "127.0.80.1"}) as world:
        # a slow server: each answer takes 0.25 s, so a crawler is mid-batch when it is stopped
        urls = [world.serve("slow.test", f"/{n}.jpg", Serve(f"image {n}", delay=0.25)) for n in range(CASES)]
        with store.session() as session:
            queued = queue_batch(
                session,
                [validate_report(Report(url)) for url in urls],
                actor="analyst:t",
                now=SystemClock().now(),
            )
        case_ids = {result.case_id for result in queued}
        env = {
            **os.environ,
            **world.environment(),
            "TAKEDOWN_DATABASE_URL": database_url,
            "TAKEDOWN_HOME": str(tmp_path),
            "TAKEDOWN_FRONTIER": redis_url,
            "TAKEDOWN_FETCH_TIMEOUT": "10",
            "TAKEDOWN_CONCURRENCY_PER_HOST": str(LIMIT),
            "TAKEDOWN_FRONTIER_LEASE": "600",  # longer than the test: only a graceful release can hand over
        }
        takedown = [sys.executable, "-m", "faces.cli"]
        fed = subprocess.run(
            [*takedown, "frontier", "feed"], env=env, capture_output=True, text=True, timeout=60
        )
        assert fed.returncode == 0, fed.stderr

        def checks() -> dict[int, int]:
            with store.session() as session:
                rows = session.execute(select(Check.case_id, func.count()).group_by(Check.case_id)).all()
            return {case_id: count for case_id, count in rows}

        workers = [
            subprocess.Popen(
                # four requests at once per crawler: most of a claimed batch waits its turn, so a
                # stopped crawler holds cases it has not started, which it must give back
                [*takedown, "crawl", "--forever", "--batch", "10", "-s", "CONCURRENT_REQUESTS=4", "--json"],
                env={**env, "TAKEDOWN_ACTOR": f"crawler:{n}"},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(3)
        ]
        try:
            wait_for(lambda: len(checks()) >= 10, 90, "the first checks")
            stopped = workers[0]
            stopped.send_signal(signal.SIGTERM)
            out, err = stopped.communicate(timeout=60)
            assert stopped.returncode == 0, err[-2000:]
            wait_for(lambda: set(checks()) == case_ids, 60, "every case to be checked")
            # A crawler acknowledges its batch once its checks are committed, a moment after the
            # last of them can be read: the frontier then empties, with nothing left leased.
            wait_for(lambda: _pending_and_leased(frontier) == (0, 0), 30, "the frontier to empty")
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
            for worker in workers:
                try:
                    worker.communicate(timeout=60)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.communicate()
            frontier.clear()
        peak = world.site.peak_in_flight["127.0.80.1"]
    counted = checks()
    store.dispose()
    assert sorted(counted.values()) == [1] * CASES  # none lost, none checked twice
    summary = json.loads(out)
    assert summary["released"] > 0 and summary["finish_reason"] == "shutdown", summary
    assert summary["revisited"] + summary["released"] <= summary["claimed"]
    assert peak == LIMIT, f"the server saw {peak} requests at once from the fleet; its limit is {LIMIT}"


def test_the_fleet_limit_is_per_server_and_lapses_if_a_crawler_dies(redis_url: str) -> None:
    from crawler.fleet import FleetPoliteness

    prefix = f"test:fleet:{uuid.uuid4().hex}"
    polite = FleetPoliteness(redis_url, limit=2, lapse_seconds=0.3, prefix=prefix)
    take = lambda server, token: polite._take(keys=[f"{prefix}:{server}"], args=[2, token, 0.3])  # noqa: E731
    assert take("a", "1") and take("a", "2")
    assert not take("a", "3")  # a's two are taken
    assert take("b", "1")  # another server has its own
    time.sleep(0.4)  # the crawler holding a's tokens died: they lapse
    assert take("a", "4")
