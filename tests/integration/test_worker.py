"""A real Celery worker process runs tasks over the real Redis and database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

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


def test_a_worker_refuses_to_start_with_provider_limits_it_cannot_read(tmp_path: Path) -> None:
    # The sender reads TIDINGS_PROVIDER_LIMITS only while sending, and ignores it there
    # when it cannot: the part that would send must refuse it when it starts, by name.
    env = {**os.environ, "TIDINGS_DATA_DIR": str(tmp_path), "TIDINGS_PROVIDER_LIMITS": "qq=ten"}
    for part in (["worker", "-Q", "send"], ["beat"]):
        done = subprocess.run(
            [sys.executable, "-m", "service.cli", *part],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0, done.stdout
        assert "configuration error: TIDINGS_PROVIDER_LIMITS: 'qq=ten'" in done.stderr
