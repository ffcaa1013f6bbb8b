"""Real parts for the sending tests: our own Redis, a misbehaving SMTP sink, worker
processes we can kill, and the beat jobs driven from the test.

These tests do not use the shared ``celery_worker`` fixture: each starts its own workers,
pointed at its own Redis (so it can kill and restart it) and its own sink.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis
from celery import Celery
from flask import Flask
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from service.accounts.settings_store import set_setting
from service.campaigns import engine
from service.campaigns.brake import BRAKE_KEY
from service.campaigns.claims import SettleResult
from service.campaigns.drafts import create_campaign
from service.config import Settings, parse_smtp_url
from service.embedded_redis import start_bundled_redis
from service.mail.sending_config import SETTINGS_KEY
from service.mail.throttle import KEY_PREFIX
from service.mail.transport import close_kept_connections
from service.model import Campaign, Delivery, MailingList, Membership, SendClaim, Subscriber
from service.ops.health import WORKER_KEY_PREFIX
from service.processes import stop_process_group
from service.web.app import get_db
from tests.integration.campaigns.sink import Sink
from worker.settings import celery_config

ROOT = Path(__file__).resolve().parents[3]
WORKER_START_TIMEOUT = 60.0
TICK_SECONDS = 0.3
BODY = '<h1>Hello</h1><p>A plain body with a <a href="https://example.org/a">link</a>.</p>'
# Fast knobs for tests: small batches, quick retries, quick requeue of lost hints.
TEST_SENDING = {
    "global_rate": 0,
    "domain_limits": {},
    "batch_size": 50,
    "max_batches_in_flight": 6,
    "provider_limits": {},
    "retry_base_seconds": 0.3,
    "retry_max_seconds": 2,
    "max_attempts": 8,
    "queued_stale_seconds": 4,
    "sending_stale_seconds": 3600,
    "commit_group": 10,
    "error_brake": 50,
}


@dataclass
class OwnRedis:
    """A redis-server process this test may kill and restart (state lost)."""

    directory: Path
    proc: subprocess.Popen[bytes]
    url: str

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    def kill(self) -> None:
        """SIGKILL, and delete its files so that nothing survives."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.directory / "redis", ignore_errors=True)

    def start(self) -> None:
        """Start again on the same port, empty."""
        self.proc, self.url = start_bundled_redis(self.directory, port=self.port)


@pytest.fixture(autouse=True)
def _no_kept_connections() -> Iterator[None]:
    """Each test starts and ends without a relay connection kept by this process."""
    close_kept_connections()
    yield
    close_kept_connections()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A fresh Redis for one test."""
    proc, url = start_bundled_redis(tmp_path)
    server = OwnRedis(tmp_path, proc, url)
    yield server
    server.proc.terminate()
    server.proc.wait(timeout=10)


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A counting SMTP sink for one test."""
    server = Sink()
    yield server
    server.stop()


@pytest.fixture
def login_refusing_sink() -> Iterator[Sink]:
    """A sink that offers AUTH and refuses every login (535 5.7.8), for one test."""
    server = Sink(refuse_login=True)
    yield server
    server.stop()


