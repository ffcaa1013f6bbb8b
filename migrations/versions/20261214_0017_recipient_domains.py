"""recipient_domains: the mailbox provider of company recipient domains, from their MX

A cache for the report's "By mailbox provider" table (issue 17, item 4): one row per
domain looked up, so that a report over thousands of company domains does not query the
DNS for each of them on every view.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-14 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.model.base

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recipient_domains",
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=255), nullable=False),
        sa.Column("mx", sa.String(length=255), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("checked_at", service.model.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_recipient_domains")),
    )


def downgrade() -> None:
    op.drop_table("recipient_domains")
