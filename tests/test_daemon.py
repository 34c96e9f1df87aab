"""The scheduler daemon: one per store, graceful stop, and a kill mid-send that sends nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sandbox import Network, Sandbox
from sandbox.web import Stall
from schedules.lock import LOCK_NAME, LockLost, SchedulerAlreadyRunning, StoreLock
from takedown import exitcodes
from takedown.clock import ManualClock, SystemClock
from takedown.intake import queue_batch
from takedown.models import Notice, SchedulerLock
from takedown.reports import Report, validate_report
from takedown.revisits import Fetch, record_fetches
from takedown.settings import sqlite_url
from takedown.store import Store
from tests.closing import closed_after_test


def test_one_scheduler_per_store_and_a_dead_ones_lock_is_taken_over(store: Store, clock: ManualClock) -> None:
    first = StoreLock(store, clock, stale_after=timedelta(minutes=2))
    assert first.acquire().previous_owner is None
    second = StoreLock(store, clock, stale_after=timedelta(minutes=2))
    second.owner = "other-host:1:x"
    with pytest.raises(SchedulerAlreadyRunning, match="already running against this store"):
        second.acquire()
    clock.advance(timedelta(minutes=1))
    first.heartbeat()
    clock.advance(timedelta(minutes=1, seconds=30))
    with pytest.raises(SchedulerAlreadyRunning):
        second.acquire()  # the heartbeat kept it alive
    clock.advance(timedelta(minutes=3))
    assert second.acquire().previous_owner == first.owner  # the first stopped beating: presumed dead
    with pytest.raises(LockLost):
        first.heartbeat()
    first.release()  # releasing a lock one no longer holds changes nothing
    assert second.holder() is not None and second.holder()[0] == second.owner  # type: ignore[index]
    second.release()
    assert second.holder() is None


@pytest.fixture
def world() -> Iterator[Sandbox]:
    with Sandbox(
        {"host-k.test": "127.0.60.1"},
        networks=[
            Network("127.0.60.0/24", "ripe", "Kill Hosting", "NL", abuse="abuse@host-k.test", asn=64560)
        ],
    ) as sandbox:
        yield sandbox


STALE_AFTER = 6
"""Seconds: long enough that a busy machine never delays a live daemon's heartbeat past it."""


def daemon(
    world: Sandbox, database_url: str, home: Path, *extra: str, own_group: bool = False
) -> subprocess.Popen[str]:
    """``takedown run`` against ``world``; ``own_group``: leading a process group of its own, as a
    service manager or a terminal starts it (so the test can signal the whole group)."""
    env = {
        **os.environ,
        **world.environment(),
        "TAKEDOWN_DATABASE_URL": database_url,
        "TAKEDOWN_HOME": str(home),
        "TAKEDOWN_FETCH_TIMEOUT": "5",
    }
    command = [
        sys.executable,
        "-m",
        "faces.cli",
        "run",
        "--crawl-every",
        "0.1",
        "--notify-every",
        "0.02",
        "--stale-after",
        str(STALE_AFTER),
        *extra,
    ]
    running = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=own_group,
    )
    closed_after_test(PipesOf(running))
    return running


