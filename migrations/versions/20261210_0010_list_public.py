"""lists: public, the lists offered on /subscribe and in the embed snippet

Before, every list that was not archived could be joined by anyone on /subscribe, and a
single opt-in list activated any third party's address at once. Now a list is private
unless staff mark it public.

Existing lists become private: a members' list must not stay open to strangers because it
was created before the choice existed; staff who want sign-ups tick "public" once. The one
exception is the demo list (`tidings demo`, `tidings up`), recognised by its slug and its
demo description together and still double opt-in, so a newcomer's demo keeps its
working sign-up page.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What service/cli/demo.py writes; copied here because a migration must not change
# when the code does.
DEMO_LIST_SLUG = "members"
DEMO_LIST_DESCRIPTION = "大连市数字贸易协会会员单位联系人（演示数据）"


def upgrade() -> None:
    # batch mode: SQLite rebuilds the table where it cannot alter it in place.
    with op.batch_alter_table("lists") as batch:
        batch.add_column(
            sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    lists = sa.table(
        "lists",
        sa.column("slug", sa.String()),
        sa.column("description", sa.Text()),
        sa.column("double_opt_in", sa.Boolean()),
        sa.column("public", sa.Boolean()),
    )
    op.execute(
        lists.update()
        .where(
            lists.c.slug == DEMO_LIST_SLUG,
            lists.c.description == DEMO_LIST_DESCRIPTION,
            lists.c.double_opt_in == sa.true(),
        )
        .values(public=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("lists") as batch:
        batch.drop_column("public")
