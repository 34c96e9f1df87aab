"""RDAP network cache: each range's span, so that finding the range holding an address is bounded.

"Starts at or below the address and ends at or above it" read back through every stored range that
starts below the address, and for an address no range holds that is every range of its IP version
(500 such lookups took 1.7-3.2 s with 10,000 networks stored). A range whose span (end - start) has
``span_bits`` bits starts less than ``2 ** span_bits`` below any address it holds, so one index
probe per span size finds it.

The ranges already stored keep their answers: their spans are computed here, not forgotten.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-01 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

BACKFILL_CHUNK = 5000


def upgrade() -> None:
    op.add_column("rdap_network", sa.Column("span_bits", sa.Integer(), nullable=True))
    connection = op.get_bind()
    stored = connection.execute(sa.text("SELECT id, start_key, end_key FROM rdap_network")).all()
    spans = [
        {"id": row_id, "span_bits": (int(end_key, 16) - int(start_key, 16)).bit_length()}
        for row_id, start_key, end_key in stored
    ]
    update = sa.text("UPDATE rdap_network SET span_bits = :span_bits WHERE id = :id")
    for start in range(0, len(spans), BACKFILL_CHUNK):
        connection.execute(update, spans[start : start + BACKFILL_CHUNK])
    with op.batch_alter_table("rdap_network") as batch:
        batch.alter_column("span_bits", existing_type=sa.Integer(), nullable=False)
    op.drop_index("ix_rdap_network_lookup", table_name="rdap_network")
    op.create_index(
        "ix_rdap_network_span", "rdap_network", ["ip_version", "span_bits", "start_key"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_rdap_network_span", table_name="rdap_network")
    op.create_index("ix_rdap_network_lookup", "rdap_network", ["ip_version", "start_key"], unique=False)
    with op.batch_alter_table("rdap_network") as batch:
        batch.drop_column("span_bits")
