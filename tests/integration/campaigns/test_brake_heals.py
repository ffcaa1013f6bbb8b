"""The error brake heals (issue 14, goal 4), over the real parts: a relay that says 421 for
a while pauses the campaign, the beat probes it with backoff and the campaign resumes by
itself and reaches everyone once; a relay that refuses us for good (a login, a 5.7.x
policy) keeps it paused for a person; the page shows the probes and why."""

from __future__ import annotations

from datetime import timedelta

import redis
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.campaigns import engine
from service.campaigns.brake import brake_reason
from service.campaigns.healing import probe_due
from service.campaigns.sender import send_batch
from service.campaigns.service import pause
from service.config import Settings, parse_smtp_url
from service.model import Campaign, RelayProbe, utcnow
from tests.integration.campaigns.conftest import Harness
from tests.integration.campaigns.sink import Sink
from tests.integration.campaigns.test_crash_safety import assert_exactly_once, finished
from tests.integration.campaigns.test_send_core import _campaign
from tests.integration.security.helpers import demo_ids

# Probes come quickly in these tests; in production the first waits 15 s.
FAST_PROBES = {"probe_base_seconds": 0.2, "probe_max_seconds": 0.5, "probe_max_attempts": 200}


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
