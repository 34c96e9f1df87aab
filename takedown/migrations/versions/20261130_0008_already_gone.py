"""A closed state of its own for content that was already gone: never seen live, nothing taken down.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 01:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BEFORE = "state IN ('changed', 'gone', 'live', 'queued', 'removed', 'unreachable', 'withdrawn')"
AFTER = (
    "state IN ('already_gone', 'changed', 'gone', 'live', 'queued', 'removed', 'unreachable', 'withdrawn')"
)


def upgrade() -> None:
    # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table (its partial unique
    # index, one open case per URL, is rebuilt with its WHERE clause: a test holds it to that).
    with op.batch_alter_table("case") as batch:
        batch.drop_constraint(op.f("ck_case_state_known"), type_="check")
        batch.create_check_constraint("state_known", AFTER)
    # Cases closed as removed that were never seen live were this all along.
    op.execute(
        "UPDATE \"case\" SET state = 'already_gone', removed_at = NULL "
        "WHERE state = 'removed' AND first_seen_live_at IS NULL"
    )


def downgrade() -> None:
    op.execute("UPDATE \"case\" SET state = 'removed' WHERE state = 'already_gone'")
    with op.batch_alter_table("case") as batch:
        batch.drop_constraint(op.f("ck_case_state_known"), type_="check")
        batch.create_check_constraint("state_known", BEFORE)
