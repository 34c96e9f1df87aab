"""Recipients whose provider links were revoked.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from takedown.models import UTCDateTime

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_revocation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_revocation")),
        sa.UniqueConstraint("recipient", name=op.f("uq_provider_revocation_recipient")),
    )


def downgrade() -> None:
    op.drop_table("provider_revocation")
