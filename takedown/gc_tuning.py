"""The garbage collector's pace for bulk work.

Python collects its youngest objects after every 700 allocations and, every hundred of those, looks
at every object the process holds. Bulk intake makes a few dozen short-lived objects a row (freed
by reference counting, not by the collector) in a process that holds SQLAlchemy and its models, so
those full passes were about a tenth of an import's time: 100,000 rows went from 24,000-25,000 to
28,600-29,000 rows/s on SQLite with the pace below (bench/bench_import.py). Garbage in cycles is
still collected, a little later.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BULK_THRESHOLDS = (100_000, 50, 100)
"""Allocations before the youngest generation is collected, then how many of those collections
before the next generation is (``gc.set_threshold``); Python's defaults are (700, 10, 10)."""


_lock = threading.Lock()
_blocks = 0
_before: tuple[int, ...] = ()


@contextmanager
def bulk_collections() -> Iterator[None]:
    """Collect at :data:`BULK_THRESHOLDS` within the block, and at the pace before it once the last
    such block (in any thread: the pace is the process's) has ended."""
    global _blocks, _before
    with _lock:
        if not _blocks:
            _before = gc.get_threshold()
            gc.set_threshold(*BULK_THRESHOLDS)
        _blocks += 1
    try:
        yield
    finally:
        with _lock:
            _blocks -= 1
            if not _blocks:
                gc.set_threshold(*_before)
