"""Hash lists: versions of lists of fingerprints of confirmed imagery, and their entries.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from takedown.models import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hash_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("entries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("imported_by", sa.String(200), nullable=False),
        sa.Column("activated_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('loading', 'active', 'retired')", name=op.f("ck_hash_list_state_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_list")),
    )
    active = sa.text("state = 'active'")
    op.create_index(
        "uq_hash_list_active_name",
        "hash_list",
        ["name"],
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )
    op.create_table(
        "hash_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("md5", sa.String(32), nullable=True),
        sa.Column("sha1", sa.String(40), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("pdq", sa.String(64), nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("classification", sa.String(16), nullable=True),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["list_id"], ["hash_list.id"], name=op.f("fk_hash_entry_list_id_hash_list"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_entry")),
    )
    for algorithm in ("md5", "sha1", "sha256"):
        where = sa.text(f"{algorithm} IS NOT NULL")
        op.create_index(
            f"ix_hash_entry_{algorithm}",
            "hash_entry",
            [algorithm],
            sqlite_where=where,
            postgresql_where=where,
        )
    op.create_index("ix_hash_entry_list", "hash_entry", ["list_id", "id"])


def downgrade() -> None:
    op.drop_table("hash_entry")
    op.drop_index("uq_hash_list_active_name", table_name="hash_list")
    op.drop_table("hash_list")
