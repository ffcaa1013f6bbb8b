"""issues: the SHA-256 of the uploaded document, to notice the same file imported twice

Uploading a document again used to create a second, identical issue without a word. The
import now compares the new file's hash with ``content_sha256`` (indexed) and warns. The
hash is of the original bytes (``source_data``), so it is filled here for the issues that
already exist, without re-running the importer; issues without an attached original keep
NULL and never match.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 09:00:00
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows are hashed a few at a time: every original document is in memory while it is hashed.
BATCH_ROWS = 50


def upgrade() -> None:
    # batch mode: SQLite rebuilds the table where it cannot alter it in place.
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_issues_content_sha256"), ["content_sha256"], unique=False)
    _fill_hashes()


def _fill_hashes() -> None:
    """content_sha256 = SHA-256 of source_data, as service.issues.store.content_sha256."""
    conn = op.get_bind()
    issues = sa.table(
        "issues",
        sa.column("id", sa.Integer()),
        sa.column("source_data", sa.LargeBinary()),
        sa.column("content_sha256", sa.String(length=64)),
    )
    ids = conn.execute(
        sa.select(issues.c.id)
        .where(issues.c.source_data.is_not(None), issues.c.content_sha256.is_(None))
        .order_by(issues.c.id)
    ).scalars()
    pending = list(ids)
    for start in range(0, len(pending), BATCH_ROWS):
        chunk = pending[start : start + BATCH_ROWS]
        rows = conn.execute(
            sa.select(issues.c.id, issues.c.source_data).where(issues.c.id.in_(chunk))
        ).all()
        for issue_id, data in rows:
            conn.execute(
                issues.update()
                .where(issues.c.id == issue_id)
                .values(content_sha256=hashlib.sha256(bytes(data)).hexdigest())
            )


def downgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.drop_index(batch.f("ix_issues_content_sha256"))
        batch.drop_column("content_sha256")
