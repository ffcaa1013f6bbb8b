"""Where a campaign meets the world outside: the sender a relay would refuse, the archive
page its links lead to, and ``campaign render`` writing what is later sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from service.accounts.settings_store import set_setting
from service.campaigns import engine, recipients
from service.campaigns.archive_links import live_links
from service.campaigns.drafts import create_campaign
from service.campaigns.previews import render_message, send_test
from service.config import DEFAULT_FROM, Settings, parse_smtp_url
from service.issues.store import create_issue_from_document
from service.mail.from_address import UnsendableFrom
from service.mail.sending_config import SETTINGS_KEY
from service.model import Campaign, Delivery, Issue, MailingList, Membership, Subscriber
from tests.integration.campaigns.conftest import TEST_SENDING

DEMO = Path(__file__).resolve().parents[3] / "demo" / "dldta-2026-q1.md"
MEMBERS = ["wang@members.example.org", "zhao@members.example.org"]


def _audience(db: Session) -> MailingList:
    set_setting(db, SETTINGS_KEY, TEST_SENDING)
    members = MailingList(slug="members", name="会员单位")
    db.add(members)
    db.flush()
    for email in MEMBERS:
        sub = Subscriber(email=email, email_ascii=email, name="")
        db.add(sub)
        db.flush()
        db.execute(
            insert(Membership).values(subscriber_id=sub.id, list_id=members.id, status="active")
        )
    return members


def _issue_campaign(db: Session, settings: Settings, **issue_values: object) -> Campaign:
    _audience(db)
    issue = create_issue_from_document(db, DEMO.name, DEMO.read_bytes())
    for key, value in issue_values.items():
        setattr(issue, key, value)
    campaign = create_campaign(
        db, settings, lists=["members"], issue_id=issue.id, content_mode="excerpt"
    )
    db.commit()
    return campaign


def _default_sender(settings: Settings) -> Settings:
    from email.utils import parseaddr

    name, addr = parseaddr(DEFAULT_FROM)
    return settings.with_overrides(from_name=name, from_addr=addr)


def test_the_embedded_default_sender_is_accepted_and_sends_to_the_capture(
    db: Session, settings: Settings
) -> None:
    ours = _default_sender(settings).with_overrides(smtp=None, smtp_capture=True)
    _audience(db)
    campaign = create_campaign(db, ours, lists=["members"], body_html="<p>Hi</p>", subject="s")
    db.commit()
    assert campaign.from_addr == "newsletter@localhost"
    engine.start(db, ours, campaign.id)
    assert db.get(Campaign, campaign.id).status == "running"  # type: ignore[union-attr]


def test_a_relay_never_gets_the_local_only_sender_and_the_reason_says_what_to_set(
    db: Session, settings: Settings
) -> None:
    relay = _default_sender(settings).with_overrides(
        smtp=parse_smtp_url("smtp://relay.example.org:587"), smtp_capture=False
    )
    _audience(db)
    campaign = create_campaign(db, relay, lists=["members"], body_html="<p>Hi</p>", subject="s")
    db.commit()
    with pytest.raises(UnsendableFrom, match="TIDINGS_FROM"):
        engine.start(db, relay, campaign.id)
    db.rollback()
    assert db.get(Campaign, campaign.id).status == "draft"  # type: ignore[union-attr]
    with pytest.raises(UnsendableFrom):
        send_test(db, relay, campaign.id, ["tester@example.org"])


def test_starting_a_campaign_publishes_its_issue_so_its_links_answer(
    db: Session, settings: Settings
) -> None:
    campaign = _issue_campaign(db, settings)
    issue = db.get(Issue, campaign.issue_id)
    assert issue is not None and issue.published_at is None
    engine.start(db, settings, campaign.id)
    db.refresh(issue)
    assert issue.published_at is not None


def test_a_private_issue_goes_out_in_full_with_no_archive_links_and_stays_unpublished(
    db: Session, settings: Settings
) -> None:
    campaign = _issue_campaign(db, settings, keep_private=True)
    engine.start(db, settings, campaign.id)
    issue = db.get(Issue, campaign.issue_id)
    assert issue is not None and issue.published_at is None
    eml = render_message(db, settings, campaign.id, MEMBERS[0])
    assert b"/archive/" not in eml
    db.refresh(campaign)
    assert campaign.compiled is not None
    assert "/archive/" not in str(campaign.compiled)


def test_render_before_start_reserves_the_row_that_is_later_sent(
    db: Session, settings: Settings
) -> None:
    campaign = _issue_campaign(db, settings)
    render_message(db, settings, campaign.id, MEMBERS[0])
    reserved = db.scalar(select(Delivery).where(Delivery.campaign_id == campaign.id))
    assert reserved is not None and reserved.status == "reserved"
    engine.start(db, settings, campaign.id)
    recipients.materialize(db, campaign.id)
    rows = {d.email: (d.id, d.status) for d in db.scalars(select(Delivery))}
    assert rows[MEMBERS[0]] == (reserved.id, "pending")
    assert set(rows) == set(MEMBERS)


def test_a_reserved_row_of_someone_who_left_before_the_start_is_dropped(
    db: Session, settings: Settings
) -> None:
    campaign = _issue_campaign(db, settings)
    render_message(db, settings, campaign.id, MEMBERS[0])
    leaver = db.scalar(select(Subscriber.id).where(Subscriber.email == MEMBERS[0]))
    db.execute(
        update(Membership).values(status="unsubscribed").where(Membership.subscriber_id == leaver)
    )
    db.commit()
    engine.start(db, settings, campaign.id)
    recipients.materialize(db, campaign.id)
    assert [d.email for d in db.scalars(select(Delivery))] == [MEMBERS[1]]
    assert db.get(Campaign, campaign.id).recipients_total == 1  # type: ignore[union-attr]


def test_render_refuses_someone_outside_the_audience(db: Session, settings: Settings) -> None:
    campaign = _issue_campaign(db, settings)
    db.add(Subscriber(email="outsider@example.org", email_ascii="outsider@example.org", name=""))
    db.commit()
    with pytest.raises(recipients.NotARecipient):
        render_message(db, settings, campaign.id, "outsider@example.org")


def test_sent_mail_counts_as_live_links_to_its_issue(db: Session, settings: Settings) -> None:
    campaign = _issue_campaign(db, settings)
    engine.start(db, settings, campaign.id)
    recipients.materialize(db, campaign.id)
    assert live_links(db, campaign.issue_id or 0).messages == 0
    db.execute(update(Delivery).values(status="sent"))
    db.commit()
    found = live_links(db, campaign.issue_id or 0)
    assert found.messages == len(MEMBERS) and [c.id for c in found.campaigns] == [campaign.id]
