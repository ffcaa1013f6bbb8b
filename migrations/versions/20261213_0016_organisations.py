"""organisations: member companies, and each subscriber's link to one

The free-text ``subscribers.organisation`` stays (it is what the person or the file
typed, and search and export use it); ``subscribers.organisation_id`` links it to an
``organisations`` row matched by the folded name. Every spelling already stored is
folded here and linked, so the first organisation list shows the existing people.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-13 10:00:00
"""

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.model.base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK_NAME = "fk_subscribers_organisation_id_organisations"
# The folding of service/subscribers/organisation_names.py, copied: a migration must not
# change when the code does.
NAME_MAX = 200
KEY_MAX = 400
SPACES = re.compile(r"\s+")


def _display(raw: str) -> str:
    return SPACES.sub(" ", raw).strip()[:NAME_MAX]


def _key(raw: str) -> str:
    return SPACES.sub(" ", unicodedata.normalize("NFKC", raw).casefold()).strip()[:KEY_MAX]


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=400), nullable=False),
        sa.Column("level", sa.String(length=32), server_default="", nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("created_at", service.model.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("name_key", name=op.f("uq_organisations_name_key")),
    )
    _add_link_column()
    with op.batch_alter_table("subscribers") as batch:
        batch.create_index(
            batch.f("ix_subscribers_organisation_id"), ["organisation_id"], unique=False
        )
    _link_existing()


def _add_link_column() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its foreign key in place; batch mode would rebuild
        # the table, and dropping the old one (foreign keys on) would cascade to every
        # membership, token and undo of every subscriber.
        op.execute(
            "ALTER TABLE subscribers ADD COLUMN organisation_id INTEGER "
            f"CONSTRAINT {FK_NAME} REFERENCES organisations (id)"
        )
        return
    op.add_column("subscribers", sa.Column("organisation_id", sa.Integer(), nullable=True))
    op.create_foreign_key(FK_NAME, "subscribers", "organisations", ["organisation_id"], ["id"])


def _link_existing() -> None:
    """One organisation per folded name among the stored spellings (named after the
    spelling of its earliest subscriber), and every subscriber linked to it."""
    bind = op.get_bind()
    subscribers = sa.table(
        "subscribers",
        sa.column("id", sa.Integer()),
        sa.column("organisation", sa.String()),
        sa.column("organisation_id", sa.Integer()),
    )
    organisations = sa.table(
        "organisations",
        sa.column("id", sa.Integer()),
        sa.column("name", sa.String()),
        sa.column("name_key", sa.String()),
        sa.column("level", sa.String()),
        sa.column("attributes", sa.JSON()),
        sa.column("created_at", service.model.base.UTCDateTime(timezone=True)),
    )
    spellings = bind.execute(
        sa.select(subscribers.c.organisation, sa.func.min(subscribers.c.id).label("first"))
        .where(subscribers.c.organisation != "")
        .group_by(subscribers.c.organisation)
        .order_by(sa.text("first"))
    ).all()
    names: dict[str, str] = {}  # folded name → the spelling it is shown as
    for spelling, _first in spellings:
        key = _key(spelling)
        if key:
            names.setdefault(key, _display(spelling))
    if not names:
        return
    now = service.model.base.utcnow()
    bind.execute(
        organisations.insert(),
        [
            {"name": name, "name_key": key, "level": "", "attributes": {}, "created_at": now}
            for key, name in names.items()
        ],
    )
    ids = dict(bind.execute(sa.select(organisations.c.name_key, organisations.c.id)).all())
    links = [
        {"spelling": spelling, "org": ids[_key(spelling)]}
        for spelling, _first in spellings
        if _key(spelling)
    ]
    bind.execute(
        subscribers.update()
        .where(subscribers.c.organisation == sa.bindparam("spelling"))
        .values(organisation_id=sa.bindparam("org")),
        links,
    )


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_index(batch.f("ix_subscribers_organisation_id"))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE subscribers DROP COLUMN organisation_id")
    else:
        op.drop_constraint(FK_NAME, "subscribers", type_="foreignkey")
        op.drop_column("subscribers", "organisation_id")
    op.drop_table("organisations")
