"""The console's defences that are not about who is signed in: response headers, where a ``next=``
may lead, cross-site requests, and a limit on failed logins per client address.

The Content-Security-Policy allows nothing from anywhere but the console itself, no inline script
or style, no frames, and forms that post only back to it. Responses to signed-in pages are never
cached: a shared computer's back button must not show a list of reported URLs after logout.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), clipboard-write=(self)",
    "Cache-Control": "no-store",
}


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this site, never another site. ``//evil.example`` and
    ``/\\evil.example`` are other sites to a browser; so is anything with a scheme."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(char) < 0x21 or char == "\\" for char in target):
        return "/"
    return target


def cross_site(origin: str | None, fetch_site: str | None, own_origin: str) -> bool:
    """Whether a state-changing request came from another site: by ``Sec-Fetch-Site`` where the
    browser sends it, otherwise by ``Origin``. Neither header (a script, an old browser) is not
    proof of anything; the CSRF token still has to match."""
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return True
    return origin is not None and origin != "null" and origin.rstrip("/") != own_origin


class FailureLimiter:
    """At most ``limit`` failed logins per key (a client address) in ``window`` seconds. Kept in
    memory only: the addresses are forgotten when they age out, and never written anywhere."""

    def __init__(
        self, limit: int = 10, window: float = 900.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, key: str) -> bool:
        with self._lock:
            return len(self._recent(key)) >= self.limit

    def failed(self, key: str) -> None:
        with self._lock:
            self._recent(key).append(self._clock())

    def spend(self, key: str) -> bool:
        """Count one use of ``key`` (every request, not only failures); ``False`` once ``key``
        has used up its ``limit`` in the window, and the use is then not counted."""
        with self._lock:
            recent = self._recent(key)
            if len(recent) >= self.limit:
                return False
            recent.append(self._clock())
            return True

    def _recent(self, key: str) -> deque[float]:
        horizon = self._clock() - self.window
        for stale in [k for k, times in self._failures.items() if not times or times[-1] < horizon]:
            del self._failures[stale]
        times = self._failures.setdefault(key, deque())
        while times and times[0] < horizon:
            times.popleft()
        return times
