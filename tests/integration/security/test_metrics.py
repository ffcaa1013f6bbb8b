"""``/metrics``: the Prometheus text over the real ledger and Redis; the optional token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from service.config import ConfigError, Settings, load_settings
from service.model import Campaign, CampaignStatus, Delivery, DeliveryStatus, Event, utcnow
from service.ops.health import WORKER_KEY_PREFIX
from service.ops.metrics import CELERY_QUEUES, last_errors, queue_state
from service.web.app import create_app, get_db
from tests.conftest import _empty_tables

TOKEN = "metrics-token-0123456789"
# Queue names of their own, so the real queues of a running test worker are left alone.
FAKE_WORKER = WORKER_KEY_PREFIX + "metrics-test@host"


def _campaign(session: Session, status: str = CampaignStatus.RUNNING) -> Campaign:
    campaign = Campaign(subject="S", from_name="F", from_addr="f@example.org", status=status)
    session.add(campaign)
    session.flush()
    return campaign


def _ledger(session: Session) -> Campaign:
    campaign = _campaign(session)
    now = utcnow()
    rows = [
        (DeliveryStatus.SENT, now - timedelta(seconds=20), None),
        (DeliveryStatus.SENT, now - timedelta(minutes=3), None),
        (DeliveryStatus.SENT, now - timedelta(minutes=30), None),
        (DeliveryStatus.FAILED, None, "550 5.1.1 user unknown"),
        (DeliveryStatus.FAILED, None, "550 5.1.1 no such mailbox"),
        (DeliveryStatus.FAILED, None, "cannot build the message: bad header"),
        (DeliveryStatus.RETRY_DUE, None, "421 try again later"),
        (DeliveryStatus.PENDING, None, None),
    ]
    for i, (status, sent_at, error) in enumerate(rows):
        session.add(
            Delivery(
                campaign_id=campaign.id,
                email=f"r{i}@example.org",
                status=status,
                sent_at=sent_at,
                last_error=error,
            )
        )
    session.add_all(
        [
            Event(campaign_id=campaign.id, type="open", at=now - timedelta(minutes=1)),
            Event(campaign_id=campaign.id, type="open", at=now - timedelta(minutes=2)),
            Event(campaign_id=campaign.id, type="click", at=now - timedelta(minutes=1)),
        ]
    )
    session.commit()
    return campaign


@pytest.fixture
def worker_beat(redis_url: str) -> Iterator[redis.Redis]:
    """Real Redis with one extra worker heartbeat (removed after)."""
    client = redis.Redis.from_url(redis_url)
    client.set(FAKE_WORKER, "1", ex=60)
    yield client
    client.delete(FAKE_WORKER)


@pytest.fixture
def own_queues(redis_url: str) -> Iterator[tuple[str, ...]]:
    """Queues of known length under names of their own: the real Celery queues may be in
    use by the test worker, which must not be fed junk."""
    names = ("metrics-test-send", "metrics-test-events")
    client = redis.Redis.from_url(redis_url)
    client.rpush(names[0], "m1", "m2", "m3")
    client.rpush(names[1], "e1")
    yield names
    client.delete(*names)


def test_queue_state_counts_waiting_messages_and_live_workers(
    redis_url: str, own_queues: tuple[str, ...], worker_beat: redis.Redis
) -> None:
    state = queue_state(redis_url, own_queues)
    assert state.reachable and state.depth == {own_queues[0]: 3, own_queues[1]: 1}
    assert state.workers >= 1


def test_queue_state_says_unreachable_when_redis_is_down() -> None:
    assert queue_state("redis://127.0.0.1:9/0").reachable is False


def _metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{line_start} not in:\n{text}")


def test_metrics_report_the_ledger_the_queues_the_rate_and_the_events(
    client: FlaskClient, session: Session, worker_beat: redis.Redis
) -> None:
    _ledger(session)
    resp = client.get("/metrics")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    assert "# TYPE tidings_deliveries gauge" in text
    assert _metric(text, 'tidings_deliveries{status="sent"}') == 3
    assert _metric(text, 'tidings_deliveries{status="failed"}') == 3
    assert _metric(text, 'tidings_deliveries_failed{reason="550"}') == 2
    assert _metric(text, 'tidings_deliveries_failed{reason="other"}') == 1
    assert _metric(text, 'tidings_messages_sent_recent{window="1m"}') == 1
    assert _metric(text, 'tidings_messages_sent_recent{window="5m"}') == 2
    assert _metric(text, 'tidings_events_recent{type="open"}') == 2
    assert _metric(text, 'tidings_events_recent{type="click"}') == 1
    for queue in CELERY_QUEUES:  # an idle test service: only the presence is stable
        assert f'tidings_queue_depth{{queue="{queue}"}} ' in text
    assert _metric(text, "tidings_redis_up") == 1
    assert _metric(text, "tidings_workers_alive") >= 1


def test_every_sample_line_is_valid_exposition_format(
    client: FlaskClient, session: Session
) -> None:
    import re

    _ledger(session)
    text = client.get("/metrics").get_data(as_text=True)
    sample = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line
    assert text.endswith("\n")


def test_the_dashboard_shows_queue_depth_and_the_last_errors(
    logged_in: FlaskClient, session: Session, worker_beat: redis.Redis
) -> None:
    _ledger(session)
    html = logged_in.get("/").get_data(as_text=True)
    for card in ("send", "events", "default", "unacked", "workers"):
        assert f'data-queue="{card}"' in html
    assert "550 5.1.1 user unknown" in html and "421 try again later" in html
    assert len(last_errors(session)) == 4


@pytest.fixture
def token_app(settings: Settings) -> Iterator[Flask]:
    """The app with ``TIDINGS_METRICS_TOKEN`` set."""
    application = create_app(
        test_config={"TESTING": True}, settings=settings.with_overrides(metrics_token=TOKEN)
    )
    yield application
    _empty_tables(get_db(application))
    get_db(application).dispose()


def test_with_a_token_configured_metrics_need_the_bearer_token(token_app: Flask) -> None:
    client = token_app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and "tidings_deliveries" in ok.get_data(as_text=True)


def test_without_a_token_only_this_machine_may_read_the_metrics(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    remote = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert remote.status_code == 401 and "TIDINGS_METRICS_TOKEN" in remote.get_data(as_text=True)


def test_a_too_short_metrics_token_is_a_configuration_error(test_env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="TIDINGS_METRICS_TOKEN"):
        load_settings({**test_env, "TIDINGS_METRICS_TOKEN": "short"})
    assert load_settings({**test_env, "TIDINGS_METRICS_TOKEN": TOKEN}).metrics_token == TOKEN
