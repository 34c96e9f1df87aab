"""Indexes for the case list's filters: reference, hosting country, AS and network, each in id order.

Partial (only cases that have the value), so bulk intake, which writes cases not yet resolved,
does not pay for the hosting ones.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_case_reference", "reference"),
    ("ix_case_hosting_country", "hosting_country"),
    ("ix_case_hosting_asn", "hosting_asn"),
    ("ix_case_hosting_network", "hosting_network"),
)


def upgrade() -> None:
    for name, column in INDEXES:
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "case", [column, "id"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, _column in INDEXES:
        op.drop_index(name, table_name="case")
