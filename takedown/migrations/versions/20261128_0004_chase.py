"""The chase: a case's notice rounds and analyst flag; resolutions recorded per case.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("notice_rounds", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(
            sa.Column("needs_analyst", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
    with op.batch_alter_table("hosting") as batch:
        batch.add_column(sa.Column("case_id", sa.Integer(), nullable=True))
        batch.create_index("ix_hosting_case_id", ["case_id"], unique=False)
        batch.create_foreign_key("fk_hosting_case_id_case", "case", ["case_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("hosting") as batch:
        batch.drop_constraint("fk_hosting_case_id_case", type_="foreignkey")
        batch.drop_index("ix_hosting_case_id")
        batch.drop_column("case_id")
    with op.batch_alter_table("case") as batch:
        batch.drop_column("needs_analyst")
        batch.drop_column("notice_rounds")
