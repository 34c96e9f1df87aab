"""A figure too costly to compute per request, kept as of a recent moment and refreshed behind it.

Every computation runs in a background thread, never in a request: a request gets the copy at once,
and the first request after the copy has aged starts one refresh (never two at once) while it still
answers with the copy it has. Before there is any copy (just after the console starts, on a store
where the figure takes seconds), a request waits a moment for the first one and then answers
without it, saying it is being computed: a page must not take seconds because it was the first.
``start`` begins that first computation before anyone asks, as ``takedown web`` does when it
starts. Each console process keeps its own copies: a few queries every few minutes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar, cast

T = TypeVar("T")
log = logging.getLogger("takedown.console")


class _Computation:
    """One computation under way: set ``done`` when it ends; ``failure`` is what it raised."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.failure: Exception | None = None


class Refreshing(Generic[T]):
    def __init__(
        self, compute: Callable[[], T], *, every: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._compute = compute
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._computed_at = 0.0
        self._running: _Computation | None = None

    def start(self) -> None:
        """Compute the first copy behind the caller, if none is there or under way."""
        with self._lock:
            if self._value is None:
                self._begin()

    def get(self, *, wait: float = math.inf) -> T | None:
        """The copy; without one, the first as soon as it is computed, or None after ``wait`` seconds.
        If the first computation fails meanwhile, its error (the next request tries again)."""
        with self._lock:
            value = self._value
            if value is None:
                running = self._begin()
            else:
                if self._clock() - self._computed_at > self._every:
                    self._begin()
                return value
        running.done.wait(None if math.isinf(wait) else wait)
        if running.failure is not None:
            raise running.failure
        with self._lock:
            return self._value

    def latest(self) -> T:
        """The copy, waiting for the first however long it takes: for a figure a page cannot do
        without (the portals' directory)."""
        return cast(T, self.get())

    def _begin(self) -> _Computation:
        """The computation under way, started now if none was (the caller holds the lock)."""
        if self._running is None:
            self._running = _Computation()
            threading.Thread(
                target=self._refresh, args=(self._running,), daemon=True, name="console-refresh"
            ).start()
        return self._running

    def _refresh(self, running: _Computation) -> None:
        try:
            value = self._compute()
        except Exception as exc:  # a copy there stays; the next request tries again
            log.exception("computing a dashboard figure failed")
            running.failure = exc
            with self._lock:
                self._running = None
            running.done.set()
            return
        with self._lock:
            self._value = value
            self._computed_at = self._clock()
            self._running = None
        running.done.set()
