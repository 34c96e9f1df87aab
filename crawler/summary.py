"""What a crawl says about itself (:class:`CrawlSummary`), and reading it back from a crawl process.

``python -m crawler`` ends by printing its summary as one JSON object on a line of its own (after
whatever else it printed). The parent that started it (the crawl that shares work among processes,
the scheduler's crawl job) reads it back here, the one place that knows that shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


def read_summary(output: str) -> dict[str, Any] | None:
    """The last JSON object printed on a line of its own, or ``None`` if the process printed none
    (it died first, or wrote something else)."""
    for line in reversed(output.splitlines()):
        text = line.strip()
        if not text.startswith("{"):
            continue
        try:
            found = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(found, dict):
            return found
    return None


@dataclass(frozen=True)
class CrawlSummary:
    revisited: int
    outcomes: dict[str, int]
    finish_reason: str
    elapsed_seconds: float
    peak_memory_mib: float | None = None
    claimed: int | None = None
    """With a shared frontier: how many cases were claimed from it (none: it was empty)."""
    released: int | None = None
    """With a shared frontier: claimed cases given back unchecked at a graceful stop."""
    processes: int | None = None
    """A crawl run as several processes (``--processes``): how many; the peak memory is their sum."""
    reported: dict[str, int] | None = None
    """URLs reported through portals revisited once, by where that put them (``confirmed`` by a
    trusted hash list, ``awaiting_assessment``)."""

    def __plain__(self) -> dict[str, Any]:
        optional: dict[str, Any] = {}  # said only by the crawls they describe
        if self.claimed is not None:
            optional.update(claimed=self.claimed, released=self.released or 0)
        if self.processes is not None:
            optional["processes"] = self.processes
        if self.reported:
            optional["reported"] = self.reported
        return {
            "revisited": self.revisited,
            "outcomes": self.outcomes,
            "finish_reason": self.finish_reason,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "peak_memory_mib": None if self.peak_memory_mib is None else round(self.peak_memory_mib, 1),
            **optional,
        }
