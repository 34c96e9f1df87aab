"""The console's own settings, read from the environment like the core's."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from takedown.durations import parse_duration


@dataclass(frozen=True)
class ConsoleSettings:
    idle_timeout: timedelta = timedelta(minutes=30)
    """A session nobody has used for this long is over."""
    session_lifetime: timedelta = timedelta(hours=12)
    """A session is over after this long, however busy: a working day, then sign in again."""
    secure_cookies: bool = False
    """Cookies only over HTTPS (and ``__Host-`` names). On whenever the console is reached over
    HTTPS, which in production is always (behind a proxy that terminates TLS, set it)."""
    failed_logins_per_address: int = 10
    """Failed logins from one client address in 15 minutes before it is refused for a while."""
    figures_wait: float = 0.2
    """Seconds a page waits for a costly figure (time to removal) that has no copy yet, just after
    the console started, before it answers without it: the figure is computed behind the page."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConsoleSettings:
        env = os.environ if environ is None else environ
        public_url = env.get("TAKEDOWN_PUBLIC_URL", "")
        return cls(
            idle_timeout=_duration(env, "TAKEDOWN_CONSOLE_IDLE_TIMEOUT", cls.idle_timeout),
            session_lifetime=_duration(env, "TAKEDOWN_CONSOLE_SESSION_LIFETIME", cls.session_lifetime),
            secure_cookies=public_url.startswith("https://")
            or env.get("TAKEDOWN_CONSOLE_SECURE_COOKIES", "") in ("1", "true", "yes"),
        )


def _duration(env: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    raw = env.get(name)
    return default if not raw else parse_duration(raw, unit="m", name=name, zero_ok=False)
