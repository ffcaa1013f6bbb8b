"""How ``send_batch`` treats refusals and its own failures, over the real parts (database,
Redis, an aiosmtpd sink): enhanced status codes, a refused login, a relay outage, an
unexpected error mid-batch, IDN addresses, and test sends."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

import pytest
import redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.campaigns import personalise
from service.campaigns.previews import render_message, send_test
from service.campaigns.sender import send_batch
from service.config import Settings, parse_smtp_url
from service.mail import transport as mail_transport
from service.model import Campaign, Delivery, Event, Subscriber
from service.net import free_port
from service.subscribers.suppression import is_suppressed
from tests.integration.campaigns.sink import Sink
from tests.integration.campaigns.test_send_core import _by_email, _campaign


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    yield server
    server.stop()


def _campaign_id(db: Session) -> int:
    return db.scalar(select(Campaign.id)) or 0


def _events(db: Session) -> dict[str, list[Event]]:
    by_email: dict[str, list[Event]] = {}
    for event, email in db.execute(
        select(Event, Delivery.email).join(Delivery, Delivery.id == Event.delivery_id)
    ):
        by_email.setdefault(email, []).append(event)
    return by_email


def _html_part(raw: bytes) -> str:
    msg: Message = message_from_bytes(raw)
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no HTML part")


def test_a_5_7_policy_refusal_fails_the_row_alerts_the_sender_and_suppresses_nobody(
    db: Session, settings: Settings, send_redis: redis.Redis, sink: Sink
) -> None:
    sink.state.replies = {
        "gmail@example.com": "550 5.7.26 Unauthenticated email is not accepted from this domain",
        "outlook@example.com": "550 5.7.515 Access denied, sending domain does not meet "
        "the required authentication level",
        "bare@example.com": "550 no such user",
        "full@example.com": "550 5.2.2 mailbox full",
    }
    sink.state.reject = {"gone@example.com"}  # 550 5.1.1
    emails = [*sink.state.replies, "gone@example.com", "ok@example.com"]
    ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
    ids = _campaign(db, ours, emails)
    result = send_batch(db, ours, send_redis, _campaign_id(db), ids)

    assert result.sent == 1 and result.failed == 5
    rows = _by_email(db)
    assert rows["ok@example.com"].status == "sent"
    for email in emails[:-1]:
        assert rows[email].status == "failed" and rows[email].attempts == 1
    # Only the recipient's own fault suppresses: 5.1.1, or a bare 550 as before.
    suppressed = {e for e in emails if is_suppressed(db, e)}
    assert suppressed == {"gone@example.com", "bare@example.com"}
    events = _events(db)
    assert [e.type for e in events["gmail@example.com"]] == ["sender_alert"]
    assert [e.type for e in events["outlook@example.com"]] == ["sender_alert"]
    assert events["gmail@example.com"][0].detail["status"] == "5.7.26"
    assert "5.7.515" in events["outlook@example.com"][0].detail["diagnostic"]
    assert [e.type for e in events["gone@example.com"]] == ["bounce_hard"]
    assert [e.type for e in events["bare@example.com"]] == ["bounce_hard"]
    assert "full@example.com" not in events and "ok@example.com" not in events


def test_a_refused_login_pauses_the_campaign_and_gives_the_whole_batch_back(
    db: Session, settings: Settings, send_redis: redis.Redis, login_refusing_sink: Sink
) -> None:
    sink = login_refusing_sink
    ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
    ids = _campaign(db, ours, [f"r{i}@example.com" for i in range(5)])
    cid = _campaign_id(db)
    result = send_batch(db, ours, send_redis, cid, ids)
    assert result.braked and result.released == 5
    campaign = db.get(Campaign, cid)
    assert campaign is not None
    db.refresh(campaign)
    assert campaign.status == "paused"
    assert "refused" in campaign.status_reason and "535" in campaign.status_reason
    assert campaign.status_code == "campaign.relay_refused"
    rows = db.scalars(select(Delivery)).all()
    assert {(d.status, d.attempts) for d in rows} == {("pending", 0)}
    # One connection tried, not one per row (smtplib tries each offered mechanism).
    assert 1 <= sink.state.logins <= 2 and sink.state.total() == 0


def test_a_relay_outage_defers_rows_without_using_up_their_attempts(
    db: Session, settings: Settings, send_redis: redis.Redis
) -> None:
    nobody = parse_smtp_url(f"smtp://127.0.0.1:{free_port()}")  # nothing listens there
    ours = settings.with_overrides(smtp=nobody)
    ids = _campaign(db, ours, [f"o{i}@example.com" for i in range(4)], max_attempts=1)
    result = send_batch(db, ours, send_redis, _campaign_id(db), ids)
    assert result.failed == 0 and result.sent == 0
    rows = db.scalars(select(Delivery)).all()
    assert {(d.status, d.attempts) for d in rows} == {("retry_due", 0)}
    assert all("cannot connect" in (d.last_error or "") for d in rows)


def test_an_unexpected_error_mid_batch_keeps_the_results_already_known(
    db: Session,
    settings: Settings,
    send_redis: redis.Redis,
    sink: Sink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
    emails = [f"m{i}@example.com" for i in range(5)]
    ids = _campaign(db, ours, emails)
    real_message = personalise.CampaignContext.message
    calls = []

    def third_one_breaks(
        self: personalise.CampaignContext, *args: object, **kwargs: object
    ) -> bytes:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("a bug while building the third message")
        return real_message(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(personalise.CampaignContext, "message", third_one_breaks)
    with pytest.raises(RuntimeError):
        send_batch(db, ours, send_redis, _campaign_id(db), ids)
    db.expire_all()
    rows = _by_email(db)
    # Sent before the error: recorded as sent, so "resend unknown" can never repeat them.
    assert [rows[e].status for e in emails] == ["sent", "sent", "sending", "pending", "pending"]
    assert sink.state.counts() == {"m0@example.com": 1, "m1@example.com": 1}


def test_an_idn_address_is_sent_in_ascii_and_a_refusal_suppresses_it_as_stored(
    db: Session, settings: Settings, send_redis: redis.Redis, sink: Sink
) -> None:
    sink.state.reject = {"li@xn--fsqu00a.xn--fiqs8s"}
    ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
    ids = _campaign(db, ours, ["li@例子.中国", "wang@例子.中国"])
    # The delivery's snapshot decides, not a later edit of the subscriber row.
    db.execute(
        update(Subscriber)
        .where(Subscriber.email == "wang@例子.中国")
        .values(email_ascii="someone-else@example.com")
    )
    db.commit()
    send_batch(db, ours, send_redis, _campaign_id(db), ids)
    rows = _by_email(db)
    assert rows["li@例子.中国"].status == "failed"
    assert rows["wang@例子.中国"].status == "sent"
    # Every suppression check hashes the stored form: that is what must be suppressed.
    assert is_suppressed(db, "li@例子.中国")
    assert not is_suppressed(db, "wang@例子.中国")
    assert sink.state.counts() == {"wang@xn--fsqu00a.xn--fiqs8s": 1}


def test_a_test_send_carries_the_real_links_and_no_pixel(
    db: Session, settings: Settings, sink: Sink
) -> None:
    sink.state.keep_raw = True
    ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
    _campaign(db, ours, ["li@example.com"])
    campaign = db.get(Campaign, _campaign_id(db))
    assert campaign is not None and campaign.tracking
    results = send_test(db, ours, campaign.id, ["tester@example.com"])
    assert [r.line for r in results] == ["tester@example.com: sent"]
    html = _html_part(sink.state.raw["tester@example.com"])
    assert 'href="https://example.org/a"' in html
    assert "/c/" not in html and "/o/" not in html
    # The subscribers' own messages stay tracked (the cached context is not touched).
    rendered = render_message(db, ours, campaign.id, "li@example.com")
    assert "/c/" in _html_part(rendered) and "/o/" in _html_part(rendered)


def test_a_worker_keeps_one_relay_connection_across_batches(
    db: Session, settings: Settings, send_redis: redis.Redis, sink: Sink
) -> None:
    ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
    ids = _campaign(db, ours, [f"k{i}@example.com" for i in range(6)])
    for start in range(0, len(ids), 2):
        send_batch(db, ours, send_redis, _campaign_id(db), ids[start : start + 2])
    assert {d.status for d in db.scalars(select(Delivery))} == {"sent"}
    assert sink.state.total() == 6 and len(sink.state.peers) == 1


def test_a_dead_or_idle_kept_connection_is_replaced_before_the_next_batch(
    db: Session,
    settings: Settings,
    send_redis: redis.Redis,
    sink: Sink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
    ids = _campaign(db, ours, [f"d{i}@example.com" for i in range(6)])
    cid = _campaign_id(db)
    send_batch(db, ours, send_redis, cid, ids[:2])
    # The kept connection dies while idle (as when the relay drops a quiet client).
    sink.drop_clients()
    send_batch(db, ours, send_redis, cid, ids[2:4])
    monkeypatch.setattr(mail_transport, "POOL_IDLE_SECONDS", 0.0)  # every kept one is now too old
    send_batch(db, ours, send_redis, cid, ids[4:])
    rows = db.scalars(select(Delivery)).all()
    # No row paid for the dead connection: each was sent on its first attempt.
    assert {(d.status, d.attempts) for d in rows} == {("sent", 1)}
    assert sink.state.total() == 6 and len(sink.state.peers) == 3
