"""unsubscribe undos: the lists one unsubscribe link just left, for 「误操作？重新订阅」

The unsubscribed page offers to undo; its POST carries the same (stateless) unsubscribe
token, so the lists it left and whether the undo was used are kept here, keyed by the
token's SHA-256.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.model.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unsubscribe_undos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("list_ids", sa.JSON(), nullable=False),
        sa.Column("everything", sa.Boolean(), nullable=False),
        sa.Column("created_at", service.model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", service.model.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_unsubscribe_undos_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unsubscribe_undos")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_unsubscribe_undos_token_hash")),
    )
    with op.batch_alter_table("unsubscribe_undos") as batch:
        batch.create_index(
            batch.f("ix_unsubscribe_undos_subscriber_id"), ["subscriber_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("unsubscribe_undos") as batch:
        batch.drop_index(batch.f("ix_unsubscribe_undos_subscriber_id"))
    op.drop_table("unsubscribe_undos")
