"""Bounces, complaints and alerts applied to real database rows (DESIGN §4, STANDARDS §3)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from service.accounts.settings_store import set_setting
from service.events.inbound import process_message
from service.events.policy import NoOp, Signal, apply_signal, recent_alerts
from service.model import Event, utcnow
from service.subscribers.suppression import is_suppressed
from tests.integration.events.events_factories import (
    fill,
    make_campaign,
    make_delivery,
    manifest,
)

CASES = sorted(manifest().items())


@pytest.mark.parametrize(("name", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_corpus_message_changes_the_delivery_as_its_manifest_says(
    session, settings, name, expected
):
    campaign = make_campaign(session)
    delivery = make_delivery(session, campaign, expected["rcpt"])
    other = make_delivery(session, campaign, "bystander@example.net")
    session.commit()
    raw = fill(name, settings, delivery, expected["rcpt"])
    process_message(session, settings, raw)
    session.commit()
    session.refresh(delivery)
    assert delivery.status == (expected["effect"] or "sent")
    assert is_suppressed(session, expected["rcpt"]) is expected["suppressed"]
    session.refresh(other)
    assert other.status == "sent"
    alerts = session.scalars(select(Event).where(Event.type == "sender_alert")).all()
    assert len(alerts) == (1 if expected["severity"] == "policy" else 0)
    if alerts:
        assert alerts[0].detail["diagnostic"]  # the provider's own words reach the dashboard
        assert alerts[0].delivery_id == delivery.id


def test_the_same_bounce_processed_twice_is_stored_once(session, settings):
    campaign = make_campaign(session)
    delivery = make_delivery(session, campaign, "alice@example.net")
    session.commit()
    raw = fill("postfix_user_unknown.eml", settings, delivery, "alice@example.net")
    first = process_message(session, settings, raw)
    second = process_message(session, settings, raw)
    session.commit()
    assert first.outcomes[0][1].effect == "bounced_hard+suppressed"  # type: ignore[union-attr]
    assert second.outcomes[0][1] == NoOp("duplicate event")
    assert session.query(Event).count() == 1


def test_a_bounce_for_a_delivery_already_bounced_hard_is_a_named_no_op(session):
    campaign = make_campaign(session)
    delivery = make_delivery(session, campaign, "x@example.net", status="bounced_hard")
    outcome = apply_signal(session, delivery, Signal("soft", "mail", "late-1", "4.2.2"))
    assert outcome == NoOp("already bounced")
    outcome = apply_signal(session, delivery, Signal("hard", "mail", "late-2", "5.1.1"))
    assert outcome == NoOp("already bounced")
    assert session.query(Event).count() == 0


def test_a_bounce_for_a_delivery_that_failed_at_send_time_changes_nothing(session):
    campaign = make_campaign(session)
    delivery = make_delivery(session, campaign, "f@example.net", status="failed")
    assert apply_signal(session, delivery, Signal("hard", "mail", "f-1", "5.1.1")) == NoOp(
        "delivery had failed at send time"
    )
    assert not is_suppressed(session, "f@example.net")


def test_a_soft_bounce_then_a_hard_bounce_ends_bounced_hard(session):
    campaign = make_campaign(session)
    delivery = make_delivery(session, campaign, "s@example.net")
    apply_signal(session, delivery, Signal("soft", "mail", "s-1", "4.2.2"))
    apply_signal(session, delivery, Signal("hard", "mail", "s-2", "5.1.1"))
    session.refresh(delivery)
    assert delivery.status == "bounced_hard"
    assert is_suppressed(session, "s@example.net")


def _soft_bounce_on(session, email, days_ago, index, hours_ago=0.0):
    campaign = make_campaign(session, subject=f"issue {index}")
    when = utcnow() - timedelta(days=days_ago, hours=hours_ago)
    delivery = make_delivery(session, campaign, email, sent_at=when, subscriber=False)
    signal = Signal("soft", "mail", f"{email}-{index}", "4.2.2", at=when + timedelta(minutes=5))
    return delivery, apply_signal(session, delivery, signal)


def test_soft_bounces_suppress_after_three_days_in_a_row_counted_once_a_day(session):
    email = "full@example.net"
    _soft_bounce_on(session, email, 3, 1)
    _soft_bounce_on(session, email, 3, 2, hours_ago=-1)  # same day: counts once
    _, second_day = _soft_bounce_on(session, email, 2, 3)
    assert not second_day.suppressed  # type: ignore[union-attr]
    assert not is_suppressed(session, email)
    _, third_day = _soft_bounce_on(session, email, 1, 4)
    assert third_day.suppressed  # type: ignore[union-attr]
    assert is_suppressed(session, email)


def test_a_later_successful_delivery_resets_the_soft_bounce_count(session):
    email = "flaky@example.net"
    _soft_bounce_on(session, email, 5, 1)
    _soft_bounce_on(session, email, 4, 2)
    ok_campaign = make_campaign(session, subject="ok")
    make_delivery(
        session, ok_campaign, email, sent_at=utcnow() - timedelta(days=3), subscriber=False
    )  # still "sent": it arrived
    _, outcome = _soft_bounce_on(session, email, 2, 3)
    assert not outcome.suppressed  # type: ignore[union-attr]
    assert not is_suppressed(session, email)


def test_the_soft_bounce_threshold_comes_from_the_bounces_setting(session):
    set_setting(session, "bounces", {"soft_threshold": 1})
    _, outcome = _soft_bounce_on(session, "once@example.net", 1, 1)
    assert outcome.suppressed  # type: ignore[union-attr]


def test_a_policy_refusal_raises_an_alert_and_never_suppresses(session):
    campaign = make_campaign(session)
    delivery = make_delivery(session, campaign, "p@gmail.com")
    outcome = apply_signal(
        session, delivery, Signal("policy", "mail", "p-1", "5.7.26", "550-5.7.26 DMARC")
    )
    assert outcome.effect == "alert"  # type: ignore[union-attr]
    assert not is_suppressed(session, "p@gmail.com")
    session.refresh(delivery)
    assert delivery.status == "sent"
    assert [a.detail["status"] for a in recent_alerts(session)] == ["5.7.26"]


def test_matching_falls_back_to_our_message_id_when_there_is_no_verp(session, settings):
    campaign = make_campaign(session)
    delivery = make_delivery(session, campaign, "erin@contoso.com")
    session.commit()
    raw = fill(
        "exchange_o365_recipient_not_found.eml", settings, delivery, "erin@contoso.com", verp=False
    )
    result = process_message(session, settings, raw)
    assert result.outcomes[0][0] == delivery.id


def test_matching_falls_back_to_the_recipient_address_last(session, settings):
    campaign = make_campaign(session)
    delivery = make_delivery(session, campaign, "zhangwei@qq.com")
    session.commit()
    raw = fill("qq_mailbox_not_found.eml", settings, delivery, "zhangwei@qq.com", verp=False)
    result = process_message(session, settings, raw)
    assert result.outcomes[0][0] == delivery.id
    session.refresh(delivery)
    assert delivery.status == "bounced_hard"


def test_a_forged_verp_address_does_not_match_anyone(session, settings):
    campaign = make_campaign(session)
    victim = make_delivery(session, campaign, "victim@example.net")
    session.commit()
    raw = fill("postfix_user_unknown.eml", settings, victim, "someone-else@example.net", verp=False)
    forged_verp = f"b+{victim.id:x}.aaaaaaaaaa@example.org".encode()
    raw = raw.replace(b"bounces@example.org", forged_verp)
    raw = raw.replace(b"Message-ID: <c", b"Message-ID: <forged")
    assert forged_verp in raw
    process_message(session, settings, raw)
    session.refresh(victim)
    assert victim.status == "sent"
    assert not is_suppressed(session, "victim@example.net")
