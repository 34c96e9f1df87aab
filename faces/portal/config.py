"""The portal application's own settings, read from the environment like the core's."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from takedown.errors import ConfigurationError


@dataclass(frozen=True)
class PortalSettings:
    reports_per_portal: int = 20
    """Reports one client may send to one portal in an hour (``TAKEDOWN_PORTAL_REPORTS_PER_HOUR``)."""
    reports_overall: int = 60
    """Reports one client may send to all portals in an hour (``TAKEDOWN_PORTAL_REPORTS_PER_HOUR_ALL``)."""
    max_body_bytes: int = 64 * 1024
    """The largest report received (``TAKEDOWN_PORTAL_MAX_BODY``): 20 long URLs and the texts."""
    client_header: str | None = None
    """Behind a proxy, the header that carries the client's address (``X-Forwarded-For``), for the
    limits only (``TAKEDOWN_PORTAL_CLIENT_HEADER``); never stored or logged either way."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PortalSettings:
        env = os.environ if environ is None else environ
        return cls(
            reports_per_portal=_count(env, "TAKEDOWN_PORTAL_REPORTS_PER_HOUR", cls.reports_per_portal),
            reports_overall=_count(env, "TAKEDOWN_PORTAL_REPORTS_PER_HOUR_ALL", cls.reports_overall),
            max_body_bytes=_count(env, "TAKEDOWN_PORTAL_MAX_BODY", cls.max_body_bytes),
            client_header=env.get("TAKEDOWN_PORTAL_CLIENT_HEADER", "").strip() or None,
        )


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"{name}={raw[:20]!r}: a whole number, 1 or more")
    return int(raw)
