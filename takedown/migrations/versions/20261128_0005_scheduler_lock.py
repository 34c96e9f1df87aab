"""One scheduler per store: the lock row, and which sender claimed each notice.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import takedown.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_lock",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", takedown.models.UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", takedown.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_lock")),
    )
    with op.batch_alter_table("notice") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notice") as batch:
        batch.drop_column("claimed_by")
    op.drop_table("scheduler_lock")
