"""Benchmark: reports accepted per second by ``takedown portal``, and the console's case list
measured side by side in the same run, on the same store.

Run by hand; prints figures, asserts nothing about speed:

    .venv/bin/python bench/bench_portal.py                        # SQLite, 100,000 cases built first
    .venv/bin/python bench/bench_portal.py --store /tmp/million.db   # a store bench_million.py built
    .venv/bin/python bench/bench_portal.py --database-url postgresql://postgres@127.0.0.1:5432/test

Both faces run as the CLI runs them, each a process of its own (``takedown portal``, ``takedown
web``). First the console's case list is timed alone; then ``--clients`` visitors send reports
(one to three distinct URLs each, a fifth of them with a URL reported before) as fast as the
portal answers for ``--seconds``, while the same case-list pages are timed again, as a busy team of
analysts asks for them (``--pages-per-second``; back to back, the timing loop would take a core of
this 2-core machine for itself). The target (issue 15):
at least 200 reports a second, with the case list still under 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from bench_import import write_reports
from bench_million import build
from child_servers import cpu_seconds
from stores import bench_store

from takedown.accounts import add_account
from takedown.clock import SystemClock
from takedown.portals import PortalChange, add_portal
from takedown.settings import sqlite_url
from takedown.store import Store
from takedown.vocabulary import StaffRole

CASE_LIST = ["/cases", "/cases?state=live", "/cases?host=img7.host7.example", "/cases?order=newest"]


PIDS: dict[str, int] = {}


@contextmanager
def face(command: list[str], env: dict[str, str]) -> Iterator[str]:
    """``takedown COMMAND --port 0`` in a process of its own; its URL once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "faces.cli", *command, "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen = ""
    deadline = time.monotonic() + 60
    while not (found := re.search(r"running on (http://127\.0\.0\.1:\d+)", seen)):
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"takedown {command[0]} did not start: {seen[-2000:]}")
        seen += process.stderr.readline()
    threading.Thread(target=process.stderr.read, daemon=True).start()  # keep its pipe drained
    PIDS[command[0]] = process.pid
    try:
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=30)


def signed_in_console(url: str, store: Store) -> httpx.Client:
    name, password = f"bench{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with store.session() as session:
        add_account(session, name, StaffRole.AUDITOR, password, now=SystemClock().now())
    client = httpx.Client(base_url=url, timeout=60)
    form = client.get("/login")
    token = form.text.split('name="login_token" value="', 1)[1].split('"', 1)[0]
    signed = client.post("/login", data={"name": name, "password": password, "login_token": token})
    assert signed.status_code == 303, signed.text
    return client


def time_case_list(
    client: httpx.Client, stop: threading.Event | None, rounds: int, pause: float = 0.0
) -> list[float]:
    """Milliseconds per case-list page, round after round (until ``stop``, when given), ``pause``
    seconds between pages (analysts read what they asked for)."""
    times = []
    done = 0
    while (stop is None and done < rounds) or (stop is not None and not stop.is_set()):
        for path in CASE_LIST:
            started = time.perf_counter()
            answer = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, (path, answer.status_code)
            time.sleep(pause)
        done += 1
    return times


async def send_reports(url: str, clients: int, seconds: float) -> tuple[Counter[int], float]:
    """Visitors sending reports for ``seconds``; the answers by status, and the time taken."""
    answers: Counter[int] = Counter()
    deadline = time.monotonic() + seconds
    run = secrets.token_hex(3)

    async def visitor(number: int, client: httpx.AsyncClient) -> None:
        sent = 0
        while time.monotonic() < deadline:
            sent += 1
            urls = [f"http://v{number}.r{run}.example/{sent}/{k}.jpg" for k in range(1 + sent % 3)]
            if sent % 5 == 0:
                urls.append(f"http://v{number}.r{run}.example/{sent - 1}/0.jpg")  # reported before
            answer = await client.post(
                "/bench/?lang=en", data={"urls": "\n".join(urls), "content": "images", "lang": "en"}
            )
            answers[answer.status_code] += 1

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        await asyncio.gather(*(visitor(n, client) for n in range(clients)))
    return answers, time.perf_counter() - started


