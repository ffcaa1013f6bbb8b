"""issues: keep_private, an issue staff keep out of the public archive

Starting a campaign now publishes its issue's archive page, so that the mail's "view in
browser" and "read more" links answer. An issue the staff keep private is not published;
its campaigns go out in full, with no links to a page that would answer 404.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite rebuilds the table where it cannot alter it in place.
    with op.batch_alter_table("issues") as batch:
        batch.add_column(
            sa.Column("keep_private", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("keep_private")
