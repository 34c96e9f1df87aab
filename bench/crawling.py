"""Running ``takedown crawl --json`` as the benchmarks do: a child process, its summary read back."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def crawl(env: dict[str, str], *, processes: int | None = 1) -> dict[str, Any] | None:
    """The crawl's JSON summary; ``None`` (its error printed) if it failed. ``processes=None``
    leaves their number to the crawl, as ``takedown crawl`` does by default."""
    chosen = [] if processes is None else ["--processes", str(processes)]
    done = subprocess.run(
        [sys.executable, "-m", "faces.cli", "crawl", "--json", *chosen],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return None
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def run_reference(script: Path, targets: Path, *, concurrency: int, per_host: int) -> dict[str, Any]:
    """The JSON line of a reference fetcher (``bare_spider.py``, ``asyncio_checker.py``), run as a
    child process on ``targets`` at the crawl's limits: ``fetched`` and ``elapsed_seconds``."""
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            str(targets),
            "--concurrency",
            str(concurrency),
            "--per-host",
            str(per_host),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def reference_arguments() -> tuple[list[tuple[str, str]], int, int]:
    """A reference fetcher's command line: the targets file (one 'url host' pair a line), then
    ``--concurrency`` and ``--per-host``; the targets, read, and the two limits."""
    parser = argparse.ArgumentParser()
    parser.add_argument("targets", help="file: one 'url host' pair a line")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--per-host", type=int, default=8)
    args = parser.parse_args()
    with open(args.targets, encoding="utf-8") as handle:
        targets = [(url, host) for url, host in (line.split() for line in handle if line.strip())]
    return targets, args.concurrency, args.per_host
