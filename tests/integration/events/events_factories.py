"""Rows for events tests, made directly with the ORM (independent of the sending code)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from service.config import Settings
from service.mail.message_ids import message_id_for
from service.mail.verp import verp_address
from service.model import Campaign, Delivery, Link, Subscriber, utcnow

CORPUS = Path(__file__).resolve().parents[2] / "data" / "bounces"


def manifest() -> dict[str, dict[str, Any]]:
    """The corpus manifest without its comment entry."""
    data = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def make_campaign(
    session: Session,
    subject: str = "Issue 1",
    started: datetime | None = None,
    links: tuple[str, ...] = (),
) -> Campaign:
    """A running campaign with its links at positions 0, 1, ..."""
    campaign = Campaign(
        subject=subject,
        from_addr="news@example.org",
        status="running",
        started_at=started or utcnow() - timedelta(hours=1),
        materialized_at=utcnow(),
    )
    session.add(campaign)
    session.flush()
    for position, url in enumerate(links):
        session.add(
            Link(campaign_id=campaign.id, url=url, position=position, article_anchor=f"a{position}")
        )
    session.flush()
    return campaign


def make_subscriber(session: Session, email: str) -> Subscriber:
    """A subscriber (enabled)."""
    subscriber = Subscriber(
        email=email, email_ascii=email.encode("idna").decode() if not email.isascii() else email
    )
    session.add(subscriber)
    session.flush()
    return subscriber


def make_delivery(
    session: Session,
    campaign: Campaign,
    email: str,
    status: str = "sent",
    sent_at: datetime | None = None,
    subscriber: bool = True,
) -> Delivery:
    """A delivery of ``campaign`` to ``email`` (a subscriber row too, unless told not to)."""
    sub = make_subscriber(session, email) if subscriber else None
    delivery = Delivery(
        campaign_id=campaign.id,
        subscriber_id=sub.id if sub else None,
        email=email,
        status=status,
        sent_at=sent_at or (utcnow() - timedelta(minutes=30)),
    )
    session.add(delivery)
    session.flush()
    return delivery


def fill(name: str, settings: Settings, delivery: Delivery, rcpt: str, verp: bool = True) -> bytes:
    """A corpus message with the placeholders set for ``delivery``, CRLF line ends (as
    it comes over SMTP)."""
    secret = settings.secret_key.encode()
    text = (CORPUS / name).read_text(encoding="utf-8")
    verp_addr = (
        verp_address(delivery.id, secret, settings.bounce_domain) if verp else "bounces@example.org"
    )
    text = text.replace("@@VERP@@", verp_addr)
    text = text.replace(
        "@@MSGID@@", message_id_for(delivery.id, delivery.campaign_id, secret, "example.org")
    )
    text = text.replace("@@RCPT_LOCAL@@", rcpt.split("@")[0]).replace("@@RCPT@@", rcpt)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
