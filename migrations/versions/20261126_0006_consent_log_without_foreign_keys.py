"""consents: the log keeps its ids, without foreign keys

The consent log is append-only evidence. Its two foreign keys cost the import about 16 µs
of server time per row (a referential check per row and key; a hand-run INSERT of
100,000 rows with and without them on PostgreSQL 15),
and ON DELETE SET NULL made a row forget which list it was about when the list went.
Deleting a subscriber now detaches their consent rows explicitly (service.subscribers.bulk).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEYS = {
    "fk_consents_subscriber_id_subscribers": ("subscriber_id", "subscribers"),
    "fk_consents_list_id_lists": ("list_id", "lists"),
}


def upgrade() -> None:
    # batch mode: SQLite can only drop a foreign key by rebuilding the table.
    with op.batch_alter_table("consents") as batch:
        for name in FOREIGN_KEYS:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        for name, (column, table) in FOREIGN_KEYS.items():
            batch.create_foreign_key(name, table, [column], ["id"], ondelete="SET NULL")
