"""Benchmark: finding the stored RDAP networks of a round's addresses, one query an address (as a
resolver thread does when nothing was read ahead) against the round's read-ahead
(``NetworkCache.preloaded``), with N networks stored.

Half the addresses are inside a stored network, half are not (a round's new hosts): a miss is what
an unbounded range query paid for, reading every range that starts below the address. Run by hand;
asserts nothing about speed, only that both ways find the same networks:

    PYTHONPATH=bench .venv/bin/python bench/bench_network_cache.py --networks 10000
    PYTHONPATH=bench .venv/bin/python bench/bench_network_cache.py --networks 10000 --prefixes 16-28
    PYTHONPATH=bench .venv/bin/python bench/bench_network_cache.py --networks 10000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import time
from datetime import UTC, datetime

from stores import bench_store

from hosting.cache import NetworkCache
from hosting.later_writes import LaterWrites
from hosting.rdap.parse import AbuseContacts, NetworkRecord
from takedown.clock import ManualClock


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--networks", type=int, default=10_000, help="stored networks, scattered")
    parser.add_argument(
        "--prefixes",
        default="24",
        help="their prefix lengths: one (24) or a range to draw from (16-28: some nest in others)",
    )
    parser.add_argument("--addresses", type=int, default=500, help="a round's addresses, half held")
    parser.add_argument("--database-url", help="PostgreSQL (a schema of its own, dropped afterwards)")
    args = parser.parse_args()
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    chosen = random.Random(1)
    shortest, _, longest = args.prefixes.partition("-")
    lengths = range(int(shortest), int(longest or shortest) + 1)
    networks = [
        ipaddress.IPv4Network((chosen.randrange(1 << 32), chosen.choice(lengths)), strict=False)
        for _ in range(args.networks)
    ]
    with bench_store(args.database_url) as (store, backend):
        writes = LaterWrites(store)
        filling = NetworkCache(store, clock=clock, writes=writes)
        with writes.holding():
            for net in networks:
                start, end = net.network_address, net.broadcast_address
                contacts = AbuseContacts(("abuse@example.test",), "abuse")
                record = NetworkRecord(
                    "ripe",
                    f"NET-{net}",
                    "NET",
                    start,
                    end,
                    "Org",
                    "NL",
                    contacts,
                    network_type="ASSIGNED PA",
                )
                filling.put(record, start)
        half = args.addresses // 2
        held = [str(net.network_address + 7) for net in chosen.sample(networks, half)]
        new = [str(ipaddress.IPv4Address(chosen.randrange(1 << 32))) for _ in range(half)]
        addresses = held + new
        started = time.perf_counter()
        one_by_one = NetworkCache(store, clock=clock)
        found = [one_by_one.get(address) for address in addresses]
        middle = time.perf_counter()
        ahead = NetworkCache(store, clock=clock)
        with ahead.preloaded(addresses):
            read_ahead = [ahead.get(address) for address in addresses]
        ended = time.perf_counter()
    assert found == read_ahead, "the read-ahead found other networks"
    print(
        f"{backend}, {args.networks:,} networks stored (/{args.prefixes}), {len(addresses)} addresses "
        f"({half} held): "
        f"one query an address {middle - started:.3f} s, read ahead {ended - middle:.3f} s"
    )


if __name__ == "__main__":
    main()
