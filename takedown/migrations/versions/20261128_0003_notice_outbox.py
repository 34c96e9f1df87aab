"""Notice outbox: the composed message, its recipient's role and language, and the sender's claim.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 13:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import takedown.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notice") as batch:
        batch.add_column(sa.Column("role", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("party", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("language", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("claimed_at", takedown.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("message", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notice") as batch:
        for column in ("message", "claimed_at", "language", "party", "role"):
            batch.drop_column(column)
