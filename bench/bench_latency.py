"""Benchmark: a crawl against slow servers. Does the crawl hide their latency, politely?

Real servers think before they answer. Here every sandbox server takes ``--delay`` seconds (300 ms)
for each answer; ``--hosts`` host names (1,000) share ``--addresses`` server addresses (250, as on
shared hosting), and ``--urls`` URLs (20,000) are spread over the names. The crawl
(``takedown crawl``, a child process, as the scheduler runs it, in as many processes as it chooses
unless ``--processes`` says) must keep its requests in flight (``TAKEDOWN_CONCURRENCY``) while
holding every server to ``TAKEDOWN_CONCURRENCY_PER_HOST``.
Prints URLs per second, the most requests any one server saw at once, and the crawl's memory.

Run by hand; prints figures, asserts nothing:

    .venv/bin/python bench/bench_latency.py [--urls 20000] [--hosts 1000] [--addresses 250]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from crawling import crawl

from sandbox import Sandbox
from sandbox.web import Serve
from takedown.clock import SystemClock
from takedown.driver_connections import BULK_CACHE_MIB
from takedown.importer import Row
from takedown.intake import import_rows
from takedown.reports import Report
from takedown.settings import sqlite_url
from takedown.store import Store


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--urls", type=int, default=20_000)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--addresses", type=int, default=250)
    parser.add_argument("--delay", type=float, default=0.3, help="seconds each answer takes")
    parser.add_argument("--concurrency", type=int, default=200, help="TAKEDOWN_CONCURRENCY")
    parser.add_argument("--per-host", type=int, default=2, help="TAKEDOWN_CONCURRENCY_PER_HOST")
    parser.add_argument(
        "--processes", type=int, help="takedown crawl --processes [default: the crawl's own choice]"
    )
    args = parser.parse_args()

    addresses = [f"127.1.{n // 250}.{n % 250 + 1}" for n in range(args.addresses)]
    hosts = {f"site-{n}.latency.test": addresses[n % len(addresses)] for n in range(args.hosts)}
    names = list(hosts)
    started = time.perf_counter()
    with Sandbox(hosts) as world, tempfile.TemporaryDirectory(prefix="takedown-bench-") as tmp:
        urls = [
            world.serve(names[n % len(names)], f"/{n}.jpg", Serve(f"c{n % 50}", 2_000, delay=args.delay))
            for n in range(args.urls)
        ]
        database = sqlite_url(Path(tmp) / "latency.db")
        store = Store.open(database, sqlite_cache_mib=BULK_CACHE_MIB)
        import_rows(
            store,
            (Row(n, Report(url)) for n, url in enumerate(urls, 1)),
            actor="bench",
            clock=SystemClock(),
            batch_size=5000,
        )
        store.dispose()
        print(f"set up in {time.perf_counter() - started:.1f} s", flush=True)
        env = {
            **os.environ,
            **world.environment(),
            "TAKEDOWN_DATABASE_URL": database,
            "TAKEDOWN_CONCURRENCY": str(args.concurrency),
            "TAKEDOWN_CONCURRENCY_PER_HOST": str(args.per_host),
            "TAKEDOWN_FETCH_TIMEOUT": "30",
        }
        summary = crawl(env, processes=args.processes)
        if summary is None:
            return 1
        peak = max(world.site.peak_in_flight.values())
    rate = summary["revisited"] / summary["elapsed_seconds"]
    processes = summary.get("processes") or 1
    ceiling = min(args.concurrency * processes, args.per_host * args.addresses) / args.delay
    layout = f"{args.urls:,} on {args.hosts:,} names, {args.addresses} addresses, {args.delay} s each"
    print(f"urls            {layout}")
    chosen = "" if args.processes else " (the crawl's choice)"
    print(f"concurrency     {args.concurrency} ({args.per_host} per server), {processes} process(es){chosen}")
    print(
        f"crawl           {rate:,.0f} URLs/s ({summary['revisited']:,} in {summary['elapsed_seconds']:.1f} s)"
    )
    print(f"ceiling         {ceiling:,.0f} URLs/s (concurrency of every process / delay)")
    print(f"outcomes        {summary['outcomes']}")
    print(f"politeness      at most {peak} requests at once to one server (limit {args.per_host})")
    print(f"crawl peak RSS  {summary['peak_memory_mib']} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