class PipesOf:
    """A daemon's output pipes, which the test reads until it ends, then closes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._process = process

    def close(self) -> None:
        for pipe in (self._process.stdout, self._process.stderr):
            if pipe is not None:
                pipe.close()


def said_until(running: subprocess.Popen[str], event: str, seconds: float = 90) -> list[dict[str, Any]]:
    """What a ``takedown run --json`` in its own process group said, one object a line, until it
    said ``event`` (or ``seconds`` passed); then it is stopped with SIGTERM, as a service manager
    stops it, and must exit 0."""
    assert running.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            line = running.stdout.readline()
            if not line:
                break
            lines.append(line)
            if json.loads(line)["event"] == event:
                break
        os.killpg(running.pid, signal.SIGTERM)
        assert running.wait(60) == 0
    finally:
        if running.poll() is None:
            os.killpg(running.pid, signal.SIGKILL)
    return [json.loads(line) for line in [*lines, *running.stdout.read().splitlines()]]


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


def statuses(store: Store) -> list[str]:
    with store.session() as session:
        return [n.status for n in session.query(Notice)]


@pytest.mark.e2e
def test_a_daemon_killed_mid_send_is_restarted_without_a_second_notice(
    world: Sandbox, tmp_path: Path
) -> None:
    database_url = sqlite_url(tmp_path / "takedown.db")
    store = Store.open(database_url)
    now = SystemClock().now()
    with store.session() as session:
        [queued] = queue_batch(
            session, [validate_report(Report(world.url("host-k.test", "/k.jpg")))], actor="analyst:t", now=now
        )
    with store.session() as session:
        record_fetches(session, [Fetch(queued.case_id, now, http_status=200, connected_ip="127.0.60.1")])
    world.smtp.stall_after_data = 60  # the relay takes the message, then keeps the sender waiting

    first = daemon(world, database_url, tmp_path)
    try:
        wait_for(lambda: len(world.smtp.messages) == 1 and statuses(store) == ["transmitting"])
        with store.session() as session:  # the claim names the lock's owner: a successor can settle it
            lock = session.get(SchedulerLock, LOCK_NAME)
            assert lock is not None and session.query(Notice).one().claimed_by == lock.owner
        busy = daemon(world, database_url, tmp_path)
        assert busy.wait(30) == exitcodes.BUSY
        assert "already running against this store" in (busy.stderr.read() if busy.stderr else "")
        first.send_signal(signal.SIGKILL)  # no goodbye: the lock and the claim are left behind
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    world.smtp.stall_after_data = 0
    time.sleep(STALE_AFTER + 0.5)  # until the dead one's heartbeat is stale, it counts as running

    second = daemon(world, database_url, tmp_path)
    try:
        wait_for(lambda: statuses(store) == ["uncertain"], seconds=60)
        time.sleep(3)  # a few more notice rounds
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
    finally:
        if second.poll() is None:
            second.kill()
    err = second.stderr.read() if second.stderr else ""
    assert "took over from" in err and "stopped" in err
    assert len(world.smtp.received_by("abuse@host-k.test")) == 1
    with store.session() as session:
        assert session.get(SchedulerLock, LOCK_NAME) is None  # released on a clean stop
    store.dispose()
    assert datetime.now(UTC) - now < timedelta(minutes=5)


@pytest.mark.e2e
@pytest.mark.parametrize("how", ["the whole process group", "the scheduler alone"])
def test_stopping_mid_crawl_is_clean_however_the_signal_arrives(
    world: Sandbox, tmp_path: Path, how: str
) -> None:
    database_url = sqlite_url(tmp_path / "takedown.db")
    store = Store.open(database_url)
    path = "/slow.jpg"
    url = world.serve("host-k.test", path, Stall(3))  # the crawl is busy when the signal comes
    with store.session() as session:
        queue_batch(session, [validate_report(Report(url))], actor="analyst:t", now=SystemClock().now())
    running = daemon(world, database_url, tmp_path, own_group=True)
    try:
        wait_for(lambda: world.site.hits[("host-k.test", path)] >= 1)
        if how == "the whole process group":  # systemd's default, kill -- -PGID, Ctrl-C in a terminal
            os.killpg(running.pid, signal.SIGTERM)
        else:
            running.send_signal(signal.SIGTERM)
        assert running.wait(90) == 0
    finally:
        if running.poll() is None:
            os.killpg(running.pid, signal.SIGKILL)
    err = running.stderr.read() if running.stderr else ""
    assert "Traceback" not in err and "ERROR" not in err, err
    assert "stopped early" in err and err.rstrip().endswith("stopped")
    with store.session() as session:
        assert session.get(SchedulerLock, LOCK_NAME) is None  # released: a restart need not wait
    store.dispose()


@pytest.mark.e2e
def test_run_json_follows_the_scheduler_one_object_a_line(world: Sandbox, tmp_path: Path) -> None:
    database_url = sqlite_url(tmp_path / "takedown.db")
    # until the first crawl has reported (a few seconds; longer on a busy machine), then stop
    events = said_until(daemon(world, database_url, tmp_path, "--json", own_group=True), "crawl")
    assert [e["event"] for e in events][:2] == ["scheduler", "crawl"]
    assert events[-1]["event"] == "stopped" and all(e["at"].endswith("Z") for e in events)


def _registry_answers(store: Store, *, fetched: datetime, domains: list[str], network: bool = False) -> None:
    """A registration kept for each domain (and network 10.9.0.0/24), as answered at ``fetched``."""
    import ipaddress

    from hosting.cache import NetworkCache
    from hosting.domain_cache import DomainCache
    from hosting.later_writes import LaterWrites
    from hosting.rdap.parse import AbuseContacts, DomainRecord, NetworkRecord

    clock = ManualClock(fetched)
    writes = LaterWrites(store)
    answer = NetworkRecord(
        registry="ripe", handle="NET-10-9", name="NET", start=ipaddress.ip_address("10.9.0.0"),
        end=ipaddress.ip_address("10.9.0.255"), organisation="Example Hosting", country="NL",
        abuse=AbuseContacts(("abuse@example.test",), "abuse"), network_type="ASSIGNED PA",
    )  # fmt: skip
    with writes.holding():
        if network:
            NetworkCache(store, clock=clock, writes=writes).put(answer, "10.9.0.1")
        desk = AbuseContacts(("abuse@registrar.test",), "abuse")
        for domain in domains:
            record = DomainRecord(domain, "Registrar", "9999", desk)
            DomainCache(store, clock=clock, writes=writes).put(domain, record)


def _kept_domains(store: Store) -> list[str]:
    from takedown.models import RdapDomain

    with store.reading() as session:
        return sorted(session.scalars(select(RdapDomain.domain)))


@pytest.mark.e2e
def test_the_scheduler_forgets_the_registry_answers_whose_time_is_up(world: Sandbox, tmp_path: Path) -> None:
    """Expired answers are never read again; the scheduler deletes them (``run --once`` too), and
    keeps the answers still in date."""
    database_url = sqlite_url(tmp_path / "takedown.db")
    store = Store.open(database_url)
    month_ago = datetime.now(UTC) - timedelta(days=30)
    _registry_answers(store, fetched=month_ago, domains=["old.test", "older.test"], network=True)
    _registry_answers(store, fetched=datetime.now(UTC), domains=["fresh.test"])

    env = {
        **os.environ,
        **world.environment(),
        "TAKEDOWN_DATABASE_URL": database_url,
        "TAKEDOWN_HOME": str(tmp_path),
    }
    once = subprocess.run([sys.executable, "-m", "faces.cli", "run", "--once", "--json"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert once.returncode == 0, once.stderr
    assert json.loads(once.stdout)["forgotten"] == {"networks": 1, "registrations": 2}
    assert _kept_domains(store) == ["fresh.test"]

    _registry_answers(store, fetched=month_ago, domains=["stale.test"])
    events = said_until(daemon(world, database_url, tmp_path, "--json", own_group=True), "housekeeping")
    said = [event["message"] for event in events if event["event"] == "housekeeping"]
    assert said == ["housekeeping: forgot 0 expired networks and 1 expired registrations"]
    assert _kept_domains(store) == ["fresh.test"]
