"""Running ``takedown crawl --json`` as the benchmarks do: a child process, its summary read back."""

from __future__ import annotations

import json
import subprocess
import sys
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
