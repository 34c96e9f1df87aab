"""What keeps the scheduler from its work, for the console's dashboard.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scheduler_lock") as batch:
        batch.add_column(sa.Column("problem", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scheduler_lock") as batch:
        batch.drop_column("problem")
