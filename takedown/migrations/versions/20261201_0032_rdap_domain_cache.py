"""RDAP registration cache: a registered domain's registrar and abuse contact, with an expiry.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-01 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import takedown.models

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rdap_domain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column(
            "record",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("failure", sa.String(length=32), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column("fetched_at", takedown.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", takedown.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rdap_domain")),
        sa.UniqueConstraint("domain", name=op.f("uq_rdap_domain_domain")),
    )


def downgrade() -> None:
    op.drop_table("rdap_domain")
