"""Health checks shown on the dashboard and answered at ``GET /healthz``."""

from __future__ import annotations

import smtplib
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis
from sqlalchemy import text

from service.config import Settings
from service.db import Database

WORKER_KEY_PREFIX = "tidings:worker:"
BEAT_KEY = "tidings:beat"
CHECK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Check:
    """The result of one check: ok or not, and a line a person can read."""

    ok: bool
    detail: str


def check_database(db: Database) -> Check:
    """The database answers a trivial query."""
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return Check(True, f"{db.engine.dialect.name} reachable")
    except Exception as exc:  # any driver error means "not healthy", with its text
        return Check(False, f"{db.engine.dialect.name}: {exc.__class__.__name__}: {exc}")


def redis_client(url: str) -> redis.Redis:
    """A Redis client with short timeouts, for checks that must not hang a page."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
        socket_timeout=CHECK_TIMEOUT_SECONDS,
        decode_responses=True,
    )


def check_redis(url: str) -> Check:
    """Redis answers PING."""
    try:
        client = redis_client(url)
        client.ping()
        info = client.info("server")
        return Check(True, f"Redis {info.get('redis_version', '?')} at {_redis_where(url)}")
    except (redis.RedisError, OSError) as exc:
        return Check(False, f"Redis at {_redis_where(url)}: {exc}")


def _redis_where(url: str) -> str:
    return url.split("@")[-1]


def check_workers(url: str) -> Check:
    """At least one worker has sent a heartbeat recently (its key has not expired)."""
    try:
        client = redis_client(url)
        names = sorted(
            k.removeprefix(WORKER_KEY_PREFIX) for k in client.scan_iter(f"{WORKER_KEY_PREFIX}*")
        )
    except (redis.RedisError, OSError) as exc:
        return Check(False, f"cannot ask Redis: {exc}")
    if not names:
        return Check(False, "no worker has reported in the last minute")
    return Check(True, f"{len(names)} alive: {', '.join(names)}")


def check_beat(url: str) -> Check:
    """The beat scheduler ticked recently."""
    try:
        last = redis_client(url).get(BEAT_KEY)
    except (redis.RedisError, OSError) as exc:
        return Check(False, f"cannot ask Redis: {exc}")
    if last is None:
        return Check(False, "the scheduler (beat) has not ticked in the last minutes")
    return Check(True, f"last tick {int(time.time() - float(last))} s ago")


def check_smtp(settings: Settings) -> Check:
    """The SMTP target accepts a connection and answers EHLO."""
    target = settings.smtp
    if target is None:
        return Check(True, "no relay configured: mail is captured to the Outbox")
    label = "SMTP capture" if settings.smtp_capture else "SMTP relay"
    try:
        cls = smtplib.SMTP_SSL if target.implicit_tls else smtplib.SMTP
        with cls(target.host, target.port, timeout=CHECK_TIMEOUT_SECONDS) as conn:
            code, _ = conn.ehlo()
        ok = 200 <= code < 300
        return Check(ok, f"{label} {target.display} answered {code}")
    except (OSError, smtplib.SMTPException) as exc:
        return Check(False, f"{label} {target.display}: {exc}")


def run_checks(settings: Settings, db: Database) -> dict[str, Check]:
    """Every check, by name."""
    return {
        "database": check_database(db),
        "redis": check_redis(settings.redis_url),
        "worker": check_workers(settings.redis_url),
        "beat": check_beat(settings.redis_url),
        "smtp": check_smtp(settings),
    }


def as_json(checks: dict[str, Check]) -> dict[str, Any]:
    """The ``/healthz`` body: overall status plus each check."""
    return {
        "status": "ok" if all(c.ok for c in checks.values()) else "degraded",
        "checks": {name: asdict(c) for name, c in checks.items()},
    }
