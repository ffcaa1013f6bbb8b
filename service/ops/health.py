"""Health checks shown on the dashboard and answered at ``GET /healthz``.

A round of checks is kept for a while per process (`HealthCache`): ``/healthz`` is
public, and each round opens an SMTP session on the relay, asks Redis and the database;
a stranger polling it must not make us do that on every call.
"""

from __future__ import annotations

import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy import text

from service.config import Settings
from service.db import Database

WORKER_KEY_PREFIX = "tidings:worker:"
BEAT_KEY = "tidings:beat"
CHECK_TIMEOUT_SECONDS = 2.0
# How long one round of checks answers /healthz and the dashboard; the SMTP probe (a
# session on the relay) runs at most once per this many seconds per process.
HEALTH_CACHE_SECONDS = 20.0
# A round with a failing check is looked at again sooner, so a service that is starting
# (worker and beat not reported yet) turns green soon; so is an SMTP probe that failed.
DEGRADED_RECHECK_SECONDS = 2.0


def N_(message: str) -> str:  # the name Babel's extractor knows
    """Mark ``message`` for translation here; the dashboard translates it when shown
    (this module runs outside a request too, for ``/healthz``)."""
    return message


@dataclass(frozen=True)
class Check:
    """The result of one check: ok or not, and a line a person can read.

    ``message`` is English with ``%(name)s`` slots filled from ``values``: ``/healthz``
    answers it filled in as it is, the dashboard shows it translated.
    """

    ok: bool
    message: str
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def detail(self) -> str:
        """The line in English, slots filled."""
        return self.message % self.values


def check_database(db: Database) -> Check:
    """The database answers a trivial query."""
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return Check(True, N_("%(dialect)s reachable"), {"dialect": db.engine.dialect.name})
    except Exception as exc:  # any driver error means "not healthy", with its text
        return Check(
            False,
            N_("%(dialect)s: %(error)s"),
            {"dialect": db.engine.dialect.name, "error": f"{exc.__class__.__name__}: {exc}"},
        )


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
        return Check(
            True,
            N_("Redis %(version)s at %(where)s"),
            {"version": info.get("redis_version", "?"), "where": _redis_where(url)},
        )
    except (redis.RedisError, OSError) as exc:
        return Check(
            False,
            N_("Redis at %(where)s: %(error)s"),
            {"where": _redis_where(url), "error": str(exc)},
        )


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
        return Check(False, N_("cannot ask Redis: %(error)s"), {"error": str(exc)})
    if not names:
        return Check(False, N_("no worker has reported in the last minute"))
    return Check(True, N_("%(n)s alive: %(names)s"), {"n": len(names), "names": ", ".join(names)})


def check_beat(url: str) -> Check:
    """The beat scheduler ticked recently."""
    try:
        last = redis_client(url).get(BEAT_KEY)
    except (redis.RedisError, OSError) as exc:
        return Check(False, N_("cannot ask Redis: %(error)s"), {"error": str(exc)})
    if last is None:
        return Check(False, N_("the scheduler (beat) has not ticked in the last minutes"))
    return Check(
        True, N_("last tick %(seconds)s s ago"), {"seconds": int(time.time() - float(last))}
    )


def check_smtp(settings: Settings) -> Check:
    """The SMTP target accepts a connection and answers EHLO."""
    target = settings.smtp
    if target is None:
        return Check(True, N_("no relay configured: mail is captured to the Outbox"))
    if settings.smtp_capture:
        answered, failed = (
            N_("SMTP capture %(target)s answered %(code)s"),
            N_("SMTP capture %(target)s: %(error)s"),
        )
    else:
        answered, failed = (
            N_("SMTP relay %(target)s answered %(code)s"),
            N_("SMTP relay %(target)s: %(error)s"),
        )
    try:
        cls = smtplib.SMTP_SSL if target.implicit_tls else smtplib.SMTP
        with cls(target.host, target.port, timeout=CHECK_TIMEOUT_SECONDS) as conn:
            code, _ = conn.ehlo()
        return Check(200 <= code < 300, answered, {"target": target.display, "code": code})
    except (OSError, smtplib.SMTPException) as exc:
        return Check(False, failed, {"target": target.display, "error": str(exc)})


def run_checks(settings: Settings, db: Database, smtp: Check | None = None) -> dict[str, Check]:
    """Every check, by name (``smtp``: a recent result of `check_smtp` to use instead)."""
    return {
        "database": check_database(db),
        "redis": check_redis(settings.redis_url),
        "worker": check_workers(settings.redis_url),
        "beat": check_beat(settings.redis_url),
        "smtp": smtp or check_smtp(settings),
    }


class HealthCache:
    """The last round of checks of one process, reused while it is fresh (thread-safe:
    callers arriving during a round wait for it instead of starting their own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._round: tuple[float, dict[str, Check]] | None = None
        self._smtp: tuple[float, Check] | None = None

    def checks(self, settings: Settings, db: Database) -> dict[str, Check]:
        """Every check by name: the last round while fresh, else a new one."""
        with self._lock:
            if self._round is not None and self._fresh(
                self._round[0], overall_status(self._round[1]) == "ok"
            ):
                return dict(self._round[1])
            checks = run_checks(settings, db, smtp=self._smtp_check(settings))
            self._round = (self._clock(), checks)
            return dict(checks)

    def _fresh(self, at: float, ok: bool) -> bool:
        """A result taken at ``at`` still holds: for a period when good, briefly when not."""
        return self._clock() - at < (HEALTH_CACHE_SECONDS if ok else DEGRADED_RECHECK_SECONDS)

    def _smtp_check(self, settings: Settings) -> Check:
        # A failed probe is tried again as soon as a degraded round is: a relay (or the
        # capture) that was still starting must not leave this process red for a whole
        # period while the others show green. A relay that is really down gets one
        # connection attempt per DEGRADED_RECHECK_SECONDS per process, which is cheap.
        if self._smtp is None or not self._fresh(self._smtp[0], self._smtp[1].ok):
            self._smtp = (self._clock(), check_smtp(settings))
        return self._smtp[1]


def overall_status(checks: dict[str, Check]) -> str:
    """ "ok" when every check passed, else "degraded"."""
    return "ok" if all(c.ok for c in checks.values()) else "degraded"


def as_status(checks: dict[str, Check]) -> dict[str, Any]:
    """The ``/healthz`` body for anyone: the overall status only (no versions, hosts or
    names of parts, which tell a stranger what to attack)."""
    return {"status": overall_status(checks)}


def as_json(checks: dict[str, Check]) -> dict[str, Any]:
    """The ``/healthz`` body for staff and this machine: overall status plus each check."""
    return {
        **as_status(checks),
        "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()},
    }
