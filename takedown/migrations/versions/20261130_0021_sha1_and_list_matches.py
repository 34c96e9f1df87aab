"""Revisits keep a SHA-1 of each body, and what it matched on the hash lists in use.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("check") as batch:
        batch.add_column(sa.Column("sha1", sa.String(40), nullable=True))
    op.create_table(
        "check_match",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("list_name", sa.String(64), nullable=False),
        sa.Column("list_version", sa.String(64), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("distance", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["check_id"], ["check.id"], name=op.f("fk_check_match_check_id_check"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_match")),
    )
    op.create_index(op.f("ix_check_match_check_id"), "check_match", ["check_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_check_match_check_id"), table_name="check_match")
    op.drop_table("check_match")
    with op.batch_alter_table("check") as batch:
        batch.drop_column("sha1")
