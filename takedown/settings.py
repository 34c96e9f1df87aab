"""Settings, read from the environment once and passed around as a plain value.

Secrets (SMTP password, API tokens) will only ever come from the environment, never from a file in
the repository, and are never logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DB_FILENAME = "takedown.db"


def data_directory(environ: Mapping[str, str] | None = None) -> Path:
    """Where the SQLite store lives by default: ``$TAKEDOWN_HOME``, else the XDG data directory."""
    env = os.environ if environ is None else environ
    if env.get("TAKEDOWN_HOME"):
        return Path(env["TAKEDOWN_HOME"]).expanduser()
    xdg = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg).expanduser() / "takedown"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about the core."""

    database_url: str
    actor: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        url = env.get("TAKEDOWN_DATABASE_URL") or sqlite_url(data_directory(env) / DEFAULT_DB_FILENAME)
        return cls(database_url=url, actor=env.get("TAKEDOWN_ACTOR") or default_actor(env))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def default_actor(environ: Mapping[str, str]) -> str:
    """Who is acting, for the audit log: the login name, as ``analyst:<name>``."""
    name = environ.get("USER") or environ.get("LOGNAME") or environ.get("USERNAME") or "unknown"
    return f"analyst:{name}"
