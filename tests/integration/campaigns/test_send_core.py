"""``send_batch`` in this process over the real parts (database, Redis, an SMTP sink):
SMTPUTF8 addresses, the error brake, throttle deferral and the exact bytes sent."""

from __future__ import annotations

import pytest
import redis
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from service.accounts.settings_store import set_setting
from service.campaigns import engine, ledger, recipients
from service.campaigns.drafts import create_campaign
from service.campaigns.previews import render_message
from service.campaigns.sender import send_batch
from service.campaigns.service import resume
from service.config import Settings, parse_smtp_url
from service.mail.addresses import normalise
from service.mail.sending_config import SETTINGS_KEY
from service.model import Campaign, Delivery, MailingList, Membership, Subscriber
from tests.integration.campaigns.conftest import BODY, TEST_SENDING
from tests.integration.campaigns.sink import Sink


def _campaign(db: Session, settings: Settings, emails: list[str], **config: object) -> list[int]:
    """A started, materialized campaign; returns its dispatched delivery ids."""
    set_setting(db, SETTINGS_KEY, {**TEST_SENDING, **config})
    lst = MailingList(slug="members", name="会员单位")
    db.add(lst)
    db.flush()
    for e in emails:
        address = normalise(e)
        sub = Subscriber(email=address.email, email_ascii=address.email_ascii, name="张三")
        db.add(sub)
        db.flush()
        db.execute(insert(Membership).values(subscriber_id=sub.id, list_id=lst.id, status="active"))
    c = create_campaign(db, settings, lists=["members"], body_html=BODY, subject="测试")
    db.commit()
    engine.start(db, settings, c.id)
    recipients.materialize(db, c.id)
    ids: list[int] = []
    ledger.dispatch(db, c.id, lambda _c, b: ids.extend(b), batch_size=100, max_batches_in_flight=5)
    return ids


def _by_email(db: Session) -> dict[str, Delivery]:
    return {d.email: d for d in db.scalars(select(Delivery))}


@pytest.mark.parametrize("offered", [True, False])
def test_a_non_ascii_local_part_goes_out_only_over_smtputf8(
    db: Session, settings: Settings, send_redis: redis.Redis, offered: bool
) -> None:
    sink = Sink(smtputf8=offered)
    try:
        ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
        ids = _campaign(db, ours, ["张三@example.com", "li@example.com"])
        send_batch(db, ours, send_redis, db.scalar(select(Campaign.id)) or 0, ids)
        rows = _by_email(db)
        assert rows["li@example.com"].status == "sent"
        if offered:
            assert rows["张三@example.com"].status == "sent"
            assert sink.state.counts()["张三@example.com"] == 1
        else:
            assert rows["张三@example.com"].status == "failed"
            assert "SMTPUTF8" in (rows["张三@example.com"].last_error or "")
            assert "张三@example.com" not in sink.state.counts()
    finally:
        sink.stop()


def test_the_error_brake_pauses_the_campaign_and_says_why(
    db: Session, settings: Settings, send_redis: redis.Redis
) -> None:
    sink = Sink()
    sink.state.busy_mail = 1000  # the relay says 421 to everything
    try:
        ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
        emails = [f"p{i}@example.com" for i in range(30)]
        ids = _campaign(db, ours, emails, error_brake=5)
        cid = db.scalar(select(Campaign.id)) or 0
        for start in range(0, len(ids), 3):  # several small batches, as several workers would
            send_batch(db, ours, send_redis, cid, ids[start : start + 3])
        campaign = db.get(Campaign, cid)
        db.refresh(campaign)
        assert campaign is not None and campaign.status == "paused"
        assert "5 transport failures in a row" in campaign.status_reason
        assert "421" in campaign.status_reason
        # ... and as a code with its numbers, which the admin shows in its own language.
        assert campaign.status_code == "campaign.error_brake"
        assert campaign.status_params is not None and campaign.status_params["count"] == 5
        assert sink.state.total() == 0
        # Tried rows wait for their retry; later batches claimed nothing (paused).
        assert {d.status for d in db.scalars(select(Delivery))} == {"retry_due", "queued"}
        resume(db, cid)
        db.commit()
        assert {d.status for d in db.scalars(select(Delivery))} == {"retry_due", "pending"}
    finally:
        sink.stop()


def test_a_full_domain_window_defers_the_row_instead_of_holding_the_worker(
    db: Session, settings: Settings, send_redis: redis.Redis
) -> None:
    sink = Sink()
    try:
        ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
        emails = [f"q{i}@qq.com" for i in range(5)] + ["a@example.com"]
        ids = _campaign(db, ours, emails, domain_limits={"qq.com": {"limit": 2, "window": 60}})
        result = send_batch(db, ours, send_redis, db.scalar(select(Campaign.id)) or 0, ids)
        assert result.sent == 3 and result.deferred == 3
        rows = _by_email(db)
        deferred = [r for r in rows.values() if r.status == "retry_due"]
        assert len(deferred) == 3 and all(r.attempts == 0 for r in deferred)
        assert all("qq.com limit" in (r.last_error or "") for r in deferred)
    finally:
        sink.stop()


def test_the_bytes_sent_are_the_bytes_render_shows(
    db: Session, settings: Settings, send_redis: redis.Redis
) -> None:
    sink = Sink()
    sink.state.keep_raw = True
    try:
        ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
        ids = _campaign(db, ours, ["li@example.com"])
        cid = db.scalar(select(Campaign.id)) or 0
        rendered = render_message(db, ours, cid, "li@example.com")
        send_batch(db, ours, send_redis, cid, ids)
        sent = sink.state.raw["li@example.com"]

        def without_date(data: bytes) -> list[bytes]:
            return [line for line in data.split(b"\r\n") if not line.startswith(b"Date:")]

        assert without_date(sent) == without_date(rendered)
    finally:
        sink.stop()
