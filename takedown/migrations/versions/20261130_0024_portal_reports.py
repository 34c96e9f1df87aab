"""Portal reports: what a reporter sent, each URL's way through triage, and an address for an
acknowledgement kept apart.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from takedown.models import UTCDateTime

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

STATES = (
    "'awaiting_revisit', 'awaiting_assessment', 'already_open', 'repeat', 'confirmed', "
    "'not_illegal', 'not_found', 'duplicate', 'referred'"
)


def upgrade() -> None:
    op.create_table(
        "portal_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portal_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(16), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("content", sa.String(32), nullable=False),
        sa.Column("found_where", sa.String(500), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["portal_id"], ["portal.id"], name=op.f("fk_portal_report_portal_id_portal")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_report")),
        sa.UniqueConstraint("reference", name=op.f("uq_portal_report_reference")),
    )
    op.create_index(op.f("ix_portal_report_portal_id"), "portal_report", ["portal_id"])
    op.create_table(
        "portal_url",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("dedup_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("same_as_id", sa.Integer(), nullable=True),
        sa.Column("times_reported", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(f"state IN ({STATES})", name=op.f("ck_portal_url_state_known")),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_portal_url_case_id_case")),
        sa.ForeignKeyConstraint(
            ["report_id"], ["portal_report.id"], name=op.f("fk_portal_url_report_id_portal_report")
        ),
        sa.ForeignKeyConstraint(
            ["same_as_id"], ["portal_url.id"], name=op.f("fk_portal_url_same_as_id_portal_url")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_url")),
    )
    op.create_index(op.f("ix_portal_url_report_id"), "portal_url", ["report_id"])
    op.create_index(op.f("ix_portal_url_dedup_hash"), "portal_url", ["dedup_hash"])
    op.create_index("ix_portal_url_state", "portal_url", ["state", "id"])
    op.create_table(
        "reporter_address",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"], ["portal_report.id"], name=op.f("fk_reporter_address_report_id_portal_report")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reporter_address")),
        sa.UniqueConstraint("report_id", name=op.f("uq_reporter_address_report_id")),
    )


def downgrade() -> None:
    op.drop_table("reporter_address")
    op.drop_index("ix_portal_url_state", table_name="portal_url")
    op.drop_index(op.f("ix_portal_url_dedup_hash"), table_name="portal_url")
    op.drop_index(op.f("ix_portal_url_report_id"), table_name="portal_url")
    op.drop_table("portal_url")
    op.drop_index(op.f("ix_portal_report_portal_id"), table_name="portal_report")
    op.drop_table("portal_report")
