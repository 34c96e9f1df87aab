"""The case list between two dates: an index on the time cases were queued.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 14:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_case_queued_at", "case", ["queued_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_case_queued_at", table_name="case")
