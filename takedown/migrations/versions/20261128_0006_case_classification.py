"""A case's classification as the analyst graded it (baseline, A1, A2, B1, B2).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("classification", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.drop_column("classification")
