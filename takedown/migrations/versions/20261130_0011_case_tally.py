"""Running counts of cases by state (and whether an analyst must act), kept by triggers.

Counting a million cases by state took a second on SQLite; the console's dashboard must answer in
well under that. The triggers keep ``case_tally`` exact whoever writes ``case`` (the lifecycle,
bulk intake by COPY or executemany, a migration), so no writer can forget to count.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

STATES = ("already_gone", "changed", "gone", "live", "queued", "removed", "unreachable", "withdrawn")

SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER case_tally_insert AFTER INSERT ON "case" BEGIN
      UPDATE case_tally SET cases = cases + 1
      WHERE state = NEW.state AND needs_analyst = NEW.needs_analyst;
    END
    """,
    """
    CREATE TRIGGER case_tally_update AFTER UPDATE OF state, needs_analyst ON "case"
    WHEN OLD.state IS NOT NEW.state OR OLD.needs_analyst IS NOT NEW.needs_analyst BEGIN
      UPDATE case_tally SET cases = cases - 1
      WHERE state = OLD.state AND needs_analyst = OLD.needs_analyst;
      UPDATE case_tally SET cases = cases + 1
      WHERE state = NEW.state AND needs_analyst = NEW.needs_analyst;
    END
    """,
    """
    CREATE TRIGGER case_tally_delete AFTER DELETE ON "case" BEGIN
      UPDATE case_tally SET cases = cases - 1
      WHERE state = OLD.state AND needs_analyst = OLD.needs_analyst;
    END
    """,
)

# Statement-level, with the statement's rows as transition tables: one INSERT of the net change per
# statement (a COPY of a thousand cases is one row here, not a thousand), and no row that two
# writers would both update.
POSTGRESQL_TRIGGERS = (
    """
    CREATE FUNCTION case_tally_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO case_tally (state, needs_analyst, cases)
      SELECT state, needs_analyst, count(*) FROM new_rows GROUP BY state, needs_analyst;
      RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION case_tally_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO case_tally (state, needs_analyst, cases)
      SELECT state, needs_analyst, sum(change) FROM (
        SELECT state, needs_analyst, -1 AS change FROM old_rows
        UNION ALL
        SELECT state, needs_analyst, 1 AS change FROM new_rows
      ) AS moved
      GROUP BY state, needs_analyst HAVING sum(change) <> 0;
      RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION case_tally_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO case_tally (state, needs_analyst, cases)
      SELECT state, needs_analyst, -count(*) FROM old_rows GROUP BY state, needs_analyst;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER case_tally_insert AFTER INSERT ON "case" REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION case_tally_inserted()
    """,
    """
    CREATE TRIGGER case_tally_update AFTER UPDATE ON "case"
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION case_tally_updated()
    """,
    """
    CREATE TRIGGER case_tally_delete AFTER DELETE ON "case" REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION case_tally_deleted()
    """,
)


def upgrade() -> None:
    op.create_table(
        "case_tally",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("needs_analyst", sa.Boolean(), nullable=False),
        sa.Column("cases", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_tally")),
    )
    op.create_index("ix_case_tally_state", "case_tally", ["state", "needs_analyst"])
    op.create_index(
        "ix_case_removed_recently",
        "case",
        ["removed_at", "removal_seconds"],
        sqlite_where=sa.text("removal_seconds IS NOT NULL"),
        postgresql_where=sa.text("removal_seconds IS NOT NULL"),
    )
    op.create_index(
        "ix_case_needs_analyst",
        "case",
        ["id"],
        sqlite_where=sa.text("needs_analyst = 1"),
        postgresql_where=sa.text("needs_analyst"),
    )
    dialect = op.get_bind().dialect.name
    # Every pair gets a row, counted from the cases already there: SQLite's triggers update them.
    op.execute(
        "INSERT INTO case_tally (state, needs_analyst, cases) "
        + " UNION ALL ".join(
            f"SELECT '{state}', {flag}, (SELECT count(*) FROM \"case\" "
            f"WHERE state = '{state}' AND needs_analyst = {flag})"
            for state in STATES
            for flag in ("false", "true")
        )
    )
    for statement in SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRESQL_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for trigger in ("case_tally_insert", "case_tally_update", "case_tally_delete"):
        op.execute(f"DROP TRIGGER {trigger}" + ("" if dialect == "sqlite" else ' ON "case"'))
    if dialect != "sqlite":
        for function in ("case_tally_inserted", "case_tally_updated", "case_tally_deleted"):
            op.execute(f"DROP FUNCTION {function}()")
    op.drop_index("ix_case_removed_recently", table_name="case")
    op.drop_index("ix_case_needs_analyst", table_name="case")
    op.drop_index("ix_case_tally_state", table_name="case_tally")
    op.drop_table("case_tally")
