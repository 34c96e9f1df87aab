"""The crawl server: each crawl a fork of one process that imported the crawl stack once, run as
``python -m crawler`` would run it (its own environment, session and output), and never left
running unwatched when the server goes."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.summary import read_summary
from sandbox import Network, Sandbox
from sandbox.web import Serve, Stall
from schedules.crawl_server import Crawl, CrawlServer, Finished, ServerGone
from schedules.jobs import crawl_environment, crawl_job
from takedown.intake import queue_batch
from takedown.reports import Report, validate_report
from takedown.settings import Settings, sqlite_url
from takedown.store import Store

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
ARGV = ["--now", "2026-03-02T09:00:00Z", "--processes", "auto"]


@pytest.fixture
def world() -> Iterator[Sandbox]:
    with Sandbox(
        {"host-w.test": "127.0.61.1"},
        networks=[Network("127.0.61.0/24", "ripe", "Warm Hosting", "NL", abuse="abuse@host-w.test")],
    ) as sandbox:
        yield sandbox


def store_with(tmp_path: Path, name: str, urls: list[str], world: Sandbox) -> Settings:
    """A store of its own holding ``urls`` as queued cases, and the settings a crawl of it needs."""
    url = sqlite_url(tmp_path / f"{name}.db")
    store = Store.open(url)
    with store.session() as session:
        queue_batch(session, [validate_report(Report(u)) for u in urls], actor="analyst:t", now=NOW)
    store.dispose()
    return Settings.from_env({**world.environment(), "TAKEDOWN_DATABASE_URL": url})


def finish(crawl: Crawl) -> Finished:
    for _ in range(120):
        finished = crawl.wait(1.0)
        if finished is not None:
            return finished
    raise AssertionError("the crawl did not end within two minutes")


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def leads_its_session_or_ended(pid: int) -> bool:
    try:
        return not alive(pid) or os.getsid(pid) == pid
    except ProcessLookupError:
        return True


@pytest.mark.e2e
def test_crawls_are_forks_of_one_server_each_with_its_own_store_session_and_output(
    world: Sandbox, tmp_path: Path
) -> None:
    seen = world.serve("host-w.test", "/a.jpg", Serve("an image"))
    stores = [store_with(tmp_path, "one", [seen], world), store_with(tmp_path, "two", [], world)]
    server = CrawlServer()
    try:
        finished, servers = [], set()
        for settings in stores:
            crawl = server.start(ARGV, {**os.environ, **crawl_environment(settings)})
            assert crawl is not None
            servers.add(server._process.pid if server._process else None)
            wait_for(lambda pid=crawl.pid: leads_its_session_or_ended(pid))  # group signals miss it
            finished.append(finish(crawl))
        assert len(servers) == 1 and None not in servers  # the same server forked both
        summaries = [read_summary(done.stdout) for done in finished]
        assert [done.exit for done in finished] == [0, 0], [done.stderr for done in finished]
        assert [s["outcomes"] if s else None for s in summaries] == [{"live": 1}, {}]
        assert world.site.hits[("host-w.test", "/a.jpg")] == 1
    finally:
        server.stop()


@pytest.mark.e2e
def test_a_crawl_whose_server_dies_is_killed_and_the_next_gets_a_new_server(
    world: Sandbox, tmp_path: Path
) -> None:
    slow = world.serve("host-w.test", "/slow.jpg", Stall(60))
    settings = store_with(tmp_path, "slow", [slow], world)
    server = CrawlServer()
    try:
        crawl = server.start(ARGV, {**os.environ, **crawl_environment(settings)})
        assert crawl is not None and server._process is not None
        wait_for(lambda: world.site.hits[("host-w.test", "/slow.jpg")] >= 1)
        os.kill(server._process.pid, signal.SIGKILL)
        with pytest.raises(ServerGone):
            finish(crawl)
        wait_for(lambda: not alive(crawl.pid))  # not left to crawl on beside the next one
        again = server.start(ARGV, {**os.environ, **crawl_environment(store_with(tmp_path, "e", [], world))})
        assert again is not None and finish(again).exit == 0
    finally:
        server.stop()


@pytest.mark.e2e
def test_two_crawls_at_once_each_run_and_the_second_waits_for_nobody(world: Sandbox, tmp_path: Path) -> None:
    """The scheduler runs one crawl at a time, but a second caller (a test, another job) must not
    wait behind the first or share its server: it gets a server of its own."""
    slow = world.serve("host-w.test", "/slow-answer.jpg", Serve("an image", delay=10.0))
    first_store = store_with(tmp_path, "first", [slow], world)
    second_store = store_with(tmp_path, "second", [], world)
    results: dict[str, object] = {}
    first = threading.Thread(target=lambda: results.update(first=crawl_job(first_store, NOW)))
    first.start()
    try:
        wait_for(lambda: world.site.hits[("host-w.test", "/slow-answer.jpg")] >= 1)
        results["second"] = crawl_job(second_store, NOW)
        assert first.is_alive()  # the second did not wait for the first
    finally:
        first.join(120)
    assert results["second"] == {**results["second"], "revisited": 0}  # type: ignore[dict-item]
    assert results["first"]["revisited"] == 1  # type: ignore[index]
