"""Fixtures of the reader pages: lists, a clean rate-limit store, token helpers."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from service import tokens
from service.config import Settings
from service.mail.capture import CaptureStore
from service.model import MailingList, Membership, Subscriber
from service.web.context import confirmation_cap
from service.web.extensions import limiter

MAIL_TIMEOUT_SECONDS = 30
CONFIRM_LINK = re.compile(r"http://localhost/confirm/([A-Za-z0-9_-]{1,32})")


@pytest.fixture(autouse=True)
def fresh_limits(app: Flask) -> Iterator[None]:
    """Every test starts with empty rate-limit counters and confirmation-mail counts in
    the real Redis."""
    limiter._storage_dead = False  # a test that killed Redis must not leak its fallback
    limiter.reset()
    with app.app_context():
        confirmation_cap().clear()
    yield
    limiter._storage_dead = False


@pytest.fixture
def quarterly(session: Session) -> MailingList:
    """A public list with double opt-in."""
    row = MailingList(
        slug="quarterly", name="会刊季刊", description="每季度一期", double_opt_in=True, public=True
    )
    session.add(row)
    session.commit()
    return row


@pytest.fixture
def events_list(session: Session) -> MailingList:
    """A public list without double opt-in (an admin's audited override)."""
    row = MailingList(
        slug="events", name="Events", description="", double_opt_in=False, public=True
    )
    session.add(row)
    session.commit()
    return row


def unsubscribe_url(settings: Settings, subscriber_id: int, list_id: int) -> str:
    """The path of a subscriber's unsubscribe link for one list."""
    token = tokens.make_token(settings.secret_key, tokens.UNSUBSCRIBE, subscriber_id, list_id)
    return f"/unsubscribe/{token}"


def preferences_url(settings: Settings, subscriber_id: int) -> str:
    """The path of a subscriber's preferences link."""
    return (
        f"/preferences/{tokens.make_token(settings.secret_key, tokens.PREFERENCES, subscriber_id)}"
    )


def make_subscriber(
    session: Session, email: str, lists: list[MailingList], name: str = "", language: str = "zh-CN"
) -> Subscriber:
    """An enabled subscriber with active memberships on ``lists`` (committed)."""
    sub = Subscriber(email=email, email_ascii=email, name=name, language=language, attributes={})
    session.add(sub)
    session.flush()
    for mailing_list in lists:
        session.add(Membership(subscriber_id=sub.id, list_id=mailing_list.id, status="active"))
    session.commit()
    return sub


def status_on(session: Session, sub: Subscriber, mailing_list: MailingList) -> str:
    """The status of ``sub`` on ``mailing_list`` as committed now (the session re-reads)."""
    session.expire_all()
    membership = session.get(Membership, (sub.id, mailing_list.id))
    assert membership is not None
    return membership.status


def wait_for_mail(capture: CaptureStore, rcpt: str, seen: set[str]) -> EmailMessage:
    """The first captured mail to ``rcpt`` not in ``seen`` (added to it), waiting up to
    ``MAIL_TIMEOUT_SECONDS`` for the real worker to send it."""
    deadline = time.monotonic() + MAIL_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        for msg_id in capture.ids():
            if msg_id not in seen and rcpt in capture.summary(msg_id).rcpt_tos:
                seen.add(msg_id)
                return capture.message(msg_id)
        time.sleep(0.1)
    raise AssertionError(f"no mail to {rcpt} within {MAIL_TIMEOUT_SECONDS}s")


def text_of(msg: EmailMessage) -> str:
    """The decoded text part of a message."""
    text = msg.get_body(preferencelist=("plain",))
    assert text is not None
    return str(text.get_content())


def confirm_token_in(msg: EmailMessage) -> str:
    """The token of the confirmation link in a mail's text part."""
    match = CONFIRM_LINK.search(text_of(msg))
    assert match, text_of(msg)
    return match.group(1)
