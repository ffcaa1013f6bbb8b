"""Planner statistics refreshed after bulk writes (service.db.refresh_statistics)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.db import STALE_ROWS, refresh_statistics

PROBE = "statistics_probe"


@pytest.fixture
def probe(session: Session) -> Iterator[str]:
    """A scratch table (PostgreSQL only), dropped afterwards."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("no PostgreSQL for this run (.ci/run's second run sets it)")
    session.execute(text(f"CREATE TABLE {PROBE} (id integer)"))
    session.commit()
    yield PROBE
    session.rollback()
    session.execute(text(f"DROP TABLE {PROBE}"))
    session.commit()


def _write(session: Session, rows: int) -> None:
    session.execute(text(f"INSERT INTO {PROBE} SELECT generate_series(1, :n)"), {"n": rows})
    # Statistics counters reach pg_stat_user_tables when a backend reports them (up to a
    # second later); make this one report at its commit.
    session.execute(text("SELECT pg_stat_force_next_flush()"))
    session.commit()


def test_only_tables_that_changed_a_lot_are_analyzed(session: Session, probe: str) -> None:
    _write(session, STALE_ROWS // 2)
    assert refresh_statistics(session, [probe], if_stale=True) == []
    _write(session, STALE_ROWS)
    assert refresh_statistics(session, [probe], if_stale=True) == [probe]
    analyzed = session.scalar(
        text("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = :t"),
        {"t": probe},
    )
    assert analyzed == 0
    assert refresh_statistics(session, [probe], if_stale=True) == []
    assert refresh_statistics(session, [probe]) == [probe]  # unconditional


def test_other_databases_have_nothing_to_refresh(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        pytest.skip("SQLite plans without ANALYZE statistics of this kind")
    assert refresh_statistics(session, ["events"]) == []
