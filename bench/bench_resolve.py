"""Benchmark: resolving N URLs (default 10,000) spread over M networks (default 200) on the sandbox.

Every URL has its own host name (the worst case for DNS), host names share networks, networks are
spread over the five registries' shapes. Prints the RDAP queries made per kind, the cache's hits,
the time taken; a second pass with a fresh resolver on the same store shows the stored range cache.
Run by hand; asserts nothing about speed:

    .venv/bin/python bench/bench_resolve.py
    .venv/bin/python bench/bench_resolve.py --urls 10000 --networks 200 --hosts 2000
    .venv/bin/python bench/bench_resolve.py --rdap-latency 0.1 --handshake-latency 0.2 [--no-keep-alive]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from hosting.factory import resolver_from_settings
from hosting.resolve import HostingResolver
from sandbox import Network, Sandbox
from takedown.clock import SystemClock
from takedown.settings import Settings, sqlite_url
from takedown.store import Store

REGISTRIES = ["arin", "ripe", "apnic", "lacnic", "afrinic"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--urls", type=int, default=10_000)
    parser.add_argument("--networks", type=int, default=200)
    parser.add_argument(
        "--hosts", type=int, default=2_000, help="distinct host names (URLs are spread over them)"
    )
    parser.add_argument("--rdap-latency", type=float, default=0.0, help="seconds each RDAP answer takes")
    parser.add_argument(
        "--handshake-latency",
        type=float,
        default=0.0,
        help="seconds a new connection to the RDAP server takes first (TCP and TLS handshakes)",
    )
    parser.add_argument(
        "--no-keep-alive", action="store_true", help="a new RDAP connection for every query, to compare"
    )
    args = parser.parse_args()

    networks = [
        Network(
            f"127.{100 + n // 250}.{n % 250}.0/24",
            REGISTRIES[n % 5],
            f"Provider {n}",
            abuse=f"abuse@p{n}.test",
            asn=64512 + n,
        )
        for n in range(args.networks)
    ]
    records = {}
    for h in range(args.hosts):
        n = h % args.networks
        records[f"h{h}.test"] = {"A": [f"127.{100 + n // 250}.{n % 250}.{1 + (h // args.networks) % 250}"]}
    with (
        tempfile.TemporaryDirectory() as directory,
        Sandbox({"web.test": "127.0.0.2"}, extra_records=records, networks=networks) as world,
    ):
        store = Store.open(sqlite_url(Path(directory) / "bench.db"))
        world.rdap.latency, world.rdap.handshake_latency = args.rdap_latency, args.handshake_latency

        def resolver() -> HostingResolver:
            settings = Settings.from_env({**world.environment(), "TAKEDOWN_DATABASE_URL": "sqlite://"})
            made = resolver_from_settings(settings, store=store, clock=SystemClock())
            if args.no_keep_alive:
                for pool in (made.rdap._connections, made.rdap._guarded_connections):
                    pool.idle_per_origin = 0
            return made

        urls = [(f"http://h{u % args.hosts}.test/item/{u}", None) for u in range(args.urls)]
        for label in ("first pass (empty cache)", "second pass (new process, stored cache)"):
            before = Counter(world.rdap.requests)
            dns_before = sum(world.dns.queries.values())
            connections_before = world.rdap.connections
            started = time.perf_counter()
            current = resolver()
            results = list(current.resolve_many(urls))
            elapsed = time.perf_counter() - started
            asked = Counter(world.rdap.requests)
            asked.subtract(before)
            by_kind = Counter()
            for (_, kind), count in asked.items():
                by_kind[kind] += count
            found = sum(1 for r in results if r.party("hosting") and r.party("hosting").emails)  # type: ignore[union-attr]
            print(f"{label}:")
            print(
                f"  {len(results)} URLs on {args.hosts} host names and {args.networks} networks"
                f" in {elapsed:.1f} s ({len(results) / elapsed:.0f} URLs/s)"
            )
            print(
                f"  RDAP network queries: {by_kind['ip']}"
                f"  (domain: {by_kind['domain']}, autnum: {by_kind['autnum']})"
            )
            print(f"  RDAP connections opened: {world.rdap.connections - connections_before}")
            print(f"  range cache: {current.cache.hits} hits, {current.cache.misses} misses")
            print(f"  registration cache: {current.domains.hits} hits, {current.domains.misses} misses")
            print(f"  DNS queries: {sum(world.dns.queries.values()) - dns_before}")
            print(f"  URLs with a hosting abuse contact: {found}")
        store.dispose()


if __name__ == "__main__":
    main()
