"""events: engagement and hourly rollups for fast reports

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-26 05:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.model.base

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engagements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("machine", sa.Boolean(), nullable=False),
        sa.Column("link_position", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_at", service.model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", service.model.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_engagements_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_engagements_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagements")),
        sa.UniqueConstraint(
            "delivery_id", "type", "machine", "link_position", name="uq_engagements_delivery_kind"
        ),
    )
    with op.batch_alter_table("engagements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engagements_campaign_kind",
            ["campaign_id", "type", "machine", "delivery_id", "link_position", "count"],
            unique=False,
        )
    op.create_table(
        "event_hours",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("machine", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_event_hours_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "hour", "type", "machine", name=op.f("pk_event_hours")
        ),
    )


def downgrade() -> None:
    op.drop_table("event_hours")
    with op.batch_alter_table("engagements", schema=None) as batch_op:
        batch_op.drop_index("ix_engagements_campaign_kind")
    op.drop_table("engagements")
