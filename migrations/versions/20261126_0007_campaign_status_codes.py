"""campaigns: why a campaign is in its state, as a code with parameters

``status_reason`` was a sentence in whatever language the actor used (the error brake
wrote English, the admin wrote Chinese). It stays, in English, for the API and the
command line; ``status_code`` and ``status_params`` let the admin say it in the reader's
language. Rows written before have an empty code: their text is shown as it is.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite rebuilds the table where it cannot alter it in place.
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(
            sa.Column("status_code", sa.String(length=64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("status_params", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("status_params")
        batch.drop_column("status_code")
