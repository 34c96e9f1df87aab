"""The staff log: sign-ins, accounts and API tokens, by whom and when.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from takedown.models import JSONType, UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=True),
        sa.Column("detail", JSONType, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_event")),
    )
    op.create_index(op.f("ix_staff_event_subject"), "staff_event", ["subject"])


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_event_subject"), table_name="staff_event")
    op.drop_table("staff_event")
