"""deliveries: resends; campaigns: the error brake's probes of the relay

A row staff sent again by "resend unknown" now says so (``resends``, ``resent_at``): it may
have reached its recipient twice, and the report counts it apart. A campaign the error
brake paused for a transient fault probes its relay with backoff (``probe_due_at``,
``probe_attempts``) and resumes by itself once the relay answers; each probe is a row of
``relay_probes``, shown on the campaign page.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-11 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.model.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, service.model.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # batch mode: SQLite rebuilds the table where it cannot alter it in place.
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("resends", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(_timestamp("resent_at", nullable=True))
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(_timestamp("probe_due_at", nullable=True))
        batch.add_column(
            sa.Column("probe_attempts", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "relay_probes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        _timestamp("at", nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_relay_probes_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_probes")),
    )
    with op.batch_alter_table("relay_probes") as batch:
        batch.create_index(batch.f("ix_relay_probes_campaign_id"), ["campaign_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("relay_probes") as batch:
        batch.drop_index(batch.f("ix_relay_probes_campaign_id"))
    op.drop_table("relay_probes")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("probe_attempts")
        batch.drop_column("probe_due_at")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("resent_at")
        batch.drop_column("resends")
