"""RDAP network cache: networks by address range, with an expiry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 13:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import takedown.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rdap_network",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registry", sa.String(length=64), nullable=False),
        sa.Column("handle", sa.String(length=255), nullable=False),
        sa.Column("ip_version", sa.Integer(), nullable=False),
        sa.Column("start_key", sa.String(length=32), nullable=False),
        sa.Column("end_key", sa.String(length=32), nullable=False),
        sa.Column(
            "record",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("fetched_at", takedown.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", takedown.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rdap_network")),
        sa.UniqueConstraint("ip_version", "start_key", "end_key", name="uq_rdap_network_range"),
    )
    op.create_index("ix_rdap_network_lookup", "rdap_network", ["ip_version", "start_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rdap_network_lookup", table_name="rdap_network")
    op.drop_table("rdap_network")
