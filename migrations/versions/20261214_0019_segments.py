"""segments: saved filters on the audience, and the one a campaign uses

A segment is a named list of conditions stored as JSON (never SQL);
``campaigns.segment_id`` names the segment a campaign's lists are filtered by (none:
every member).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-14 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.model.base

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK_NAME = "fk_campaigns_segment_id_segments"


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("created_at", service.model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.model.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_name")),
    )
    if op.get_bind().dialect.name == "sqlite":
        # In place, with its foreign key: batch mode would rebuild the campaigns table,
        # and dropping the old one (foreign keys on) would cascade to every delivery.
        op.execute(
            "ALTER TABLE campaigns ADD COLUMN segment_id INTEGER "
            f"CONSTRAINT {FK_NAME} REFERENCES segments (id)"
        )
    else:
        op.add_column("campaigns", sa.Column("segment_id", sa.Integer(), nullable=True))
        op.create_foreign_key(FK_NAME, "campaigns", "segments", ["segment_id"], ["id"])
    with op.batch_alter_table("campaigns") as batch:
        batch.create_index(batch.f("ix_campaigns_segment_id"), ["segment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_index(batch.f("ix_campaigns_segment_id"))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE campaigns DROP COLUMN segment_id")
    else:
        op.drop_constraint(FK_NAME, "campaigns", type_="foreignkey")
        op.drop_column("campaigns", "segment_id")
    op.drop_table("segments")
