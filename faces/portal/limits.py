"""How many reports one client may send: counted in memory only, under a key that rotates.

A client is known here by an HMAC of its address under a secret that lives in this process's
memory and is replaced every window; the counts of a window and its secret are forgotten one window
after it ends. Nothing of it is written anywhere or logged, and once a secret is gone nobody (this
process included) can tell which address a count belonged to. Two limits hold: reports to one
portal, and reports to all portals, per client per window. The previous window's count is weighed
in by how much of it still lies within a window's length, so a client cannot double its allowance
by straddling the moment the key rotates.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Window:
    index: int
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    counts: Counter[str] = field(default_factory=Counter)

    def key(self, address: str, scope: str) -> str:
        mac = hmac.new(
            self.secret, f"{scope}\x00{address}".encode("utf-8", "surrogateescape"), hashlib.sha256
        )
        return mac.hexdigest()[:32]


class RotatingLimiter:
    """At most ``per_portal`` reports to one portal and ``overall`` to all portals from one client
    address in ``window`` seconds."""

    def __init__(
        self,
        per_portal: int,
        overall: int,
        window: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_portal = per_portal
        self.overall = overall
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._current = _Window(self._index())
        self._previous: _Window | None = None

    def allow(self, address: str, portal: str) -> bool:
        """Whether this client may send one more report to ``portal`` now; counted if so."""
        with self._lock:
            self._rotate()
            scopes = ((f"portal:{portal}", self.per_portal), ("all", self.overall))
            if any(self._count(address, scope) >= limit for scope, limit in scopes):
                return False
            for scope, _ in scopes:
                self._current.counts[self._current.key(address, scope)] += 1
            return True

    def clients(self) -> int:
        """How many keys are held (for the bench and tests: never which)."""
        with self._lock:
            return len(self._current.counts) + (len(self._previous.counts) if self._previous else 0)

    def _index(self) -> int:
        return int(self._clock() // self.window)

    def _rotate(self) -> None:
        index = self._index()
        if index == self._current.index:
            return
        # the window just ended is kept (its weight fading) only if it is the one before this
        self._previous = self._current if index == self._current.index + 1 else None
        self._current = _Window(index)

    def _count(self, address: str, scope: str) -> float:
        count = float(self._current.counts.get(self._current.key(address, scope), 0))
        if self._previous is not None:
            elapsed = self._clock() / self.window - self._current.index  # 0..1 into this window
            earlier = self._previous.counts.get(self._previous.key(address, scope), 0)
            count += earlier * (1.0 - elapsed)
        return count
