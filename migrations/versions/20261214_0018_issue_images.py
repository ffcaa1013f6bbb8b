"""issue_images: images uploaded into articles, served to mail readers by the service

Mail readers have no session, so an article's image is fetched from a public address
that carries the row's random token; the bytes live in the database like the original
documents, so every web process on every machine serves the same image.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-14 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.model.base

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issue_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=120), nullable=False),
        sa.Column("mime", sa.String(length=32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("alt", sa.String(length=300), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", service.model.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_images_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_issue_images_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_images")),
        sa.UniqueConstraint("token", name=op.f("uq_issue_images_token")),
    )
    with op.batch_alter_table("issue_images") as batch:
        batch.create_index(batch.f("ix_issue_images_issue_id"), ["issue_id"], unique=False)


def downgrade() -> None:
    op.drop_table("issue_images")
