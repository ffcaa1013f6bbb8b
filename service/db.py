"""Database plumbing: engines and sessions (the tables are in ``service.model``).

Domain code takes a ``Session``; this module only makes them. SQLite gets the pragmas
that let a web server and several worker processes share one file safely.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the web) go on while a worker writes; busy_timeout makes writers
    # wait for each other instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the settings this service relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def load_schema() -> None:
    """Import every table and check that their mappings resolve.

    A foreign key names its target table by string; SQLAlchemy resolves it when the first
    query runs, and fails then if the module defining that table was never imported (a
    fresh ``tidings campaign add`` process once stopped on ``campaigns.created_by →
    users``). Every way to a session goes through ``Database``, so loading the whole
    schema here means no entry point can run with part of it.
    """
    from sqlalchemy.orm import configure_mappers

    import service.model  # noqa: F401 - imported for its side effect: every table

    configure_mappers()


class Database:
    """An engine plus its session factory; one per process."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        load_schema()
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        """A new session; the caller closes it."""
        return self.sessionmaker()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessionmaker() as session, session.begin():
            yield session

    def dispose(self) -> None:
        """Close pooled connections (after a fork, and at shutdown)."""
        self.engine.dispose()


def is_postgresql(session: Session) -> bool:
    """Whether ``session`` talks to PostgreSQL (else SQLite)."""
    return session.get_bind().dialect.name == "postgresql"


def insert_on_conflict(session: Session, table: Any) -> Any:
    """This dialect's INSERT into ``table`` that knows ON CONFLICT (SQLite and PostgreSQL
    share the API: ``on_conflict_do_nothing``, ``on_conflict_do_update``, ``excluded``)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def insert_ignoring_duplicates(session: Session, table: Any, keys: Sequence[str]) -> Any:
    """INSERT … ON CONFLICT (``keys``) DO NOTHING into ``table``, for this dialect."""
    return insert_on_conflict(session, table).on_conflict_do_nothing(index_elements=list(keys))


# A table counts as stale for the planner once this many rows changed since its last
# ANALYZE, plus this share of its size (autovacuum's own rule, with a larger floor).
STALE_ROWS = 10_000
STALE_FRACTION = 0.1


def refresh_statistics(
    session: Session, tables: Sequence[str], *, if_stale: bool = False
) -> list[str]:
    """ANALYZE ``tables`` on PostgreSQL (nothing elsewhere) and commit; return which.

    A bulk write outruns autovacuum (it looks once a minute): until then the planner
    believes the old row counts and picks plans that cost seconds. ANALYZE samples, so
    it stays cheap; with ``if_stale`` only tables that changed a lot are analyzed.
    """
    if not is_postgresql(session) or not tables:
        return []
    chosen = list(tables)
    if if_stale:
        rows = session.execute(
            text(
                "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(:tables) "
                "AND n_mod_since_analyze > :floor + :fraction * n_live_tup"
            ),
            {"tables": chosen, "floor": STALE_ROWS, "fraction": STALE_FRACTION},
        )
        chosen = [name for (name,) in rows]
    if chosen:
        # Names come from our own code, never from input; ANALYZE takes no parameters.
        session.execute(text("ANALYZE " + ", ".join(chosen)))
    session.commit()
    return chosen
