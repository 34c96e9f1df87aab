"""A reporter's address remembers the language they wrote in, and when a sender took it.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from takedown.models import UTCDateTime

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reporter_address") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=True))
        batch.add_column(sa.Column("acknowledging_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reporter_address") as batch:
        batch.drop_column("acknowledging_at")
        batch.drop_column("language")
