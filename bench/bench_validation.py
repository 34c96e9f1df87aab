"""Benchmark: validating reported URLs (the CPU part of bulk intake), serially and in processes.

Run by hand; prints figures, asserts nothing:

    .venv/bin/python bench/bench_validation.py [--rows 100000]

The rows are the import benchmark's mix (2,000 hosts, deep paths, query strings, a third with a
digest). A pool of processes has to send every validated report back, which is why it is measured
beside the serial figure rather than assumed to be faster.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from takedown.reports import Report, ValidReport, validate_report


def reports(count: int, seed: int = 7) -> list[Report]:
    rng = random.Random(seed)
    made = []
    for n in range(count):
        url = f"http://img{n % 2000}.host{n % 400}.example/gallery/{rng.randrange(10**6)}/{n}.jpg"
        if n % 5 == 0:
            url += f"?session={rng.randrange(10**9)}&size=large"
        digest = (hashlib.sha256(str(n).encode()).hexdigest(),) if n % 3 == 0 else ()
        made.append(Report(url, reference=f"HL-{n:07d}", sha256=digest))
    return made


def validate_all(batch: list[Report]) -> list[ValidReport]:
    return [validate_report(report) for report in batch]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    rows = reports(args.rows)
    started = time.perf_counter()
    validate_all(rows)
    serial = time.perf_counter() - started
    print(f"serial          {serial:6.2f} s   {serial / args.rows * 1e6:5.1f} us a row")
    chunks = [rows[i : i + 1000] for i in range(0, len(rows), 1000)]
    for method in ("fork", "forkserver"):
        started = time.perf_counter()
        context = multiprocessing.get_context(method)
        with ProcessPoolExecutor(args.processes, mp_context=context) as pool:
            done = sum(len(part) for part in pool.map(validate_all, chunks))
        took = time.perf_counter() - started
        rate = took / done * 1e6
        print(f"{args.processes} x {method:<10} {took:6.2f} s   {rate:5.1f} us a row (results sent back)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
