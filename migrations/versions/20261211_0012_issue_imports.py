"""issue_imports: heavy document uploads parsed by the worker, not the web request

A Word document with a large body took the web request as long as mammoth needed (a
minute for a 64 MiB one). Uploads above a size are now kept as a row here and a file in
the data directory; the worker imports them and the admin's page polls the row.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-11 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.model.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, service.model.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "issue_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("allow_duplicate", sa.Boolean(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _timestamp("created_at", nullable=False),
        _timestamp("finished_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_imports_issue_id_issues"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_issue_imports_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_imports")),
    )


def downgrade() -> None:
    op.drop_table("issue_imports")
