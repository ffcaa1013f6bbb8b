"""Shared fixtures: real Redis, real database (SQLite or PostgreSQL), real SMTP, real worker.

The first CI run uses the embedded defaults (SQLite and the bundled Redis); the second
sets ``TIDINGS_TEST_DATABASE_URL`` (a fresh PostgreSQL database) and
``TIDINGS_TEST_REDIS_URL`` (the machine's Redis).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from service.config import Settings, load_settings
from service.db import Database
from service.embedded_redis import start_bundled_redis
from service.mail.capture import CaptureStore, start_capture_server
from service.migrate import upgrade
from service.model import Base
from service.ops.health import WORKER_KEY_PREFIX
from service.web.app import create_app, get_db

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parent.parent
WORKER_START_TIMEOUT = 60.0
TEST_SECRET = "test-secret-key-0123456789abcdef"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: the one named by TIDINGS_TEST_REDIS_URL, else the bundled one."""
    url = os.environ.get("TIDINGS_TEST_REDIS_URL")
    if url:
        redis.Redis.from_url(url).flushdb()
        yield url
        return
    proc, url = start_bundled_redis(tmp_path_factory.mktemp("redis"))
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database: TIDINGS_TEST_DATABASE_URL, else a SQLite file."""
    url = os.environ.get("TIDINGS_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    url = load_settings(
        {"TIDINGS_DATABASE_URL": url, "TIDINGS_SECRET_KEY": TEST_SECRET}
    ).database_url
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of the test service (outbox, logs, ...)."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def capture(data_dir: Path) -> Iterator[CaptureStore]:
    """The real SMTP capture server, running for the whole session."""
    store = CaptureStore(data_dir / "outbox")
    controller = start_capture_server(store)
    store.port = controller.port  # type: ignore[attr-defined]
    yield store
    controller.stop()


@pytest.fixture(scope="session")
def test_env(
    database_url: str, redis_url: str, data_dir: Path, capture: CaptureStore
) -> dict[str, str]:
    """TIDINGS_* variables of the test service (also given to the worker process).

    They are also put in this process's environment, so code that reads its settings at
    import (the Celery app that tests enqueue through) sees the test service too.
    """
    env = {
        "TIDINGS_DATA_DIR": str(data_dir),
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_REDIS_URL": redis_url,
        "TIDINGS_SECRET_KEY": TEST_SECRET,
        "TIDINGS_BASE_URL": "http://localhost",
        "TIDINGS_FROM": "大连市数字贸易协会 <news@example.org>",
        "TIDINGS_SMTP_URL": f"smtp://127.0.0.1:{capture.port}",  # type: ignore[attr-defined]
        "TIDINGS_SMTP_CAPTURE": "1",
    }
    os.environ.update(env)
    return env


@pytest.fixture(scope="session")
def settings(test_env: dict[str, str]) -> Settings:
    """Validated settings of the test service."""
    return load_settings(test_env)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    """A fresh app on the shared test database; every table is emptied afterwards."""
    application = create_app(test_config={"TESTING": True}, settings=settings)
    yield application
    database = get_db(application)
    _empty_tables(database)
    database.dispose()


def _empty_tables(database: Database, attempts: int = 3) -> None:
    # The session's Celery worker may still be finishing a task a test started; on
    # PostgreSQL its writes and these deletes can deadlock, and the loser is rolled back.
    for attempt in range(attempts):
        try:
            with database.transaction() as session:
                for table in reversed(Base.metadata.sorted_tables):
                    session.execute(delete(table))
            return
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client (cookies kept between requests)."""
    return app.test_client()


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    """The app served by a real HTTP server on a free local port (a thread of this
    process), for browsers and HTTP clients; its base URL without a trailing slash."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright, one for the session (skips the
    test with the reason when it is not installed)."""
    from playwright.sync_api import sync_playwright

    from tests.browser import launch, require_chromium

    require_chromium()
    with sync_playwright() as p:
        instance = launch(p)
        yield instance
        instance.close()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A database session on the test database; commit explicitly."""
    with get_db(app).session() as s:
        yield s


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    """An admin account's credentials."""
    from service.accounts.users import create_user

    create_user(session, "admin@example.org", "correct horse battery", "admin")
    session.commit()
    return {"email": "admin@example.org", "password": "correct horse battery"}


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token a page embeds (read the way a browser would submit it)."""
    import re

    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, f"no CSRF token in {path}"
    return match.group(1)


@pytest.fixture
def logged_in(client: FlaskClient, admin: dict[str, str]) -> FlaskClient:
    """A client logged in as the admin."""
    resp = client.post("/login", data={**admin, "csrf_token": csrf_token(client)})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


@pytest.fixture(scope="session")
def celery_worker(
    test_env: dict[str, str], redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker in its own process (not eager mode), on the test Redis/DB."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {**os.environ, **test_env, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service.cli",
                "worker",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while not any(client.scan_iter(f"{WORKER_KEY_PREFIX}*")):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    proc.log_path = log  # type: ignore[attr-defined]
    yield proc
    from service.processes import stop_process_group

    stop_process_group(proc)


@pytest.fixture
def send_queue_held(test_env: dict[str, str]) -> Iterator[None]:
    """The session's worker, when an earlier test started it, takes no ``send`` task
    during this test (Celery's remote control: cancel the consumer, add it back after).

    For tests that walk a campaign through its states by hand: the shared worker would
    otherwise send a small campaign and finish it within a second of ``start``.
    """
    from worker.app import celery

    held = celery.control.cancel_consumer("send", reply=True, timeout=1.0)
    try:
        yield
    finally:
        if held:
            celery.control.add_consumer("send", reply=True, timeout=1.0)
