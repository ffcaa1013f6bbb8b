"""The mailto: half of List-Unsubscribe: mail to unsubscribe@<bounce domain> whose subject
carries the reader's signed token unsubscribes that reader, over real SMTP into the bounce
listener; a forged From without the token changes nothing."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from service.campaigns.drafts import create_campaign
from service.events.bounce_server import start_bounce_server
from service.events.inbound import process_file
from service.events.mailto_unsubscribe import unsubscribe_address
from service.model import Consent, MailingList, Membership, MembershipStatus, Subscriber
from service.subscribers.suppression import is_suppressed
from service.subscribers.unsubscribe_links import campaign_unsubscribe_token
from service.tokens import UNSUBSCRIBE, make_token


@pytest.fixture
def listener(settings):
    queued: list[Path] = []
    controller = start_bounce_server(settings, queued.append)
    controller.queued = queued
    yield controller
    controller.stop()


def _member(session, email: str) -> tuple[Subscriber, MailingList]:
    lst = MailingList(slug=f"members-{email[0]}", name="会员单位")
    sub = Subscriber(email=email, email_ascii=email, name="王立")
    session.add_all([lst, sub])
    session.flush()
    session.add(Membership(subscriber_id=sub.id, list_id=lst.id, status=MembershipStatus.ACTIVE))
    session.commit()
    return sub, lst


def _subject(settings, sub: Subscriber, lst: MailingList) -> str:
    # What a mail client puts in the subject from the header's ?subject=unsubscribe%20<token>
    return "unsubscribe " + make_token(settings.secret_key, UNSUBSCRIBE, sub.id, lst.id)


def _request(sender: str, to: str, subject: str, auto: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if auto:
        msg["Auto-Submitted"] = auto
    msg.set_content("This is an unsubscribe request.")
    return msg.as_bytes()


def test_mail_to_the_unsubscribe_address_unsubscribes_its_sender(session, settings, listener):
    sub, lst = _member(session, "wang.li@example.org")
    campaign = create_campaign(
        session, settings, lists=[lst.slug], body_html="<p>x</p>", subject="会刊"
    )
    session.commit()
    to = unsubscribe_address(settings)
    # The token current campaign mail carries: bound to the campaign, not to one list.
    token = campaign_unsubscribe_token(settings.secret_key, sub.id, campaign.id)
    raw = _request("Wang.Li@example.org", to, f"unsubscribe {token}")
    with smtplib.SMTP("127.0.0.1", listener.port) as smtp:
        refused = smtp.sendmail("Wang.Li@example.org", [to], raw)
    assert refused == {}
    [path] = listener.queued
    result = process_file(session, settings, path)
    session.commit()
    assert result is not None and result.kind == "unsubscribe"
    membership = session.scalar(select(Membership).where(Membership.subscriber_id == sub.id))
    assert membership is not None and membership.status == MembershipStatus.UNSUBSCRIBED
    consent = session.scalar(select(Consent).where(Consent.action == "unsubscribe"))
    assert consent is not None and consent.source == "mailto" and consent.list_id == lst.id
    assert consent.detail["campaign_id"] == campaign.id


def test_a_token_from_older_mail_bound_to_one_list_still_works(session, settings, listener):
    sub, lst = _member(session, "old.mail@example.org")
    raw = _request(
        "old.mail@example.org", unsubscribe_address(settings), _subject(settings, sub, lst)
    )
    with smtplib.SMTP("127.0.0.1", listener.port) as smtp:
        smtp.sendmail("old.mail@example.org", [unsubscribe_address(settings)], raw)
    result = process_file(session, settings, listener.queued[0])
    session.commit()
    assert result is not None and result.kind == "unsubscribe"
    membership = session.scalar(select(Membership).where(Membership.subscriber_id == sub.id))
    assert membership is not None and membership.status == MembershipStatus.UNSUBSCRIBED


def test_a_forged_from_without_the_token_unsubscribes_nobody(session, settings, listener):
    sub, _lst = _member(session, "chen.jing@example.org")
    to = unsubscribe_address(settings)
    forged = _request("chen.jing@example.org", to, "unsubscribe 1.1.aaaaaaaaaaaaaaaa")
    with smtplib.SMTP("127.0.0.1", listener.port) as smtp:
        smtp.sendmail("attacker@example.net", [to], forged)
    result = process_file(session, settings, listener.queued[0])
    session.commit()
    assert result is not None and "no valid unsubscribe token" in str(result.outcomes)
    membership = session.scalar(select(Membership).where(Membership.subscriber_id == sub.id))
    assert membership is not None and membership.status == MembershipStatus.ACTIVE


def test_an_auto_reply_to_the_unsubscribe_address_changes_nothing(session, settings, listener):
    sub, lst = _member(session, "zhang.min@example.org")
    to = unsubscribe_address(settings)
    raw = _request("zhang.min@example.org", to, _subject(settings, sub, lst), auto="auto-replied")
    with smtplib.SMTP("127.0.0.1", listener.port) as smtp:
        smtp.sendmail("zhang.min@example.org", [to], raw)
    process_file(session, settings, listener.queued[0])
    session.commit()
    membership = session.scalar(select(Membership).where(Membership.subscriber_id == sub.id))
    assert membership is not None and membership.status == MembershipStatus.ACTIVE
    assert not is_suppressed(session, "zhang.min@example.org")
