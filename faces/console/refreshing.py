"""A figure too costly to compute per request, kept as of a recent moment and refreshed behind it.

The first request computes it; later ones get the copy at once, and the first request after it
has aged starts one refresh in a background thread (never two at once) while it still answers with
the copy it has. Each console process keeps its own: a few queries every few minutes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("takedown.console")


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
        self._refreshing = False

    def get(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._compute()
                self._computed_at = self._clock()
                return self._value
            if self._clock() - self._computed_at > self._every and not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh, daemon=True, name="console-refresh").start()
            return self._value

    def _refresh(self) -> None:
        try:
            value = self._compute()
        except Exception:  # the copy stays; the next request tries again
            log.exception("refreshing a dashboard figure failed")
            with self._lock:
                self._refreshing = False
            return
        with self._lock:
            self._value = value
            self._computed_at = self._clock()
            self._refreshing = False
