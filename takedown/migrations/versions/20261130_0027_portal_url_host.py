"""A reported URL's host name, so that a crawl of several processes knows whose it is to revisit.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_url") as batch:
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))
    # URLs already waiting get their host from the URL itself (validated when it was received, so
    # already in ASCII); the few there are, one statement each.
    table = sa.table("portal_url", sa.column("id", sa.Integer), sa.column("url", sa.Text),
                     sa.column("host", sa.String), sa.column("state", sa.String))  # fmt: skip
    connection = op.get_bind()
    waiting = connection.execute(
        sa.select(table.c.id, table.c.url).where(table.c.state == "awaiting_revisit")
    ).all()
    for url_id, url in waiting:
        host = (urlsplit(url).hostname or "")[:255] or None
        connection.execute(sa.update(table).where(table.c.id == url_id).values(host=host))


def downgrade() -> None:
    with op.batch_alter_table("portal_url") as batch:
        batch.drop_column("host")