def load_elsewhere(url: str, clients: int, seconds: float) -> tuple[Counter[int], float]:
    """:func:`send_reports` in a process of its own: in this one, its event loop would hold the
    interpreter lock against the thread timing the console, and the console would look slow."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_send_reports, (url, clients, seconds))


def _send_reports(url: str, clients: int, seconds: float) -> tuple[Counter[int], float]:
    return asyncio.run(send_reports(url, clients, seconds))


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):6.1f} ms  p95 {p95:6.1f} ms  ({len(ordered)} pages)"


def measure(store: Store, database_url: str, clients: int, seconds: float, pages_per_second: float) -> None:
    with store.session() as session:
        add_portal(session, "bench", PortalChange(country="KE", languages=["en"], partner="Bench"),
                   actor="bench", now=SystemClock().now())  # fmt: skip
    env = {
        **os.environ,
        "TAKEDOWN_DATABASE_URL": database_url,
        "TAKEDOWN_PORTAL_REPORTS_PER_HOUR": "1000000000",
        "TAKEDOWN_PORTAL_REPORTS_PER_HOUR_ALL": "1000000000",
    }
    with face(["portal"], env) as portal_url, face(["web"], env) as console_url:
        console = signed_in_console(console_url, store)
        time_case_list(console, None, 2)  # warm: first pages compute what they keep
        alone = time_case_list(console, None, 10)
        print(f"console case list alone:          {summary(alone)}", flush=True)
        stop = threading.Event()
        under_load: list[float] = []
        pause = 1 / pages_per_second
        timer = threading.Thread(target=lambda: under_load.extend(time_case_list(console, stop, 0, pause)))
        timer.start()
        before = {name: cpu_seconds(pid) for name, pid in PIDS.items()}
        answers, elapsed = load_elsewhere(portal_url, clients, seconds)
        used = {name: cpu_seconds(pid) - before[name] for name, pid in PIDS.items()}
        stop.set()
        timer.join()
        accepted = answers.get(200, 0)
        print(f"console case list while reporting: {summary(under_load)}")
        print(
            f"portal: {accepted} reports accepted in {elapsed:.1f} s = {accepted / elapsed:,.0f} reports/s "
            f"({clients} visitors at once; answers {dict(sorted(answers.items()))})"
        )
        per_report = used["portal"] * 1000 / max(accepted, 1)
        available = elapsed * (os.cpu_count() or 1)
        print(f"CPU while reporting: portal {used['portal']:.1f} s ({per_report:.2f} ms a report),", end=" ")
        print(f"console {used['web']:.1f} s, of {available:.0f} s on {os.cpu_count()} cores", end=" ")
        print("(the rest: the visitors' process, the database server)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, help="a SQLite store already filled (bench_million.py)")
    parser.add_argument("--database-url", help="a PostgreSQL server: a schema of its own, filled first")
    parser.add_argument("--build", type=int, default=100_000, help="cases to fill a new store with")
    parser.add_argument("--clients", type=int, default=16, help="visitors sending at once")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--pages-per-second",
        type=float,
        default=5.0,
        help="case-list pages the console is asked for while reports come in (a busy team)",
    )
    args = parser.parse_args()
    if args.store:
        store = Store.open(sqlite_url(args.store))
        try:
            print(f"store {args.store}")
            measure(store, sqlite_url(args.store), args.clients, args.seconds, args.pages_per_second)
        finally:
            store.dispose()
        return 0
    with (
        tempfile.TemporaryDirectory(prefix="takedown-bench-") as tmp,
        bench_store(args.database_url) as (
            store,
            backend,
        ),
    ):
        reports = Path(tmp) / "reports.csv"
        write_reports(reports, args.build)
        build(store, reports, args.build)
        url = store.engine.url.render_as_string(hide_password=False)
        print(f"store {backend}, {args.build:,} cases")
        measure(store, url, args.clients, args.seconds, args.pages_per_second)
    return 0


if __name__ == "__main__":
    sys.exit(main())
