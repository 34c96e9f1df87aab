"""Revisits keep the PDQ perceptual hash of an image body (and its quality, or why it has none).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("check") as batch:
        batch.add_column(sa.Column("pdq", sa.String(64), nullable=True))
        batch.add_column(sa.Column("pdq_quality", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("pdq_error", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("check") as batch:
        batch.drop_column("pdq_error")
        batch.drop_column("pdq_quality")
        batch.drop_column("pdq")
