"""Benchmark: the analyst console's pages on a large store, over HTTP, as a signed-in analyst.

Run by hand; prints figures, asserts nothing about speed:

    .venv/bin/python bench/bench_million.py --store /tmp/million.db     # builds the store once
    .venv/bin/python bench/bench_console.py --store /tmp/million.db
    .venv/bin/python bench/bench_console.py --database-url postgresql://...   # a store already filled

The console is served by uvicorn on loopback (port 0) in this process, as ``takedown web`` serves
it; each page is asked for ``--repeat`` times, one request at a time, and the median and 95th
percentile of the wall time per request are printed in milliseconds. Then the whole store is
exported once as CSV and once as JSON Lines, and the lines a second are printed. The target (issue 13): under
300 ms median for the dashboard, any page of the case list with any filter, and a case page.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
from bench_import import write_reports
from bench_million import build
from sqlalchemy import func, select
from stores import bench_store

from faces.console.app import create_app
from faces.console.serve import serving
from takedown.accounts import add_account
from takedown.clock import SystemClock
from takedown.models import Case
from takedown.settings import sqlite_url
from takedown.store import Store
from takedown.vocabulary import StaffRole


def pages(store: Store) -> list[tuple[str, str]]:
    """The pages asked for, with dates and a reference taken from the store (cases are queued over
    the year before it was built: see bench_million.py)."""
    with store.session() as session:
        last = session.scalar(select(func.max(Case.id))) or 1

        def day_of(case_id: int) -> date:
            queued = session.scalar(select(Case.queued_at).where(Case.id == case_id))
            return queued.date() if queued else date(2026, 1, 1)

        tenth, middle, ninth = day_of(last // 10), day_of(last // 2), day_of(last * 9 // 10)
        reference = session.scalar(select(Case.reference).where(Case.id == last // 2)) or "HL-0500000"
    week_from, week_to = middle - timedelta(days=3), middle + timedelta(days=3)
    return [
        ("dashboard", "/"),
        ("case list, first page", "/cases"),
        ("case list, state live", "/cases?state=live"),
        ("case list, state withdrawn (none)", "/cases?state=withdrawn"),
        ("case list, state removed, deep page", f"/cases?state=removed&after={last * 9 // 10}"),
        ("case list, page after 500,000", f"/cases?after={last // 2}"),
        ("case list, one host", "/cases?host=img7.host7.example"),
        ("case list, needs an analyst", "/cases?needs_analyst=1"),
        ("case list, one country", "/cases?country=NL"),
        ("case list, one AS, deep page", f"/cases?asn=64007&after={last * 8 // 10}"),
        ("case list, one reference", f"/cases?reference={reference}"),
        ("case list, live in one network", "/cases?state=live&network=10.0.3.0/24"),
        ("case list, newest first", "/cases?order=newest"),
        ("case list, newest first, deep page", f"/cases?order=newest&after={last // 5}"),
        ("case list, queued in one week", f"/cases?queued_from={week_from}&queued_to={week_to}"),
        (
            "case list, queued in one week, newest first",
            f"/cases?queued_from={week_from}&queued_to={week_to}&order=newest",
        ),
        ("case list, removed, queued in the last tenth", f"/cases?state=removed&queued_from={ninth}"),
        ("case list, one country, queued in the first tenth", f"/cases?country=NL&queued_to={tenth}"),
        (
            "case list, one reference, its week",
            f"/cases?reference={reference}&queued_from={week_from}&queued_to={week_to}",
        ),
        ("case page", f"/cases/{last // 200}"),
        ("hosting, by network (refreshed behind)", "/hosting?by=network"),
        ("notices", "/notices"),
        ("review", "/review"),
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
    parser.add_argument("--no-exports", action="store_true", help="leave out the two exports of every case")
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
            measure(store, args.repeat, exports=not args.no_exports)
        return 0
    url = args.database_url or (sqlite_url(args.store) if args.store else None)
    if url is None:
        parser.error("give --store or --database-url")
    store = Store.open(url)
    try:
        measure(store, args.repeat, exports=not args.no_exports)
    finally:
        store.dispose()
    return 0


def measure(store: Store, repeat: int, *, exports: bool = True) -> None:
    clock = SystemClock()
    name = f"bench{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    with store.session() as session:
        add_account(session, name, StaffRole.AUDITOR, password, now=clock.now())
    with serving(create_app(store, clock=clock)) as url:
        _measure(url, name, password, store, repeat, exports)


def _measure(url: str, name: str, password: str, store: Store, repeat: int, exports: bool) -> None:
    client = httpx.Client(base_url=url, timeout=60)
    form = client.get("/login")
    token = form.text.split('name="login_token" value="', 1)[1].split('"', 1)[0]
    signed = client.post("/login", data={"name": name, "password": password, "login_token": token})
    assert signed.status_code == 303, signed.text

    print(f"store {store.engine.url.render_as_string(hide_password=True)}, {repeat} requests a page")
    for label, path in (("dashboard, first after start", "/"), ("hosting, first after start", "/hosting")):
        started = time.perf_counter()
        answer = client.get(path)
        first = (time.perf_counter() - started) * 1000
        assert answer.status_code == 200, (path, answer.status_code)
        shown = "being computed" if "Being computed" in answer.text else "shown"
        print(f"{label:<48} {first:7.1f} ms   time-to-removal figures {shown}", flush=True)
    for label, path in pages(store):
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            answer = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, (path, answer.status_code)
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        rows = answer.text.count('<td><a href="/cases/')  # the list's rows: an empty page is no figure
        shown = f"{rows:3d} rows" if path.startswith("/cases?") else ""
        print(f"{label:<48} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms  {shown}", flush=True)
    # Every case of the store, streamed: timed once, read as it comes.
    for label, path in EXPORTS if exports else ():
        started = time.perf_counter()
        lines = 0
        with client.stream("GET", path) as answer:
            assert answer.status_code == 200, (path, answer.status_code)
            for chunk in answer.iter_bytes():
                lines += chunk.count(b"\n")
        seconds = time.perf_counter() - started
        print(f"{label:<48} {seconds:7.1f} s  {lines:,} lines, {lines / seconds:,.0f} a second", flush=True)


EXPORTS = [("export, every case, CSV", "/cases.csv"), ("export, every case, JSON Lines", "/cases.jsonl")]


if __name__ == "__main__":
    sys.exit(main())
