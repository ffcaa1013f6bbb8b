"""``GET /healthz`` tells a stranger the overall status only, from a cached round of
checks: the SMTP probe (a session on a real aiosmtpd relay, counted by its EHLOs) runs at
most once per ``HEALTH_CACHE_SECONDS``; the details are for staff, this machine and the
metrics token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from service.config import Settings, parse_smtp_url
from service.net import free_port
from service.ops.health import (
    DEGRADED_RECHECK_SECONDS,
    HEALTH_CACHE_SECONDS,
    WORKER_KEY_PREFIX,
    HealthCache,
)
from service.web.app import create_app, get_db
from tests.conftest import _empty_tables, csrf_token

REMOTE = {"REMOTE_ADDR": "203.0.113.9"}
TOKEN = "health-token-0123456789"
WORKER_NAME = "celery@health-test-host"
DEAD_REDIS = "redis://127.0.0.1:9/0"  # nothing listens on the discard port


class EhloCounter:
    """aiosmtpd handler that counts the EHLOs it is sent (one per SMTP session here)."""

    def __init__(self) -> None:
        self.ehlos = 0
        self.lock = threading.Lock()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self.lock:
            self.ehlos += 1
        return responses


@pytest.fixture
def relay() -> Iterator[tuple[EhloCounter, int]]:
    """A real SMTP server standing in for the relay."""
    counter = EhloCounter()
    port = free_port()
    controller = Controller(counter, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    yield counter, port
    controller.stop()


@pytest.fixture
def relay_settings(settings: Settings, relay: tuple[EhloCounter, int]) -> Settings:
    """The test settings sending through ``relay``, with a metrics token."""
    return settings.with_overrides(
        smtp=parse_smtp_url(f"smtp://127.0.0.1:{relay[1]}"),
        smtp_capture=False,
        metrics_token=TOKEN,
    )


@pytest.fixture
def relay_app(relay_settings: Settings) -> Iterator[Flask]:
    """The app on those settings (tables emptied afterwards)."""
    application = create_app(test_config={"TESTING": True}, settings=relay_settings)
    yield application
    _empty_tables(get_db(application))
    get_db(application).dispose()


@pytest.fixture
def worker_beat(redis_url: str) -> Iterator[None]:
    """A worker heartbeat under a name of its own (removed after)."""
    client = redis.Redis.from_url(redis_url)
    client.set(WORKER_KEY_PREFIX + WORKER_NAME, "1", ex=60)
    yield
    client.delete(WORKER_KEY_PREFIX + WORKER_NAME)


def _redis_version(redis_url: str) -> str:
    return str(
        redis.Redis.from_url(redis_url, decode_responses=True).info("server")["redis_version"]
    )


def test_ten_anonymous_health_calls_open_at_most_one_smtp_session(
    relay_app: Flask, relay: tuple[EhloCounter, int]
) -> None:
    client = relay_app.test_client()
    answers = [client.get("/healthz", environ_base=REMOTE) for _ in range(10)]
    assert {a.status_code for a in answers} <= {200, 503}
    assert relay[0].ehlos == 1


def test_an_anonymous_remote_call_shows_no_versions_hosts_or_names(
    relay_app: Flask, relay: tuple[EhloCounter, int], redis_url: str, worker_beat: None
) -> None:
    resp = relay_app.test_client().get("/healthz", environ_base=REMOTE)
    assert resp.status_code in (200, 503)
    body = resp.get_json()
    assert body == {"status": "ok" if resp.status_code == 200 else "degraded"}
    text = resp.get_data(as_text=True)
    for secret in (_redis_version(redis_url), "127.0.0.1", str(relay[1]), WORKER_NAME, "Redis"):
        assert secret not in text


def test_a_call_relayed_by_a_proxy_on_this_machine_is_no_call_from_this_machine(
    relay_app: Flask, client: FlaskClient
) -> None:
    # Caddy or nginx on the same host connects from 127.0.0.1 and says whom it relays.
    relayed = {"X-Forwarded-For": "203.0.113.9"}
    resp = relay_app.test_client().get("/healthz", headers=relayed)
    assert set(resp.get_json()) == {"status"}
    assert client.get("/metrics", headers=relayed).status_code == 401


def test_this_machine_and_the_metrics_token_see_each_check(
    relay_app: Flask, worker_beat: None
) -> None:
    client = relay_app.test_client()
    local = client.get("/healthz").get_json()  # the test client is 127.0.0.1, no proxy
    assert set(local["checks"]) == {"database", "redis", "worker", "beat", "smtp"}
    assert local["checks"]["database"]["ok"] is True  # what deploy/healthcheck.py reads
    assert WORKER_NAME in local["checks"]["worker"]["detail"]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    remote = client.get("/healthz", environ_base=REMOTE, headers=bearer).get_json()
    assert set(remote["checks"]) == set(local["checks"])
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    assert set(client.get("/healthz", environ_base=REMOTE, headers=wrong).get_json()) == {"status"}


def test_a_logged_in_admin_sees_the_details_on_the_dashboard_and_at_healthz(
    relay_app: Flask,
    relay: tuple[EhloCounter, int],
    redis_url: str,
    worker_beat: None,
    admin: dict[str, str],
) -> None:
    client = relay_app.test_client()
    login = client.post(
        "/login", data={**admin, "csrf_token": csrf_token(client)}, environ_base=REMOTE
    )
    assert login.status_code == 302
    client.get("/lang/en", environ_base=REMOTE)
    page = client.get("/", environ_base=REMOTE).get_data(as_text=True)
    assert f"Redis {_redis_version(redis_url)}" in page
    assert WORKER_NAME in page and f"127.0.0.1:{relay[1]}" in page
    body = client.get("/healthz", environ_base=REMOTE).get_json()
    assert WORKER_NAME in body["checks"]["worker"]["detail"]
    assert relay[0].ehlos == 1  # the dashboard and /healthz shared one round


def test_the_cache_rechecks_a_degraded_round_soon_but_probes_smtp_once_per_period(
    relay_app: Flask, relay_settings: Settings, relay: tuple[EhloCounter, int]
) -> None:
    now = [1000.0]
    cache = HealthCache(clock=lambda: now[0])
    db = get_db(relay_app)
    degraded = relay_settings.with_overrides(redis_url=DEAD_REDIS)
    first = cache.checks(degraded, db)
    assert first["smtp"].ok and not first["redis"].ok and relay[0].ehlos == 1
    now[0] += DEGRADED_RECHECK_SECONDS - 0.5
    assert cache.checks(degraded, db)["database"] is first["database"]  # the same round
    now[0] += 0.5
    cache.checks(degraded, db)
    assert relay[0].ehlos == 1  # a new round, the same SMTP answer
    now[0] += HEALTH_CACHE_SECONDS
    cache.checks(degraded, db)
    assert relay[0].ehlos == 2


def test_a_failed_smtp_probe_is_tried_again_soon_not_after_a_whole_period(
    relay_app: Flask, relay_settings: Settings, relay: tuple[EhloCounter, int]
) -> None:
    # As at start-up: the first probe finds nothing listening (the capture still starting).
    now = [1000.0]
    cache = HealthCache(clock=lambda: now[0])
    db = get_db(relay_app)
    not_yet = relay_settings.with_overrides(smtp=parse_smtp_url(f"smtp://127.0.0.1:{free_port()}"))
    assert not cache.checks(not_yet, db)["smtp"].ok
    now[0] += DEGRADED_RECHECK_SECONDS
    assert cache.checks(relay_settings, db)["smtp"].ok  # not the old failure for 20 s
    assert relay[0].ehlos == 1
