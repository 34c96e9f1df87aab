"""Notice rounds in the statistics indexes: the hosting figures count the rounds sent about each
group's cases without reading the table.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

SEEN_LIVE = "first_seen_live_at IS NOT NULL"
GROUPS = {
    "ix_case_stats_network": ["hosting_network", "hosting_organisation"],
    "ix_case_stats_asn": ["hosting_asn"],
    "ix_case_stats_country": ["hosting_country"],
}


def _create(name: str, columns: list[str]) -> None:
    where = sa.text(SEEN_LIVE)
    op.create_index(name, "case", columns, sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    for name, group in GROUPS.items():
        op.drop_index(name, table_name="case")
        _create(name, ["state", *group, "removal_seconds", "notice_rounds"])


def downgrade() -> None:
    for name, group in GROUPS.items():
        op.drop_index(name, table_name="case")
        _create(name, ["state", *group, "removal_seconds"])