@dataclass
class Harness:
    """Seeds data, runs workers and the beat jobs, and reads the ledger."""

    app: Flask
    settings: Settings
    env: dict[str, str]
    redis_url: str
    log_dir: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    producer: Celery | None = None
    # What each tick's settlement of dead workers' claims did.
    settled: list[SettleResult] = field(default_factory=list)

    def session(self) -> Session:
        """A plain session on the test database (close it)."""
        return get_db(self.app).session()

    def configure(self, **overrides: Any) -> None:
        """Store the sending settings for this test."""
        with self.session() as s:
            set_setting(s, SETTINGS_KEY, {**TEST_SENDING, **overrides})
            s.commit()

    def seed(self, n: int, domains: tuple[str, ...] = ("example.com",)) -> list[str]:
        """``n`` active subscribers on list "members"; return their addresses."""
        emails = [f"u{i:05d}@{domains[i % len(domains)]}" for i in range(n)]
        with self.session() as s:
            lst = MailingList(slug="members", name="会员单位")
            s.add(lst)
            s.flush()
            s.execute(
                insert(Subscriber),
                [{"email": e, "email_ascii": e, "name": f"会员{i}"} for i, e in enumerate(emails)],
            )
            ids = s.scalars(select(Subscriber.id).order_by(Subscriber.id)).all()
            s.execute(
                insert(Membership),
                [{"subscriber_id": i, "list_id": lst.id, "status": "active"} for i in ids],
            )
            s.commit()
        return emails

    def campaign(self, **kwargs: Any) -> int:
        """A started campaign with a plain HTML body for list "members"."""
        with self.session() as s:
            c = create_campaign(
                s, self.settings, lists=["members"], body_html=BODY, subject="测试通讯", **kwargs
            )
            s.commit()
            engine.start(s, self.settings, c.id)
            return c.id

    def start_worker(
        self,
        concurrency: int = 2,
        prefix: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """A real worker process on our Redis and sink; waits until it beats. ``prefix``
        runs it through another program (``ip netns exec HOST``), ``env`` replaces the
        harness's TIDINGS_* variables (a worker host reaches the servers elsewhere)."""
        log = self.log_dir / f"worker{len(self.workers)}.log"
        client = redis.Redis.from_url(self.redis_url)
        for key in client.scan_iter(f"{WORKER_KEY_PREFIX}*"):
            client.delete(key)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    *prefix,
                    sys.executable,
                    "-m",
                    "service.cli",
                    "worker",
                    "--concurrency",
                    str(concurrency),
                    "-Q",
                    "send",
                    "--loglevel",
                    "INFO",
                ],
                env={**os.environ, **(self.env if env is None else env), "PYTHONUNBUFFERED": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        proc.log_path = log  # type: ignore[attr-defined]
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while not any(client.scan_iter(f"{WORKER_KEY_PREFIX}*")):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        self.workers.append(proc)
        return proc

    def kill_pool_process(self, proc: subprocess.Popen[bytes]) -> int:
        """kill -9 one pool process of the worker (the one holding claimed rows when any
        does); the worker itself lives on and starts another. Returns the pid killed."""
        import psutil

        children = psutil.Process(proc.pid).children()
        with self.session() as s:
            holders = {t.split(":")[1] for t in s.scalars(select(SendClaim.token))}
        target = next((c for c in children if str(c.pid) in holders), children[0])
        os.kill(target.pid, signal.SIGKILL)
        return target.pid

    def kill_busiest_pool_process(
        self, proc: subprocess.Popen[bytes], at_least: int, timeout: float = 20.0
    ) -> int:
        """kill -9 the pool process whose claim holds the most rows still ``sending``,
        once one holds ``at_least`` (so its batch certainly has rows it has not begun:
        a kill in a batch's last commit group leaves none to send again). Returns the pid."""
        deadline = time.monotonic() + timeout
        while True:
            with self.session() as s:
                busiest = s.execute(
                    select(SendClaim.token, func.count(Delivery.id))
                    .join(Delivery, Delivery.claim_id == SendClaim.id)
                    .where(Delivery.status == "sending")
                    .group_by(SendClaim.token)
                    .order_by(func.count(Delivery.id).desc())
                ).first()
            if busiest is not None and busiest[1] >= at_least:
                pid = int(busiest[0].split(":")[1])
                if pid in {c.pid for c in psutil.Process(proc.pid).children()}:
                    os.kill(pid, signal.SIGKILL)
                    return pid
            if time.monotonic() > deadline:
                pytest.fail(f"no pool process held {at_least} rows in time: {busiest}")
            time.sleep(0.01)

    def kill_worker(self, proc: subprocess.Popen[bytes]) -> None:
        """kill -9 the worker and its pool processes, all at once."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    def enqueue(self, campaign_id: int, ids: list[int]) -> None:
        """How the beat jobs hand batches to the queue (our Redis)."""
        if self.producer is None:
            self.producer = Celery("test-producer")
            self.producer.conf.update(celery_config(self.redis_url))
        self.producer.send_task("tidings.send.batch", args=[campaign_id, ids], queue="send")

    def reset_producer(self) -> None:
        """Forget the producer's connections (after a Redis restart)."""
        if self.producer is not None:
            self.producer.close()
        self.producer = None

    def tick(self) -> engine.TickResult:
        """One pass of the beat jobs; a Redis outage only skips enqueueing this time."""
        with self.session() as s:
            try:
                result = engine.tick(s, self.settings, self.enqueue)
                self.settled.append(result.settled)
                return result
            except Exception:  # noqa: BLE001 - the queue is down; rows stay queued
                self.reset_producer()
                return engine.TickResult()

    def progress(self, campaign_id: int) -> dict[str, Any]:
        """The campaign's counters."""
        from service.campaigns.progress import progress

        with self.session() as s:
            return progress(s, campaign_id)

    def drive(
        self,
        campaign_id: int,
        until: Callable[[dict[str, Any]], bool],
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Run the beat jobs until ``until(progress)``; fail with the worker log on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.tick()
            p = self.progress(campaign_id)
            if until(p):
                return p
            if time.monotonic() > deadline:
                logs = "\n".join(
                    Path(w.log_path).read_text()[-2000:]
                    for w in self.workers  # type: ignore[attr-defined]
                )
                pytest.fail(f"timed out: {p}\n{logs}")
            time.sleep(TICK_SECONDS)

    def rows(self, campaign_id: int) -> list[Delivery]:
        """Every delivery of the campaign."""
        with self.session() as s:
            return list(
                s.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id)).all()
            )

    def status(self, campaign_id: int) -> str:
        """The campaign's status."""
        with self.session() as s:
            c = s.get(Campaign, campaign_id)
            assert c is not None
            return c.status

    def stop(self) -> None:
        """Stop every worker we started."""
        for proc in self.workers:
            stop_process_group(proc, grace=5)
        self.reset_producer()


@pytest.fixture
def harness(
    app: Flask,
    settings: Settings,
    test_env: dict[str, str],
    own_redis: OwnRedis,
    sink: Sink,
    tmp_path: Path,
) -> Iterator[Harness]:
    """Everything a sending test needs, torn down afterwards."""
    env = {
        **test_env,
        "TIDINGS_REDIS_URL": own_redis.url,
        "TIDINGS_SMTP_URL": sink.url,
        "TIDINGS_SMTP_CAPTURE": "0",
    }
    ours = settings.with_overrides(
        redis_url=own_redis.url, smtp=parse_smtp_url(sink.url), smtp_capture=False
    )
    h = Harness(app=app, settings=ours, env=env, redis_url=own_redis.url, log_dir=tmp_path)
    h.configure()
    yield h
    h.stop()


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session on the app's database, for the send tests that call the domain directly."""
    with get_db(app).session() as s:
        yield s


@pytest.fixture
def send_redis(redis_url: str) -> redis.Redis:
    """The shared Redis with no throttle windows or brake counters left by another test."""
    c = redis.Redis.from_url(redis_url)
    for key in [*c.scan_iter(KEY_PREFIX + "*"), *c.scan_iter(BRAKE_KEY + "*")]:
        c.delete(key)
    return c
