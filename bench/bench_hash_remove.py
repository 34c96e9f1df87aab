"""Benchmark: removing a hash list of N entries, and the longest transaction it holds.

Run by hand; prints figures, asserts nothing about speed:

    PYTHONPATH=bench .venv/bin/python bench/bench_hash_remove.py --entries 500000
    PYTHONPATH=bench .venv/bin/python bench/bench_hash_remove.py --database-url postgresql://postgres@127.0.0.1:5432/test

The list is imported through ``hashes import``'s code, then removed as ``hashes remove`` removes it,
each step in a session of the store. The longest transaction is how long a revisit's check could
wait behind the removal for the store's write lock (on SQLite).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy.orm import Session
from stores import bench_store

from takedown.clock import ManualClock
from takedown.hash_list_import import HashRow, ReadHashRow, import_hash_list
from takedown.hash_list_versions import remove_hash_list


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=500_000)
    parser.add_argument("--database-url", help="PostgreSQL (a schema of its own, dropped afterwards)")
    args = parser.parse_args()
    with bench_store(args.database_url) as (store, backend):
        clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
        rows = (
            ReadHashRow(n, HashRow(sha256=hashlib.sha256(str(n).encode()).hexdigest()))
            for n in range(args.entries)
        )
        started = time.perf_counter()
        import_hash_list(store.session, rows, name="bench", version="1", actor="bench", clock=clock)
        print(f"{backend}: imported {args.entries:,} entries in {time.perf_counter() - started:.1f} s")
        longest = 0.0
        transactions = 0

        @contextlib.contextmanager
        def timed() -> Iterator[Session]:
            nonlocal longest, transactions
            began = time.perf_counter()
            with store.session() as session:
                yield session
            longest = max(longest, time.perf_counter() - began)
            transactions += 1

        started = time.perf_counter()
        removed = remove_hash_list(timed, "bench")
        took = time.perf_counter() - started
        print(f"removed {removed:,} entries in {took:.2f} s, {transactions} transactions;", end="")
        print(f" the longest took {longest:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
