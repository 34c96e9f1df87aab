"""Fewer index writes for each new case, and the case list by hosting between two dates from an index.

- URLs of closed cases: the index of every case's dedup hash became one of closed cases only. The
  open ones are found through the unique index of open cases, so a new case (always open) was
  written to two indexes of the same 64-character hash, one of them needlessly.
- Notices due: a new case has no next notice round until it is seen live; the index now holds only
  the cases that have one.
- Fingerprints by case: the unique constraint's index starts with ``case_id``, so the index of its
  own on ``case_id`` was one more write for every fingerprint and never needed.

And three indexes more, written when a case's hosting is resolved, never at intake: the case list
filtered by country, AS or network between two dates, read in queued-time order. Without them the
console read each of a country's cases from the table to compare its date (one country of a
million cases: 1.7 s for the first request).

Writing 100,000 new cases into SQLite with the file read in the writing process went from
25,300-25,500 to 29,000-29,200 rows/s with these indexes. ``bench/bench_import.py``, whose file is
read beside the writes, gained 6-8% on SQLite and PostgreSQL alike: there the reading process is
as busy as the writing one. A query must now say the open or closed states as the indexes do,
written out, for the planner to use them (``takedown.states.OPEN_CASE_SQL``).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

OPEN_STATES = "'changed', 'gone', 'live', 'queued', 'unreachable'"
CLOSED = sa.text(f"state NOT IN ({OPEN_STATES})")
DUE = sa.text("next_notice_at IS NOT NULL")
QUEUED_BY = (
    ("ix_case_country_queued", "hosting_country"),
    ("ix_case_asn_queued", "hosting_asn"),
    ("ix_case_network_queued", "hosting_network"),
)


def upgrade() -> None:
    op.drop_index("ix_case_dedup_hash", table_name="case")
    op.create_index(
        "ix_case_closed_dedup_hash", "case", ["dedup_hash"], sqlite_where=CLOSED, postgresql_where=CLOSED
    )
    op.drop_index("ix_case_notice_due", table_name="case")
    op.create_index(
        "ix_case_notice_due", "case", ["next_notice_at", "id"], sqlite_where=DUE, postgresql_where=DUE
    )
    op.drop_index("ix_fingerprint_case_id", table_name="fingerprint")
    for name, column in QUEUED_BY:
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "case", [column, "queued_at", "id"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, _column in QUEUED_BY:
        op.drop_index(name, table_name="case")
    op.create_index("ix_fingerprint_case_id", "fingerprint", ["case_id"])
    op.drop_index("ix_case_notice_due", table_name="case")
    op.create_index("ix_case_notice_due", "case", ["next_notice_at", "id"])
    op.drop_index("ix_case_closed_dedup_hash", table_name="case")
    op.create_index("ix_case_dedup_hash", "case", ["dedup_hash"])
