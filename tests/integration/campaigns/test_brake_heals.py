"""The error brake heals (issue 14, goal 4), over the real parts: a relay that says 421 for
a while pauses the campaign, the beat probes it with backoff and the campaign resumes by
itself and reaches everyone once; a relay that refuses us for good (a login, a 5.7.x
policy) keeps it paused for a person; the page shows the probes and why."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.campaigns import engine
from service.campaigns.brake import brake_reason
from service.campaigns.healing import probe_due
from service.campaigns.sender import send_batch
from service.campaigns.service import pause
from service.config import Settings, parse_smtp_url
from service.mail.backends import (
    PermanentSendError,
    SendError,
    SMTPBackend,
    TransientSendError,
)
from service.model import Campaign, RelayProbe, utcnow
from service.net import free_port
from tests.integration.campaigns.conftest import Harness
from tests.integration.campaigns.counting import assert_exactly_once, finished
from tests.integration.campaigns.sink import Sink
from tests.integration.campaigns.test_send_core import _by_email, _campaign
from tests.integration.security.helpers import demo_ids
from tests.unit.campaigns.test_brake_heals import braked
from tests.unit.campaigns.test_campaign_states import reloaded

# Probes come quickly in these tests; in production the first waits 15 s.
FAST_PROBES = {"probe_base_seconds": 0.2, "probe_max_seconds": 0.5, "probe_max_attempts": 200}
WAIT_SECONDS = 30.0


class _RefusingGreeting(SMTP):
    """An aiosmtpd session that answers the connection with ``refusal`` instead of 220."""

    refusal = ""

    async def push(self, status: Any) -> None:
        if self.refusal and isinstance(status, str) and status.startswith("220 "):
            status, self.refusal = self.refusal, ""
        await super().push(status)


class GreetingRelay(Controller):
    """A real SMTP server (aiosmtpd) whose greeting refuses every client with ``refusal``."""

    def __init__(self, refusal: str) -> None:
        self.refusal = refusal
        self.port = free_port()
        super().__init__(object(), hostname="127.0.0.1", port=self.port, ready_timeout=10)

    def factory(self) -> SMTP:
        server = _RefusingGreeting(self.handler, **self.SMTP_kwargs)
        server.refusal = self.refusal
        return server

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


@pytest.fixture
def blocking_relay() -> Iterator[GreetingRelay]:
    """A relay that blocks our host at the greeting (554 5.7.1), for one test."""
    relay = GreetingRelay("554 5.7.1 client host [127.0.0.1] blocked by policy")
    relay.start()
    yield relay
    relay.stop()


def _campaign_row(db: Session) -> Campaign:
    db.expire_all()
    campaign = db.scalars(select(Campaign)).one()
    return campaign


def test_a_relay_that_says_421_for_a_while_is_probed_and_the_campaign_resumes_by_itself(
    harness: Harness, sink: Sink
) -> None:
    harness.seed(300)
    # Retries generous enough that no row runs out of them during the outage: what is
    # tested is the brake, not the retry budget.
    harness.configure(error_brake=10, max_attempts=30, **FAST_PROBES)
    sink.state.busy_mail = 60  # 421 to the next 60 transactions (the probes' included)
    harness.start_worker()
    cid = harness.campaign()
    p = harness.drive(cid, finished, timeout=120)
    assert p["sent"] == 300 and p["needs_attention"] is None
    assert_exactly_once(harness, sink, cid)
    assert sink.state.refused_mail == 60
    with harness.session() as s:
        probes = s.scalars(
            select(RelayProbe).where(RelayProbe.campaign_id == cid).order_by(RelayProbe.id)
        ).all()
        campaign = s.get(Campaign, cid)
        assert campaign is not None
        # It paused, was probed, and went on with no one pressing anything.
        assert probes and probes[-1].ok
        assert all("421" in p.reply for p in probes if not p.ok)
        assert campaign.status_code == "campaign.resumed_after_probe"


def test_a_relay_that_refuses_the_login_keeps_the_campaign_paused_for_a_person(
    db: Session, settings: Settings, send_redis: redis.Redis, login_refusing_sink: Sink
) -> None:
    sink = login_refusing_sink
    ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
    ids = _campaign(db, ours, [f"r{i}@example.com" for i in range(5)], **FAST_PROBES)
    cid = _campaign_row(db).id
    send_batch(db, ours, send_redis, cid, ids)
    campaign = _campaign_row(db)
    assert campaign.status == "paused" and campaign.status_code == "campaign.relay_refused"
    assert campaign.probe_due_at is None
    engine.tick(db, ours, lambda _c, _b: None)
    assert _campaign_row(db).status == "paused" and probe_due(db, ours) == []
    assert sink.state.total() == 0


def test_5_7_policy_refusals_in_a_row_trip_the_brake_and_it_waits_for_a_person(
    db: Session, settings: Settings, send_redis: redis.Redis, sink: Sink
) -> None:
    emails = [f"p{i}@example.com" for i in range(8)]
    sink.state.replies = {e: "550 5.7.1 sender address not authorized" for e in emails}
    ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
    ids = _campaign(db, ours, emails, error_brake=3, **FAST_PROBES)
    result = send_batch(db, ours, send_redis, _campaign_row(db).id, ids)
    assert result.braked
    campaign = _campaign_row(db)
    assert campaign.status == "paused" and campaign.probe_due_at is None
    assert campaign.status_code == "campaign.error_brake_permanent"
    assert "5.7.1" in campaign.status_reason and "SPF/DKIM" in campaign.status_reason
    assert probe_due(db, ours) == []


def test_the_page_shows_the_probes_the_next_one_and_what_waits_for_a_person(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    cid = demo_ids(session, settings)["campaign_id"]
    engine.start(session, settings, cid)
    pause(session, cid, brake_reason(10, "421 4.3.2 busy"), probe_due_at=utcnow() + timedelta(1))
    session.add(RelayProbe(campaign_id=cid, attempt=1, ok=False, reply="relay: 421 4.3.2 busy"))
    campaign = session.get(Campaign, cid)
    assert campaign is not None
    campaign.probe_attempts = 1  # as the probe job counts it
    session.commit()
    logged_in.get("/lang/zh")
    page = logged_in.get(f"/campaigns/{cid}").get_data(as_text=True)
    assert "data-probe-due" in page and "再次探测中继服务器" in page
    assert "data-probes" in page and "relay: 421 4.3.2 busy" in page
    assert "data-waits-for-a-person" not in page
    logged_in.get("/lang/en")
    page = logged_in.get(f"/campaigns/{cid}/progress?shown=paused").get_data(as_text=True)
    assert "resumes by itself once it answers" in page and "(probe 1 of" not in page
    assert "(probe 2 of 12)" in page  # one probe made; the defaults allow twelve
    session.execute(
        Campaign.__table__.update()
        .where(Campaign.id == cid)
        .values(status_code="campaign.relay_refused", probe_due_at=None)
    )
    session.commit()
    page = logged_in.get(f"/campaigns/{cid}").get_data(as_text=True)
    assert "data-waits-for-a-person" in page and "data-probe-due" not in page


@pytest.mark.parametrize(
    ("greeting", "error", "enhanced"),
    [
        ("554 5.7.1 client host [127.0.0.1] blocked by policy", PermanentSendError, "5.7.1"),
        ("421 4.3.2 too many connections, try later", TransientSendError, "4.3.2"),
        ("554 no SMTP service here", TransientSendError, None),
    ],
)
def test_a_refusal_in_the_greeting_is_permanent_only_for_a_5_7_policy(
    greeting: str, error: type[SendError], enhanced: str | None
) -> None:
    relay = GreetingRelay(greeting)
    relay.start()
    try:
        backend = SMTPBackend(parse_smtp_url(relay.url))
        with pytest.raises(error) as raised:
            backend.open()
        assert type(raised.value) is error
        assert raised.value.code == int(greeting[:3])
        assert raised.value.enhanced == enhanced
        assert greeting[4:] in str(raised.value) and not backend.connected
    finally:
        relay.stop()


def test_a_relay_that_blocks_us_at_the_greeting_pauses_the_campaign_for_a_person(
    db: Session, settings: Settings, send_redis: redis.Redis, blocking_relay: GreetingRelay
) -> None:
    ours = settings.with_overrides(smtp=parse_smtp_url(blocking_relay.url))
    ids = _campaign(db, ours, [f"b{i}@example.com" for i in range(4)], **FAST_PROBES)
    result = send_batch(db, ours, send_redis, _campaign_row(db).id, ids)
    assert result.braked and result.released == 4
    campaign = _campaign_row(db)
    assert campaign.status == "paused" and campaign.status_code == "campaign.relay_refused"
    assert "5.7.1" in campaign.status_reason and campaign.probe_due_at is None
    assert {(d.status, d.attempts) for d in _by_email(db).values()} == {("pending", 0)}


def test_a_probe_the_relay_blocks_at_the_greeting_stops_probing(
    db: Session, settings: Settings, blocking_relay: GreetingRelay
) -> None:
    ours = settings.with_overrides(smtp=parse_smtp_url(blocking_relay.url))
    _campaign(db, ours, ["b@example.com"], **FAST_PROBES)
    cid = _campaign_row(db).id
    pause(db, cid, brake_reason(10, "421 4.3.2 busy"), probe_due_at=utcnow())
    db.commit()
    [result] = probe_due(db, ours)
    assert not result.ok and not result.resumed and "5.7.1" in result.reply
    campaign = _campaign_row(db)
    assert campaign.status == "paused" and campaign.status_code == "campaign.probe_refused"
    assert campaign.probe_due_at is None and probe_due(db, ours) == []


def test_the_beat_job_probes_in_a_real_worker_and_resumes_the_campaign(
    session: Session, settings: Settings, celery_worker: subprocess.Popen[bytes]
) -> None:
    from worker.app import celery
    from worker.tasks_send import BEAT

    cid = braked(session, settings)  # the test settings send to the capture: it answers
    celery.send_task(BEAT["send-probe"]["task"])

    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline and reloaded(session, cid).status == "paused":
        session.commit()
        time.sleep(0.3)
    log = celery_worker.log_path.read_text()[-3000:]  # type: ignore[attr-defined]
    campaign = reloaded(session, cid)
    assert campaign.status == "running", log
    assert campaign.status_code == "campaign.resumed_after_probe"
    assert session.scalars(select(RelayProbe.ok).where(RelayProbe.campaign_id == cid)).all() == [
        True
    ]
    # A probe is at most a few seconds late: the period is well under the first wait (15 s).
    assert BEAT["send-probe"]["schedule"] <= 10
