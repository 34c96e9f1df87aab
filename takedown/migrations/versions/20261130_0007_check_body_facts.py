"""What a check can say about a body it did not keep whole: declared length, type, coding, validators.

A file larger than the size cap is hashed up to the cap; the check keeps the length the server
declared, its content type and coding, and its validators (ETag, Last-Modified), so the next check
can tell the same file from another one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 01:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("check") as batch:
        batch.add_column(sa.Column("declared_length", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("content_type", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("content_encoding", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("etag", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("last_modified", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("check") as batch:
        for name in ("last_modified", "etag", "content_encoding", "content_type", "declared_length"):
            batch.drop_column(name)
