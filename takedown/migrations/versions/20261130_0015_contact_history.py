"""The contact book's history: every change to an entry, by whom and when.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from takedown.models import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.CheckConstraint(
            "change IN ('set', 'barred', 'removed', 'bounced')", name=op.f("ck_contact_change_change_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_change")),
    )
    op.create_index("ix_contact_change_entry", "contact_change", ["scope", "value", "id"])


def downgrade() -> None:
    op.drop_index("ix_contact_change_entry", table_name="contact_change")
    op.drop_table("contact_change")
