"""Initial schema: case, fingerprint, check, hosting, contact, notice, notice_case, event.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 22:33:23.546292
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import takedown.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("canonical_url", sa.Text(), nullable=False),
        sa.Column("dedup_key", sa.Text(), nullable=False),
        sa.Column("dedup_hash", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("queued_by", sa.String(length=200), nullable=False),
        sa.Column("previous_case_id", sa.Integer(), nullable=True),
        sa.Column("queued_at", takedown.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", takedown.models.UTCDateTime(), nullable=False),
        sa.Column("first_seen_live_at", takedown.models.UTCDateTime(), nullable=True),
        sa.Column("last_seen_live_at", takedown.models.UTCDateTime(), nullable=True),
        sa.Column("last_checked_at", takedown.models.UTCDateTime(), nullable=True),
        sa.Column("first_notice_at", takedown.models.UTCDateTime(), nullable=True),
        sa.Column("gone_since", takedown.models.UTCDateTime(), nullable=True),
        sa.Column("removed_at", takedown.models.UTCDateTime(), nullable=True),
        sa.Column("closed_at", takedown.models.UTCDateTime(), nullable=True),
        sa.Column("next_check_at", takedown.models.UTCDateTime(), nullable=True),
        sa.Column("next_notice_at", takedown.models.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('changed', 'gone', 'live', 'queued', 'removed', 'unreachable', 'withdrawn')",
            name=op.f("ck_case_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["previous_case_id"], ["case.id"], name=op.f("fk_case_previous_case_id_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case")),
    )
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.create_index("ix_case_dedup_hash", ["dedup_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_host"), ["host"], unique=False)
        batch_op.create_index("ix_case_check_due", ["next_check_at", "id"], unique=False)
        batch_op.create_index("ix_case_notice_due", ["next_notice_at", "id"], unique=False)
        batch_op.create_index(
            "uq_case_open_dedup_hash",
            ["dedup_hash"],
            unique=True,
            sqlite_where=sa.text("state IN ('changed', 'gone', 'live', 'queued', 'unreachable')"),
            postgresql_where=sa.text("state IN ('changed', 'gone', 'live', 'queued', 'unreachable')"),
        )

    op.create_table(
        "contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=300), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("never_notify", sa.Boolean(), nullable=False),
        sa.Column("bad_since", takedown.models.UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_at", takedown.models.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "scope IN ('asn', 'network', 'domain', 'email')", name=op.f("ck_contact_scope_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact")),
        sa.UniqueConstraint("scope", "value", name="uq_contact_scope_value"),
    )
    op.create_table(
        "hosting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("registered_domain", sa.String(length=255), nullable=True),
        sa.Column(
            "ips",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("asn", sa.Integer(), nullable=True),
        sa.Column("network", sa.String(length=64), nullable=True),
        sa.Column("organisation", sa.String(length=300), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column(
            "abuse_contacts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("registrar", sa.String(length=300), nullable=True),
        sa.Column(
            "registrar_abuse",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("cdn", sa.String(length=100), nullable=True),
        sa.Column("upstream_asn", sa.Integer(), nullable=True),
        sa.Column(
            "rdap_sources",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("resolved_at", takedown.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", takedown.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosting")),
    )
    with op.batch_alter_table("hosting", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hosting_hostname"), ["hostname"], unique=False)
        batch_op.create_index(batch_op.f("ix_hosting_network"), ["network"], unique=False)

    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", takedown.models.UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", takedown.models.UTCDateTime(), nullable=True),
        sa.Column("sent_at", takedown.models.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice")),
        sa.UniqueConstraint("message_id", name=op.f("uq_notice_message_id")),
    )
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_recipient"), ["recipient"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_status"), ["status"], unique=False)

    op.create_table(
        "check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("checked_at", takedown.models.UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("final_url", sa.Text(), nullable=True),
        sa.Column(
            "redirect_chain",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("connected_ip", sa.String(length=45), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("fingerprint_match", sa.Boolean(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("error_class", sa.String(length=100), nullable=True),
        sa.Column("error_detail", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_check_case_id_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check")),
    )
    with op.batch_alter_table("check", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_check_case_id"), ["case_id"], unique=False)

    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", takedown.models.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_event_case_id_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_case_id"), ["case_id"], unique=False)

    op.create_table(
        "fingerprint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.CheckConstraint("algorithm IN ('sha256', 'md5')", name=op.f("ck_fingerprint_algorithm_known")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_fingerprint_case_id_case"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fingerprint")),
        sa.UniqueConstraint("case_id", "algorithm", "digest", name="uq_fingerprint_case_algorithm_digest"),
    )
    with op.batch_alter_table("fingerprint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fingerprint_case_id"), ["case_id"], unique=False)

    op.create_table(
        "notice_case",
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_notice_case_case_id_case")),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notice.id"], name=op.f("fk_notice_case_notice_id_notice"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("notice_id", "case_id", name=op.f("pk_notice_case")),
    )
    with op.batch_alter_table("notice_case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_case_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notice_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_case_case_id"))

    op.drop_table("notice_case")
    with op.batch_alter_table("fingerprint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fingerprint_case_id"))

    op.drop_table("fingerprint")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_case_id"))

    op.drop_table("event")
    with op.batch_alter_table("check", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_check_case_id"))

    op.drop_table("check")
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_status"))
        batch_op.drop_index(batch_op.f("ix_notice_recipient"))

    op.drop_table("notice")
    with op.batch_alter_table("hosting", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hosting_network"))
        batch_op.drop_index(batch_op.f("ix_hosting_hostname"))

    op.drop_table("hosting")
    op.drop_table("contact")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_case_open_dedup_hash",
            sqlite_where=sa.text("state IN ('changed', 'gone', 'live', 'queued', 'unreachable')"),
            postgresql_where=sa.text("state IN ('changed', 'gone', 'live', 'queued', 'unreachable')"),
        )
        batch_op.drop_index("ix_case_notice_due")
        batch_op.drop_index("ix_case_check_due")
        batch_op.drop_index(batch_op.f("ix_case_host"))
        batch_op.drop_index("ix_case_dedup_hash")

    op.drop_table("case")
