"""The ``takedown`` command: a face over the operations, split by command group.

Argument parsing and presentation only. Output for people goes to stdout as text or tables;
``--json`` gives the same facts to scripts (see :func:`faces.cli.base.print_json`). Progress and
errors go to stderr. Exit codes are in :mod:`takedown.exitcodes`. A command group's module is
imported when one of its commands is used (:data:`faces.cli.base.COMMANDS`).
"""

from __future__ import annotations

from faces.cli.base import App, cli, is_store_failure, load_every_command, store_lost

__all__ = ["App", "cli", "load_every_command", "main"]


def main() -> None:
    """Entry point of the ``takedown`` console script."""
    try:
        cli(prog_name="takedown")
    except Exception as exc:  # outside a command's own handling: still one line, not a traceback
        if is_store_failure(exc):
            store_lost(exc)
        raise
