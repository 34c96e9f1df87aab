"""Benchmark: importing N reported URLs (default 100,000) from a CSV file, then importing it again.

Run by hand; prints figures, asserts nothing about speed:

    .venv/bin/python bench/bench_import.py                       # SQLite in a temporary directory
    .venv/bin/python bench/bench_import.py --database-url postgresql://postgres@127.0.0.1:5432/test

With PostgreSQL the benchmark works in a schema of its own and drops it afterwards.
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

from sqlalchemy import func, select
from stores import bench_store

from takedown.clock import SystemClock
from takedown.import_reading import BESIDE_FROM, validated_batches
from takedown.importer import IMPORT_BATCH, ImportFormat
from takedown.intake import import_batches
from takedown.models import Case
from takedown.store import Store


def write_reports(path: Path, count: int, seed: int = 7) -> None:
    """A realistic mix: 2,000 hosts, deep paths, query strings, a third with a digest, some IDN."""
    rng = random.Random(seed)
    hosts = [f"img{n}.host{n % 400}.example" for n in range(1900)] + [
        f"bild{n}.bücher.example" for n in range(100)
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["url", "category", "reference", "sha256"])
        for n in range(count):
            host = rng.choice(hosts)
            url = f"http://{host}/gallery/{rng.randrange(10**6)}/{n}.jpg"
            if n % 5 == 0:
                url += f"?session={rng.randrange(10**9)}&size=large"
            digest = hashlib.sha256(str(n).encode()).hexdigest() if n % 3 == 0 else ""
            writer.writerow([url, "csam", f"HL-{n:07d}", digest])


def timed_import(
    store: Store, path: Path, batch_size: int, beside_from: int | None = BESIDE_FROM
) -> tuple[float, dict[str, int]]:
    """One import of ``path`` as ``takedown queue import`` makes it: read and validated in a child
    process when the file holds ``beside_from`` bytes or more."""
    started = time.perf_counter()
    with (
        path.open("rb") as handle,
        validated_batches(
            handle, ImportFormat.CSV, batch_size=batch_size, beside_from=beside_from
        ) as batches,
    ):
        summary = import_batches(store, batches, actor="bench", clock=SystemClock())
    return time.perf_counter() - started, summary.counts | {"rejected": summary.rejected}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--batch-size", type=int, default=IMPORT_BATCH, help="rows per commit (the CLI's default)"
    )
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument(
        "--in-one-process",
        action="store_true",
        help="read and validate in the writing process, however large the file (the CLI reads a "
        f"file of {BESIDE_FROM >> 20} MiB or more in a child process beside the writes)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="takedown-bench-") as tmp:
        workdir = Path(tmp)
        reports = workdir / "reports.csv"
        write_reports(reports, args.rows)
        size_mb = reports.stat().st_size / 1e6

        with bench_store(args.database_url) as (store, backend):
            beside_from = None if args.in_one_process else BESIDE_FROM
            first_seconds, first_counts = timed_import(store, reports, args.batch_size, beside_from)
            second_seconds, second_counts = timed_import(store, reports, args.batch_size, beside_from)
            with store.session() as session:
                cases = session.scalar(select(func.count()).select_from(Case))

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"backend            {backend}")
    print(f"rows               {args.rows:,} ({size_mb:.1f} MB CSV), batch size {args.batch_size}")
    print(f"read and validated {'in the writing process' if args.in_one_process else 'beside the writes'}")
    print(
        f"first import       {first_seconds:7.2f} s  {args.rows / first_seconds:9,.0f} rows/s  {first_counts}"
    )
    print(
        f"import again       {second_seconds:7.2f} s  "
        f"{args.rows / second_seconds:9,.0f} rows/s  {second_counts}"
    )
    print(f"cases in store     {cases:,}")
    # Of this process only: the reading process's own peak cannot be told from here (the kernel
    # counts a child's pages from before it started Python, which are this process's). Measured
    # alone: /usr/bin/time -f %M python -m takedown.import_reading csv 5000 "" < FILE > /dev/null
    print(f"peak RSS           {peak_mb:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
