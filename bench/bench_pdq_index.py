"""Benchmark: PDQ lookups by Hamming distance against N hashes (default 1,000,000), by the
multi-index (takedown/pdq_index.py) and by comparing with every hash.

Run by hand; prints figures, asserts nothing about speed:

    .venv/bin/python bench/bench_pdq_index.py [--hashes 1000000] [--lookups 2000]

Half the queries are copies of an entry with 31 bits flipped (the default distance, the hardest
case the index must still find), half are random (found nowhere).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from takedown.pdq_index import GUARANTEED_UP_TO, PdqIndex


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 256, size=(args.hashes, 32), dtype=np.uint8)
    hashes = [raw[n].tobytes() for n in range(args.hashes)]
    queries = []
    for n in range(args.lookups):
        if n % 2:
            queries.append(rng.integers(0, 256, 32, dtype=np.uint8).tobytes())
            continue
        copy = bytearray(hashes[(n * 7919) % args.hashes])
        for bit in rng.choice(256, GUARANTEED_UP_TO, replace=False):
            copy[bit // 8] ^= 1 << (bit % 8)
        queries.append(bytes(copy))
    started = time.perf_counter()
    index = PdqIndex(hashes)
    print(f"{args.hashes:,} hashes: index built in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    found = sum(bool(index.near(query)) for query in queries)
    seconds = time.perf_counter() - started
    print(
        f"multi-index lookups        {len(queries) / seconds:9,.0f} /s  ({found:,} of {len(queries):,} found)"
    )
    sample = queries[:20]
    started = time.perf_counter()
    for query in sample:
        index.near(query, GUARANTEED_UP_TO + 1)  # past the guarantee: every hash is compared
    seconds = time.perf_counter() - started
    print(f"comparing with every hash  {len(sample) / seconds:9,.0f} /s")
    print(f"peak RSS                   {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:9,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
