"""One crawl over several processes: the due cases split by server, each checked exactly once, the
summaries added up, and every server's names in one process so its limit holds."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from crawler.processes import CASES_PER_PROCESS, assign_by_server, processes_for
from sandbox import Sandbox
from sandbox.web import Serve
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.models import Check
from takedown.reports import Report, validate_report
from takedown.revisits import due_cases, due_hosts
from takedown.store import Store
from tests.test_revisit import run_crawl

HOSTS = {f"h{n}.test": f"127.0.90.{n + 1}" for n in range(6)}


@given(
    st.dictionaries(
        st.from_regex(r"\A[a-z0-9]{1,12}\.test\Z"), st.sampled_from(["127.0.0.2", "127.0.0.3", "10.0.0.1"])
    ),
    st.integers(min_value=1, max_value=8),
)
def test_every_name_goes_to_one_share_with_every_other_name_of_its_server(
    servers: dict[str, str], processes: int
) -> None:
    shares = assign_by_server(sorted(servers), processes, servers.__getitem__)
    assert len(shares) == processes
    assert sorted(name for share in shares for name in share) == sorted(servers)
    for share in shares:
        for name in share:
            same_server = {other for other, address in servers.items() if address == servers[name]}
            assert same_server <= set(share)


def test_the_due_hosts_are_listed_once_and_only_the_due_ones(store: Store, clock: ManualClock) -> None:
    urls = [f"http://h{n % 7}.test/{n}.jpg" for n in range(30)]
    with store.session() as session:
        queue_batch(
            session, [validate_report(Report(url)) for url in urls], actor="analyst:t", now=clock.now()
        )
    due = due_hosts(store, now=clock.now())
    assert list(due) == [f"h{n}.test" for n in range(7)]  # in order, each once
    assert due == {f"h{n}.test": 5 if n < 2 else 4 for n in range(7)}  # with its cases due
    assert due_hosts(store, now=clock.now() - timedelta(seconds=1)) == {}
    mine = frozenset({"h1.test", "h3.test"})
    shared = list(due_cases(store, now=clock.now(), page_size=4, hosts=mine))
    assert sorted(case.url.split("/")[2] for case in shared) == ["h1.test"] * 5 + ["h3.test"] * 4


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
        summary, done = run_crawl(
            world, database_url, tmp_path, "--processes", "2", "--now", clock.now().isoformat(), verbose=1
        )
    assert "48 cases due and 0 reported URLs on 6 host names: shared among 2 crawl processes" in done.stderr
    assert summary["processes"] == 2 and summary["finish_reason"] == "finished"
    assert summary["revisited"] == 48 and summary["outcomes"] == {"live": 48}
    with store.session() as session:
        counts = session.execute(select(Check.case_id, func.count()).group_by(Check.case_id)).all()
    assert len(counts) == 48 and {count for _, count in counts} == {1}


ONE_SERVER = {f"s{n}.test": "127.0.91.1" for n in range(4)}


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("hosts", "args"),
    [(HOSTS, ()), (ONE_SERVER, ("--processes", "2"))],
    ids=["left-to-choose-for-48-cases", "two-asked-for-one-server"],
)
def test_a_crawl_with_one_share_of_work_starts_no_second_process(
    store: Store,
    database_url: str,
    clock: ManualClock,
    tmp_path: Path,
    hosts: dict[str, str],
    args: tuple[str, ...],
) -> None:
    """A small crawl is not worth a second Scrapy process (a second or two of start-up each), and a
    share of one is crawled by the process that was asked, without starting a child for it."""
    names = sorted(hosts)
    with Sandbox(hosts) as world:
        urls = [world.serve(names[n % len(names)], f"/{n}.jpg", Serve(f"img {n}")) for n in range(48)]
        with store.session() as session:
            queue_batch(
                session, [validate_report(Report(u)) for u in urls], actor="analyst:t", now=clock.now()
            )
        summary, done = run_crawl(
            world, database_url, tmp_path, *args, "--now", clock.now().isoformat(), verbose=1
        )
    assert (
        f"48 cases due and 0 reported URLs on {len(hosts)} host names: crawled in this process" in done.stderr
    )
    assert summary["processes"] == 1 and summary["finish_reason"] == "finished"
    assert summary["revisited"] == 48 and summary["outcomes"] == {"live": 48}
    with store.session() as session:
        counts = session.execute(select(Check.case_id, func.count()).group_by(Check.case_id)).all()
    assert len(counts) == 48 and {count for _, count in counts} == {1}


@pytest.mark.parametrize(
    ("due", "limit", "expected"),
    [(0, 2, 1), (7, 2, 1), (CASES_PER_PROCESS, 2, 1), (CASES_PER_PROCESS + 1, 2, 2), (10**6, 2, 2),
     (5 * CASES_PER_PROCESS // 2, 8, 3), (10**6, 1, 1)],
)  # fmt: skip
def test_a_crawl_left_to_choose_runs_a_process_per_thousand_due_cases_up_to_the_cores(
    due: int, limit: int, expected: int
) -> None:
    assert processes_for(due, limit) == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", ""])
def test_the_crawler_refuses_a_number_of_processes_it_cannot_run(value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crawler", "--processes", value], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "is not a number of processes (1 or more) or 'auto'" in done.stderr


SUMMARIES = st.fixed_dictionaries(
    {
        "revisited": st.integers(0, 10**6),
        "outcomes": st.dictionaries(st.sampled_from(["live", "gone"]), st.integers(0, 99)),
    }
)
NOISE = st.lists(
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cs",), blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
        )
    ),
    max_size=5,
)


@given(
    before=NOISE,
    summary=SUMMARIES,
    after=st.lists(st.sampled_from(["", "done", "{not json", "[1, 2]"]), max_size=3),
)
def test_a_crawl_summary_is_found_among_whatever_else_the_process_printed(
    before: list[str], summary: dict[str, object], after: list[str]
) -> None:
    import json

    from crawler.summary import read_summary

    output = "\n".join([*before, json.dumps(summary), *after])
    assert read_summary(output) == summary


@pytest.mark.parametrize(
    "output", ["", "Traceback (most recent call last):\n  ...\nMemoryError", "[1]\n{broken"]
)
def test_a_crawl_that_printed_no_summary_is_told_apart(output: str) -> None:
    from crawler.summary import read_summary

    assert read_summary(output) is None
