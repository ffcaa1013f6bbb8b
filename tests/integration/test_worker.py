"""A real Celery worker process runs tasks over the real Redis and database."""

from __future__ import annotations

import subprocess
import time
import uuid

import redis
from sqlalchemy.orm import Session

from service.ops.health import check_workers


def test_a_real_worker_runs_a_task_that_reads_the_database(
    celery_worker: subprocess.Popen[bytes],
    redis_url: str,
    session: Session,
    admin: dict[str, str],
    database_url: str,
) -> None:
    from worker.tasks import ping

    marker = uuid.uuid4().hex
    ping.apply_async(args=[marker])
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    deadline = time.monotonic() + 30
    value = None
    while value is None and time.monotonic() < deadline:
        value = client.get(f"tidings:ping:{marker}")
        time.sleep(0.1)
    assert value is not None, "the worker did not run the task"
    dialect = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    assert value == f"{dialect}:1"  # it saw the one admin this test created


def test_a_running_worker_is_reported_alive(
    celery_worker: subprocess.Popen[bytes], redis_url: str
) -> None:
    check = check_workers(redis_url)
    assert check.ok and "celery@" in check.detail
