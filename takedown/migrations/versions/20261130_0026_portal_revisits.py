"""What the one revisit of a portal report's URL saw, and what the hash lists knew of it.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-30 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from takedown.models import JSONType

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_url") as batch:
        batch.add_column(sa.Column("revisit", JSONType, nullable=True))
        batch.add_column(sa.Column("matches", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("portal_url") as batch:
        batch.drop_column("matches")
        batch.drop_column("revisit")
