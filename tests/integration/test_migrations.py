"""Migrations build the schema from empty on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from service.db import make_engine
from service.migrate import alembic_config, upgrade
from service.model import Base, UTCDateTime, utcnow


def _postgres_admin_url() -> str | None:
    url = os.environ.get("TIDINGS_TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    base = _postgres_admin_url()
    if base is None:
        pytest.skip(
            "no PostgreSQL for this run (TIDINGS_TEST_DATABASE_URL is not postgresql; "
            ".ci/run sets it on its second run)"
        )
    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"tidings_mig_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_upgrade_from_empty_creates_every_table(empty_database: str) -> None:
    upgrade(empty_database)
    engine = make_engine(empty_database)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_the_models_match_the_migrations(empty_database: str) -> None:
    upgrade(empty_database)
    engine = make_engine(empty_database)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"autogenerate found differences: {diff}"


def test_upgrading_twice_is_harmless(empty_database: str) -> None:
    upgrade(empty_database)
    upgrade(empty_database)
    engine = make_engine(empty_database)
    try:
        with engine.connect() as conn:
            versions = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()
    heads = set(ScriptDirectory.from_config(alembic_config(empty_database)).get_heads())
    assert versions == heads


def test_0008_fills_the_content_hash_of_issues_imported_before_it(empty_database: str) -> None:
    upgrade(empty_database, "0007")
    issues = sa.table(
        "issues",
        sa.column("id", sa.Integer()),
        sa.column("slug", sa.String()),
        sa.column("title", sa.String()),
        sa.column("number", sa.String()),
        sa.column("structure", sa.JSON()),
        sa.column("source_filename", sa.String()),
        sa.column("source_data", sa.LargeBinary()),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    original = "# 大连数字贸易\n\n季刊\n".encode()
    now = utcnow()
    row = {
        "title": "T",
        "number": "",
        "structure": {},
        "source_filename": "a.md",
        "created_at": now,
        "updated_at": now,
    }
    engine = make_engine(empty_database)
    try:
        with engine.begin() as conn:
            conn.execute(
                issues.insert(),
                [
                    {**row, "id": 1, "slug": "with-original", "source_data": original},
                    {**row, "id": 2, "slug": "without-original", "source_data": None},
                ],
            )
        upgrade(empty_database)
        with engine.connect() as conn:
            hashes = dict(conn.execute(text("SELECT id, content_sha256 FROM issues")).all())
    finally:
        engine.dispose()
    assert hashes == {1: hashlib.sha256(original).hexdigest(), 2: None}


def test_0010_makes_existing_lists_private_except_the_demo_list_and_downgrades(
    empty_database: str,
) -> None:
    from alembic import command

    from service.cli.demo import DEMO_LIST_DESCRIPTION, DEMO_LIST_SLUG

    upgrade(empty_database, "0009")
    lists = sa.table(
        "lists",
        sa.column("id", sa.Integer()),
        sa.column("slug", sa.String()),
        sa.column("name", sa.String()),
        sa.column("description", sa.Text()),
        sa.column("double_opt_in", sa.Boolean()),
        sa.column("created_at", UTCDateTime()),
    )
    row = {"name": "L", "double_opt_in": True, "created_at": utcnow()}
    engine = make_engine(empty_database)
    try:
        with engine.begin() as conn:
            conn.execute(
                lists.insert(),
                [
                    {**row, "id": 1, "slug": DEMO_LIST_SLUG, "description": DEMO_LIST_DESCRIPTION},
                    {**row, "id": 2, "slug": DEMO_LIST_SLUG + "-real", "description": ""},
                    # Only slug and text together name the demo list; either alone is private.
                    {**row, "id": 3, "slug": "board", "description": DEMO_LIST_DESCRIPTION},
                ],
            )
        upgrade(empty_database)
        with engine.connect() as conn:
            public = dict(conn.execute(text("SELECT id, public FROM lists")).all())
        command.downgrade(alembic_config(empty_database), "0009")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("lists")}
            kept = conn.execute(text("SELECT count(*) FROM lists")).scalar()
    finally:
        engine.dispose()
    assert {k: bool(v) for k, v in public.items()} == {1: True, 2: False, 3: False}
    assert "public" not in columns and kept == 3


def test_0016_links_existing_organisations_by_folded_name_and_downgrades(
    empty_database: str,
) -> None:
    from alembic import command

    upgrade(empty_database, "0015")
    now = utcnow()
    spellings = {
        1: "ＡＢＣ科技有限公司",  # full-width letters: the same company as 2
        2: "abc科技有限公司 ",
        3: "ABC科技有限责任公司",  # another legal form: another organisation
        4: "",
    }
    subscribers = sa.table(
        "subscribers",
        *(sa.column(c) for c in ("id", "email", "email_ascii", "name", "organisation")),
        *(sa.column(c) for c in ("language", "status")),
        sa.column("attributes", sa.JSON()),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    engine = make_engine(empty_database)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO lists (id, slug, name, description, double_opt_in, public, "
                    "created_at) VALUES (1, 'm', 'M', '', true, false, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                subscribers.insert(),
                [
                    {
                        "id": i,
                        "email": f"p{i}@example.org",
                        "email_ascii": f"p{i}@example.org",
                        "name": "",
                        "organisation": org,
                        "language": "zh-CN",
                        "status": "enabled",
                        "attributes": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, org in spellings.items()
                ],
            )
            conn.execute(
                text(
                    "INSERT INTO memberships (subscriber_id, list_id, status, created_at) "
                    "SELECT id, 1, 'active', created_at FROM subscribers"
                )
            )
        upgrade(empty_database)
        with engine.connect() as conn:
            names = dict(conn.execute(text("SELECT id, name FROM organisations")).all())
            links = dict(conn.execute(text("SELECT id, organisation_id FROM subscribers")).all())
            members = conn.execute(text("SELECT count(*) FROM memberships")).scalar()
        command.downgrade(alembic_config(empty_database), "0015")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("subscribers")}
            kept = conn.execute(text("SELECT count(*) FROM subscribers")).scalar()
    finally:
        engine.dispose()
    assert sorted(names.values()) == ["ABC科技有限责任公司", "ＡＢＣ科技有限公司"]
    assert links[1] == links[2] and names[links[1]] == "ＡＢＣ科技有限公司"
    assert names[links[3]] == "ABC科技有限责任公司" and links[4] is None
    assert members == 4  # adding the column rebuilt nothing: no membership cascaded away
    assert "organisation_id" not in columns and kept == 4


def test_0019_adds_segments_without_rebuilding_campaigns_and_downgrades(
    empty_database: str,
) -> None:
    from alembic import command

    upgrade(empty_database, "0018")
    engine = make_engine(empty_database)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO campaigns (id, name, subject, preheader, from_name, from_addr, "
                    "status, tracking, content_mode, status_reason, status_code, probe_attempts, "
                    "recipients_total, created_at, updated_at) VALUES (1, 's', 's', '', '', "
                    "'news@example.org', 'finished', true, 'auto', '', '', 0, 1, :now, :now)"
                ),
                {"now": utcnow()},
            )
            conn.execute(
                text(
                    "INSERT INTO deliveries (id, campaign_id, email, status, attempts, resends) "
                    "VALUES (1, 1, 'a@example.org', 'sent', 1, 0)"
                )
            )
        upgrade(empty_database)
        with engine.connect() as conn:
            segment_ids = conn.execute(text("SELECT segment_id FROM campaigns")).scalars().all()
            deliveries = conn.execute(text("SELECT count(*) FROM deliveries")).scalar()
        command.downgrade(alembic_config(empty_database), "0018")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("campaigns")}
            tables = set(inspect(conn).get_table_names())
            kept = conn.execute(text("SELECT count(*) FROM deliveries")).scalar()
    finally:
        engine.dispose()
    assert segment_ids == [None]
    assert deliveries == 1  # adding the column rebuilt nothing: no delivery cascaded away
    assert "segment_id" not in columns and "segments" not in tables and kept == 1
