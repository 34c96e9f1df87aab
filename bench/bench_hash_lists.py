"""Benchmark: importing a hash list of N rows (default 1,000,000), replacing it with a new version,
and exact lookups against it.

Run by hand; prints figures, asserts nothing about speed:

    .venv/bin/python bench/bench_hash_lists.py                      # SQLite in a temporary directory
    .venv/bin/python bench/bench_hash_lists.py --database-url postgresql://postgres@127.0.0.1:5432/test

The rows are made-up digests (SHA-256 and MD5 of numbers), with a category and a reference, as a
list from a partner hotline would carry them.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from stores import bench_store

from takedown.clock import SystemClock
from takedown.hash_list_import import import_hash_list, read_hash_rows
from takedown.hash_matches import match_digests
from takedown.importer import ImportFormat
from takedown.store import Store


def write_list(path: Path, rows: int, salt: str) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sha256", "md5", "category", "reference"])
        for n in range(rows):
            label = f"{salt}{n}".encode()
            writer.writerow(
                [hashlib.sha256(label).hexdigest(), hashlib.md5(label).hexdigest(), "csam", f"REF-{n:08d}"]
            )


def timed_import(store: Store, path: Path, version: str) -> tuple[float, int]:
    started = time.perf_counter()
    with path.open("rb") as handle:
        summary = import_hash_list(
            store.session,
            read_hash_rows(handle, ImportFormat.CSV),
            name="bench",
            version=version,
            actor="bench",
            clock=SystemClock(),
        )
    return time.perf_counter() - started, summary.entries


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--database-url", help="PostgreSQL (a schema of its own, dropped afterwards)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, bench_store(args.database_url) as (store, backend):
        first, second = Path(directory) / "v1.csv", Path(directory) / "v2.csv"
        write_list(first, args.rows, "a")
        write_list(second, args.rows, "b")
        print(f"{args.rows:,} rows, {backend}")
        for label, path in (("import", first), ("replace with a new version", second)):
            seconds, entries = timed_import(store, path, label)
            print(f"{label:<28} {seconds:7.1f} s  {entries / seconds:9,.0f} rows/s", flush=True)
        rng = random.Random(5)
        wanted = [
            hashlib.sha256(f"b{rng.randrange(args.rows)}".encode()).hexdigest()
            for _ in range(args.lookups // 2)
        ] + [hashlib.sha256(f"miss{n}".encode()).hexdigest() for n in range(args.lookups // 2)]
        started = time.perf_counter()
        found = 0
        with store.session() as session:
            for value in wanted:
                found += bool(match_digests(session, {"sha256": value}))
        seconds = time.perf_counter() - started
        print(
            f"exact lookups                {len(wanted) / seconds:9,.0f} /s"
            f"  ({found:,} of {len(wanted):,} found)"
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS                     {peak:7.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
