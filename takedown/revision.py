"""The schema revision this code works with, in a module of its own so that what only needs to
compare it (opening a store, the terminal's direct reads) does not import SQLAlchemy or Alembic."""

from __future__ import annotations

HEAD_REVISION = "0034"
"""The newest migration, spelled here so that opening a store that is up to date reads one row and
never imports Alembic (a third of every command's start-up). ``tests/test_store.py`` holds it to
Alembic's own head: a new migration that forgets to move it fails there."""
