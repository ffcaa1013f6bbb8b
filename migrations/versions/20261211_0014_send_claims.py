"""send claims: who holds a batch of deliveries, with a heartbeat

A claimed batch gets a ``send_claims`` row (its Redis marks token, the Redis run_id, a
heartbeat the worker refreshes); its deliveries name it in ``claim_id``. The sweep settles
the rows of a claim whose heartbeat stopped: never begun → pending again, marked sent →
sent, in flight → unknown.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-11 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.model.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str) -> sa.Column:
    return sa.Column(name, service.model.base.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "send_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=200), nullable=False),
        sa.Column("redis_run_id", sa.String(length=64), nullable=True),
        _timestamp("started_at"),
        _timestamp("beat_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_claims")),
        sa.UniqueConstraint("token", name=op.f("uq_send_claims_token")),
    )
    with op.batch_alter_table("send_claims") as batch:
        batch.create_index(batch.f("ix_send_claims_beat_at"), ["beat_at"], unique=False)
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("claim_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_deliveries_claim_id"), ["claim_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index(batch.f("ix_deliveries_claim_id"))
        batch.drop_column("claim_id")
    with op.batch_alter_table("send_claims") as batch:
        batch.drop_index(batch.f("ix_send_claims_beat_at"))
    op.drop_table("send_claims")
