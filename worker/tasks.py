"""Thin Celery tasks: each calls a plain service function with ids and a session."""

from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.model import User
from service.ops.health import BEAT_KEY, redis_client
from worker.app import AppTask, celery, settings

BEAT_KEY_TTL_SECONDS = 120
PING_KEY_TTL_SECONDS = 300


@celery.task(name="tidings.default.beat_heartbeat", ignore_result=True)
def beat_heartbeat() -> None:
    """Record that beat is ticking (the dashboard shows it)."""
    redis_client(settings.redis_url).set(BEAT_KEY, str(time.time()), ex=BEAT_KEY_TTL_SECONDS)


@celery.task(name="tidings.default.ping", base=AppTask)
def ping(session: Session, marker: str) -> None:
    """A round trip through Redis, a worker and the database.

    Writes ``tidings:ping:<marker>`` = "<dialect>:<number of users>" so a test (or a
    person) can see that a worker read the database on the caller's behalf.
    """
    users = session.scalar(select(func.count(User.id))) or 0
    dialect = session.get_bind().dialect.name
    redis_client(settings.redis_url).set(
        f"tidings:ping:{marker}", f"{dialect}:{users}", ex=PING_KEY_TTL_SECONDS
    )
