"""Benchmark: the analyst console's pages on a large store, over HTTP, as a signed-in analyst.

Run by hand; prints figures, asserts nothing about speed:

    .venv/bin/python bench/bench_million.py --store /tmp/million.db     # builds the store once
    .venv/bin/python bench/bench_console.py --store /tmp/million.db
    .venv/bin/python bench/bench_console.py --database-url postgresql://...   # a store already filled

The console is served by uvicorn on loopback (port 0) in this process, as ``takedown web`` serves
it; each page is asked for ``--repeat`` times, one request at a time, and the median and 95th
percentile of the wall time per request are printed in milliseconds. The target (issue 13): under
300 ms median for the dashboard, any page of the case list with any filter, and a case page.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from bench_import import write_reports
from bench_million import build
from stores import bench_store

from faces.console.app import create_app
from faces.console.serve import console_server
from takedown.accounts import add_account
from takedown.clock import SystemClock
from takedown.settings import sqlite_url
from takedown.store import Store
from takedown.vocabulary import StaffRole

PAGES = [
    ("dashboard", "/"),
    ("case list, first page", "/cases"),
    ("case list, state live", "/cases?state=live"),
    ("case list, state removed, deep page", "/cases?state=removed&after=900000"),
    ("case list, page after 500,000", "/cases?after=500000"),
    ("case list, one host", "/cases?host=img7.host7.example"),
    ("case list, needs an analyst", "/cases?needs_analyst=1"),
    ("case list, one country", "/cases?country=NL"),
    ("case list, one AS, deep page", "/cases?asn=64007&after=800000"),
    ("case list, one reference", "/cases?reference=HL-0500000"),
    ("case list, live in one network", "/cases?state=live&network=10.0.7.0/24"),
    ("case list, newest first", "/cases?order=newest"),
    ("case list, newest first, deep page", "/cases?order=newest&after=200000"),
    ("case list, queued in one week", "/cases?queued_from=2026-06-01&queued_to=2026-06-07"),
    ("case list, queued since January, newest first", "/cases?queued_from=2026-01-01&order=newest"),
    ("case list, removed, queued since October", "/cases?state=removed&queued_from=2026-10-01"),
    ("case list, one country, queued before February", "/cases?country=NL&queued_to=2026-01-31"),
    (
        "case list, one reference, one week",
        "/cases?reference=HL-0500000&queued_from=2026-06-01&queued_to=2026-06-07",
    ),
    ("case page", "/cases/5000"),
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, help="a SQLite store (bench_million.py builds one)")
    parser.add_argument("--database-url", help="any store URL")
    parser.add_argument(
        "--build",
        type=int,
        metavar="CASES",
        help="with --database-url: fill a schema of its own with this many cases first, as "
        "bench_million.py does, and drop it afterwards",
    )
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    if args.build:
        if not args.database_url:
            parser.error("--build needs --database-url")
        with (
            tempfile.TemporaryDirectory(prefix="takedown-bench-") as tmp,
            bench_store(args.database_url) as (
                store,
                _backend,
            ),
        ):
            reports = Path(tmp) / "reports.csv"
            write_reports(reports, args.build)
            build(store, reports, args.build)
            measure(store, args.repeat)
        return 0
    url = args.database_url or (sqlite_url(args.store) if args.store else None)
    if url is None:
        parser.error("give --store or --database-url")
    store = Store.open(url)
    try:
        measure(store, args.repeat)
    finally:
        store.dispose()
    return 0


def measure(store: Store, repeat: int) -> None:
    clock = SystemClock()
    name = f"bench{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    with store.session() as session:
        add_account(session, name, StaffRole.AUDITOR, password, now=clock.now())
    server = console_server(create_app(store, clock=clock), host="127.0.0.1", port=0, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    form = client.get("/login")
    token = form.text.split('name="login_token" value="', 1)[1].split('"', 1)[0]
    signed = client.post("/login", data={"name": name, "password": password, "login_token": token})
    assert signed.status_code == 303, signed.text

    print(f"store {store.engine.url.render_as_string(hide_password=True)}, {repeat} requests a page")
    started = time.perf_counter()
    assert client.get("/").status_code == 200
    first = (time.perf_counter() - started) * 1000
    print(f"{'dashboard, first (computes removals)':<40} {first:7.1f} ms", flush=True)
    for label, path in PAGES:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            answer = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, (path, answer.status_code)
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        print(f"{label:<40} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms", flush=True)
    server.should_exit = True
    thread.join(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
