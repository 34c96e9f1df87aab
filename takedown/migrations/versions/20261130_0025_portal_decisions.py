"""An analyst's decision on a portal report's URL: when, by whom, and the country it was referred to.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-30 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from takedown.models import UTCDateTime

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_url") as batch:
        batch.add_column(sa.Column("decided_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("decided_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("referred_to", sa.String(2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("portal_url") as batch:
        batch.drop_column("referred_to")
        batch.drop_column("decided_by")
        batch.drop_column("decided_at")
