"""What hosting providers said: answers on the provider page and mail to the reply address.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from takedown.models import UTCDateTime

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "inbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=True),
        sa.Column("case_ids", JSONType, nullable=False),
        sa.Column("subject", sa.String(300), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("ticket", sa.String(100), nullable=True),
        sa.Column("attachments", JSONType, nullable=False),
        sa.Column("mail_id", sa.String(255), nullable=True),
        sa.Column("problem", sa.String(300), nullable=True),
        sa.Column("handled_at", UTCDateTime(), nullable=True),
        sa.Column("handled_by", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(["notice_id"], ["notice.id"], name=op.f("fk_inbox_message_notice_id_notice")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_message")),
        sa.UniqueConstraint("mail_id", name=op.f("uq_inbox_message_mail_id")),
    )
    op.create_index(
        "ix_inbox_message_waiting",
        "inbox_message",
        ["id"],
        sqlite_where=sa.text("handled_at IS NULL"),
        postgresql_where=sa.text("handled_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("inbox_message")
