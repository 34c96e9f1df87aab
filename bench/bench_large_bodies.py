"""Benchmark: peak memory of a crawl of large, compressed and hostile bodies, at the default cap.

Run by hand; prints figures, asserts nothing:

    .venv/bin/python bench/bench_large_bodies.py [--cap 33554432] [--size 268435456]

One crawl (``takedown crawl``, a child process, as the scheduler runs it) revisits: files of
``--size`` bytes served plain (so each is hashed up to the cap and stopped), the same gzip- and
br-compressed at 4 MiB, and 1 GiB of zeros as gzip, br and zstd bombs. It prints each check and
the crawl's peak resident memory (VmHWM), which is what must stay flat however large the files.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sqlalchemy import select

from sandbox import Sandbox
from sandbox.web import Bomb, Serve
from takedown.clock import SystemClock
from takedown.intake import queue_batch
from takedown.models import Check
from takedown.reports import Report, validate_report
from takedown.settings import sqlite_url
from takedown.store import Store


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cap", type=int, default=32 * 1024 * 1024, help="TAKEDOWN_MAX_FETCH_BYTES")
    parser.add_argument("--size", type=int, default=256 * 1024 * 1024, help="bytes of each large file")
    parser.add_argument("--files", type=int, default=4, help="large plain files, fetched at once")
    args = parser.parse_args()

    hosts = {f"big-{n}.bench.test": f"127.0.0.{n + 2}" for n in range(args.files)} | {
        "packed.bench.test": "127.0.0.30"
    }
    with Sandbox(hosts) as sandbox, tempfile.TemporaryDirectory(prefix="takedown-bench-") as tmp:
        urls = [
            sandbox.serve(f"big-{n}.bench.test", "/film.mp4", Serve(f"film-{n}", args.size, "video/mp4"))
            for n in range(args.files)
        ]
        urls += [
            sandbox.serve(
                "packed.bench.test",
                f"/{coding}.bin",
                Serve(f"packed-{coding}", 4 * 1024 * 1024, encoding=coding),
            )
            for coding in ("gzip", "br")
        ]
        urls += [
            sandbox.serve("packed.bench.test", f"/bomb.{coding}", Bomb(coding, 1024 * 1024 * 1024))
            for coding in ("gzip", "br", "zstd")
        ]
        database = sqlite_url(Path(tmp) / "bench.db")
        store = Store.open(database)
        with store.session() as session:
            queue_batch(
                session,
                [validate_report(Report(url)) for url in urls],
                actor="bench",
                now=SystemClock().now(),
            )
        env = {
            **os.environ,
            **sandbox.environment(),
            "TAKEDOWN_DATABASE_URL": database,
            "TAKEDOWN_MAX_FETCH_BYTES": str(args.cap),
            "TAKEDOWN_CONCURRENCY_PER_HOST": "4",
        }
        done = subprocess.run(
            [sys.executable, "-m", "faces.cli", "crawl", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(done.stderr[-3000:])
            return 1
        summary = json.loads(done.stdout)
        with store.session() as session:
            for check in session.scalars(select(Check).order_by(Check.id)):
                print(
                    f"{check.final_url.rsplit('/', 1)[-1] if check.final_url else '?':12} {check.outcome:11} "
                    f"hashed {check.size_bytes or 0:>11,} of declared {check.declared_length or 0:>11,} "
                    f"truncated={check.truncated!s:5} {check.error_class or ''}"
                )
        store.dispose()
        print(
            f"cap {args.cap:,} bytes, {args.files} files of {args.size:,} bytes: "
            f"crawl {summary['elapsed_seconds']} s, peak memory {summary['peak_memory_mib']} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
