"""The Celery application. ``celery -A worker.app`` (or ``tidings worker``) loads it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery, Task, bootsteps, signals
from sqlalchemy.orm import Session

from service.config import load_settings
from service.db import Database
from worker.settings import celery_config

HEARTBEAT_SECONDS = 10
HEARTBEAT_TTL_SECONDS = 60

settings = load_settings()
celery = Celery("tidings")
celery.conf.update(celery_config(settings.redis_url))

_database: Database | None = None
_database_lock = threading.Lock()


def app_database() -> Database:
    """This worker process's database (engine and session factory), opened on first use.

    A worker needs sessions, not the web: no Flask app, no blueprints. Each pool process
    opens its own after the fork (engines must not cross a fork).
    """
    global _database
    with _database_lock:
        if _database is None:
            _database = Database(settings.database_url)
        return _database


@contextmanager
def work_session() -> Iterator[Session]:
    """A session for work that commits as it goes (per chunk, per result group).

    ``AppTask`` wraps a whole task in one transaction; long tasks whose progress must be
    visible while they run (imports, bulk actions, sending) use this instead. Whatever is
    left uncommitted at the end is rolled back.
    """
    with app_database().session() as session:
        try:
            yield session
        finally:
            session.rollback()


class AppTask(Task):
    """A task that runs in one database transaction.

    The task function receives the session as its first argument; the session commits
    when the function returns and rolls back when it raises. Tasks take ids, never
    objects, so a message in Redis never holds stale state.
    """

    abstract = True
    # The session argument is ours, not the caller's: don't check call signatures.
    typing = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with app_database().transaction() as session:
            return self.run(session, *args, **kwargs)


class Heartbeat(bootsteps.StartStopStep):
    """Writes a short-lived key to Redis so the dashboard can tell a worker is alive."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.tref: Any = None

    def start(self, worker: Any) -> None:
        """Beat once now, then every ``HEARTBEAT_SECONDS``."""
        self._beat(worker)
        self.tref = worker.timer.call_repeatedly(
            HEARTBEAT_SECONDS, self._beat, (worker,), priority=10
        )

    def stop(self, worker: Any) -> None:
        """Stop beating and remove the key, so a clean stop shows at once."""
        if self.tref is not None:
            self.tref.cancel()
        try:
            from service.ops.health import WORKER_KEY_PREFIX, redis_client

            redis_client(settings.redis_url).delete(WORKER_KEY_PREFIX + worker.hostname)
        except Exception:  # Redis may already be gone at shutdown; nothing to clean then
            pass

    def _beat(self, worker: Any) -> None:
        from service.ops.health import WORKER_KEY_PREFIX, redis_client

        try:
            redis_client(settings.redis_url).set(
                WORKER_KEY_PREFIX + worker.hostname, "1", ex=HEARTBEAT_TTL_SECONDS
            )
        except Exception:  # a missed beat only makes the dashboard say "no worker"
            pass


celery.steps["worker"].add(Heartbeat)


@signals.setup_logging.connect
def _setup_logging(**_kwargs: Any) -> None:
    # Connecting here stops Celery from installing its own handlers: the worker logs
    # JSON lines like the web (or readable text on a terminal).
    from service.logging_setup import configure_logging

    configure_logging()


# What the tasks import when they run (inside the task functions, so the web, which imports
# the task modules only to enqueue, does not load the sending stack). A worker imports
# them once in its main process, before it forks the pool: each pool process then starts
# with them instead of importing them on its first task (measured on the send benchmark:
# premailer, mjml, the renderer and the database driver cost each pool process ≈ 0.3 s
# of CPU at a campaign's start, during which its first batch waited).
# tests/unit/test_worker_preload.py keeps this list whole.
PRELOAD_MODULES = (
    "service.campaigns.engine",
    "service.campaigns.healing",
    "service.campaigns.hints",
    "service.campaigns.ledger",
    "service.campaigns.sender",
    "service.events.inbound",
    "service.events.mailbox",
    "service.events.tracking",
    "service.issues.import_jobs",
    "service.logging_setup",
    "service.ops.health",
    "service.subscribers.bulk",
    "service.subscribers.import_jobs",
    "service.subscribers.query",
)


@signals.worker_init.connect
def _preload(**_kwargs: Any) -> None:
    import importlib

    from sqlalchemy.engine import make_url

    for name in PRELOAD_MODULES:
        importlib.import_module(name)
    # The database driver too (its import, not a connection: engines must not cross the
    # fork; each pool process opens its own).
    make_url(settings.database_url).get_dialect().import_dbapi()


TASK_MODULES = (
    "worker.tasks",
    "worker.tasks_audience",
    "worker.tasks_send",
    "worker.tasks_events",
    "worker.tasks_reader",
    "worker.tasks_issues",
)


def _load_tasks() -> None:
    # Importing a module registers its tasks; its BEAT dict joins the schedule.
    import importlib

    for name in TASK_MODULES:
        module = importlib.import_module(name)
        celery.conf.beat_schedule.update(getattr(module, "BEAT", {}))


_load_tasks()
