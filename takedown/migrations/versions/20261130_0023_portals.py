"""Reporting portals: each portal's configuration.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from takedown.models import JSONType, UTCDateTime

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(32), nullable=False),
        sa.Column("host", sa.String(253), nullable=True),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("languages", JSONType, nullable=False),
        sa.Column("partner", sa.String(200), nullable=False),
        sa.Column("welcome", sa.Text(), nullable=True),
        sa.Column("help_text", sa.Text(), nullable=True),
        sa.Column("helplines", JSONType, nullable=False),
        sa.Column("acknowledgements", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal")),
        sa.UniqueConstraint("slug", name=op.f("uq_portal_slug")),
        sa.UniqueConstraint("host", name=op.f("uq_portal_host")),
    )


def downgrade() -> None:
    op.drop_table("portal")
