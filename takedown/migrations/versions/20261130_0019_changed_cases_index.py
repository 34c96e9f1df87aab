"""Case lists of the rare states (changed, withdrawn): a partial index of the few there are.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


RARE_STATES = ("changed", "withdrawn")


def upgrade() -> None:
    for state in RARE_STATES:
        where = sa.text(f"state = '{state}'")
        op.create_index(f"ix_case_{state}", "case", ["id"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for state in RARE_STATES:
        op.drop_index(f"ix_case_{state}", table_name="case")
