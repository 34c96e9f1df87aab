"""One crawl over several processes: the due cases split by host, each checked exactly once, the
summaries added up, and every host's cases in one process so its per-server limit holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from sandbox import Sandbox
from sandbox.web import Serve
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.models import Check
from takedown.reports import Report, validate_report
from takedown.revisits import due_cases, host_partition
from takedown.store import Store
from tests.test_revisit import run_crawl

HOSTS = {f"h{n}.test": f"127.0.90.{n + 1}" for n in range(6)}


@given(st.from_regex(r"\A[a-z0-9-]{1,20}(\.[a-z0-9-]{1,20}){0,3}\Z"), st.integers(min_value=1, max_value=64))
def test_a_host_always_falls_to_the_same_process(host: str, partitions: int) -> None:
    chosen = host_partition(host, partitions)
    assert 0 <= chosen < partitions
    assert host_partition(host.upper(), partitions) == chosen  # host names are not case-sensitive


def test_partitions_share_the_due_cases_without_overlap_and_by_host(store: Store, clock: ManualClock) -> None:
    urls = [f"http://h{n % 7}.test/{n}.jpg" for n in range(60)]
    with store.session() as session:
        queue_batch(
            session, [validate_report(Report(url)) for url in urls], actor="analyst:t", now=clock.now()
        )
    every = {case.id for case in due_cases(store, now=clock.now())}
    shares = [list(due_cases(store, now=clock.now(), page_size=7, partition=(k, 3))) for k in range(3)]
    ids = [case.id for share in shares for case in share]
    assert sorted(ids) == sorted(every) and len(ids) == len(set(ids))
    hosts_of = [{case.url.split("/")[2] for case in share} for share in shares]
    assert not (hosts_of[0] & hosts_of[1] or hosts_of[0] & hosts_of[2] or hosts_of[1] & hosts_of[2])


@pytest.mark.e2e
def test_a_crawl_in_two_processes_checks_every_case_once(
    store: Store, database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    with Sandbox(HOSTS) as world:
        urls = [world.serve(f"h{n % 6}.test", f"/{n}.jpg", Serve(f"img {n}")) for n in range(48)]
        with store.session() as session:
            queue_batch(
                session, [validate_report(Report(u)) for u in urls], actor="analyst:t", now=clock.now()
            )
        summary, _ = run_crawl(
            world, database_url, tmp_path, "--processes", "2", "--now", clock.now().isoformat()
        )
    assert summary["processes"] == 2 and summary["finish_reason"] == "finished"
    assert summary["revisited"] == 48 and summary["outcomes"] == {"live": 48}
    with store.session() as session:
        counts = session.execute(select(Check.case_id, func.count()).group_by(Check.case_id)).all()
    assert len(counts) == 48 and {count for _, count in counts} == {1}
