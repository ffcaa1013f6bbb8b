"""The per-request database session: made on first use, closed at teardown."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session

from service.config import Settings
from service.web.app import get_db


def db_session() -> Session:
    """The request's session (one per request, opened lazily)."""
    if "db_session" not in g:
        g.db_session = get_db(current_app).session()
    session: Session = g.db_session
    return session


def close_session(_exc: BaseException | None = None) -> None:
    """Roll back anything uncommitted and return the connection to the pool."""
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()


def settings() -> Settings:
    """The running configuration."""
    value: Settings = current_app.config["TIDINGS"]
    return value
