"""Settings staff change in the admin (relays, throttles, journal layout, ...), kept in
the ``settings`` table as JSON under a key per area."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.model import Setting


def get_setting(session: Session, key: str, default: Any = None) -> Any:
    """The stored value for ``key``, or ``default`` when none was saved."""
    row = session.get(Setting, key)
    return default if row is None else row.value


def set_setting(session: Session, key: str, value: Any) -> None:
    """Store ``value`` (JSON-serialisable) under ``key``."""
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value
    session.flush()
