"""The return path of campaign mail without TIDINGS_BOUNCE_DOMAIN: VERP at the From
domain (as the README documents), seen from the outside — the MAIL FROM a real SMTP sink
receives, and a DSN sent to that address through the real bounce listener."""

from __future__ import annotations

import re
import smtplib
from pathlib import Path

import redis
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from service.accounts.settings_store import set_setting
from service.campaigns import engine, ledger, recipients
from service.campaigns.drafts import create_campaign
from service.campaigns.sender import send_batch
from service.config import Settings, parse_smtp_url
from service.events.bounce_server import start_bounce_server
from service.events.inbound import process_file
from service.mail.sending_config import SETTINGS_KEY
from service.model import Delivery, MailingList, Membership, Subscriber
from tests.integration.campaigns.conftest import BODY, TEST_SENDING
from tests.integration.campaigns.sink import Sink

READER = "reader@example.com"
# The bounce of a forwarded address: the DSN names only the final mailbox (not the one we
# sent to) and returns none of our headers, so only the VERP address can identify it.
FORWARDED_TO = "reader.forward@elsewhere.example"
DSN = """\
From: MAILER-DAEMON@mx.elsewhere.example (Mail Delivery System)
To: {verp}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset=us-ascii

<{final}>: 550 5.1.1 User unknown

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.elsewhere.example

Final-Recipient: rfc822; {final}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{final}>: User unknown

--B--
"""


def _one_delivery(db: Session, settings: Settings) -> tuple[int, list[int]]:
    set_setting(db, SETTINGS_KEY, TEST_SENDING)
    members = MailingList(slug="members", name="会员单位")
    db.add(members)
    db.flush()
    reader = Subscriber(email=READER, email_ascii=READER, name="王丽")
    db.add(reader)
    db.flush()
    db.execute(
        insert(Membership).values(subscriber_id=reader.id, list_id=members.id, status="active")
    )
    campaign = create_campaign(db, settings, lists=["members"], body_html=BODY, subject="会刊")
    db.commit()
    engine.start(db, settings, campaign.id)
    recipients.materialize(db, campaign.id)
    ids: list[int] = []
    ledger.dispatch(
        db, campaign.id, lambda _c, b: ids.extend(b), batch_size=10, max_batches_in_flight=1
    )
    return campaign.id, ids


def test_without_a_bounce_domain_campaign_mail_goes_out_from_a_verp_address_at_the_from_domain_and_its_bounce_is_matched(  # noqa: E501
    db: Session, settings: Settings, send_redis: redis.Redis
) -> None:
    assert "TIDINGS_BOUNCE_DOMAIN" not in settings.extra
    assert settings.from_addr == "news@example.org"
    sink = Sink()
    try:
        ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
        campaign_id, ids = _one_delivery(db, ours)
        assert send_batch(db, ours, send_redis, campaign_id, ids).sent == 1
        [mail_from] = sink.state.mail_from[READER]
    finally:
        sink.stop()
    assert re.fullmatch(r"b\+[0-9a-z]+\.[a-z2-7]{10}@example\.org", mail_from), mail_from

    queued: list[Path] = []
    listener = start_bounce_server(settings, queued.append)
    try:
        dsn = DSN.format(verp=mail_from, final=FORWARDED_TO).replace("\n", "\r\n").encode()
        with smtplib.SMTP("127.0.0.1", listener.port) as smtp:
            assert smtp.sendmail("<>", [mail_from], dsn) == {}
    finally:
        listener.stop()
    [path] = queued
    process_file(db, settings, path)
    db.commit()
    delivery = db.scalar(select(Delivery).where(Delivery.campaign_id == campaign_id))
    assert delivery is not None and delivery.status == "bounced_hard"
