"""The subscribe form is no spam relay: nothing a stranger types reaches an unconfirmed
address's mail, and confirmation mails are capped per IP and in total each hour (counted
in Redis, shared by every web process, shown on the dashboard). Real HTTP through the
Flask test client, the real worker, the real SMTP capture, the real Redis."""

from __future__ import annotations

import re
import subprocess
from email.message import EmailMessage

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.config import Settings
from service.mail.capture import CaptureStore
from service.model import MailingList, Membership, Subscriber, SubscriberToken, SuppressionReason
from service.subscribers.confirmation_cap import (
    CONFIRMATIONS_PER_HOUR,
    CONFIRMATIONS_PER_IP_PER_HOUR,
)
from service.subscribers.suppression import suppress
from service.web.app import create_app, get_db
from service.web.extensions import limiter
from tests.conftest import csrf_token
from tests.integration.reader.conftest import wait_for_mail

SPAM_NAME = "Cheap pills at http://spam.example"
SPAM_ORG = "Win a prize: http://prize.example"


def _mailed(capture: CaptureStore, rcpt: str) -> bool:
    return any(rcpt in capture.summary(m).rcpt_tos for m in capture.ids())


def _everything(msg: EmailMessage) -> str:
    """Headers and every decoded part of a message, as one text."""
    parts = [f"{k}: {v}" for k, v in msg.items()]
    parts += [str(p.get_content()) for p in msg.walk() if p.get_content_maintype() == "text"]
    return "\n".join(parts)


def _sign_up(client: FlaskClient, email: str, ip: str, **fields: str) -> tuple[int, str]:
    resp = client.post(
        "/subscribe/quarterly?lang=en",
        data={"email": email, **fields},
        environ_base={"REMOTE_ADDR": ip},
    )
    return resp.status_code, resp.get_data(as_text=True)


def test_the_confirmation_mail_carries_nothing_the_stranger_typed_until_the_address_confirms(
    client: FlaskClient,
    session: Session,
    quarterly: MailingList,
    capture: CaptureStore,
    celery_worker: subprocess.Popen[bytes],
) -> None:
    seen = set(capture.ids())
    victim = "victim@example.org"
    status, _ = _sign_up(client, victim, "192.0.2.10", name=SPAM_NAME, organisation=SPAM_ORG)
    assert status == 200
    msg = wait_for_mail(capture, victim, seen)
    assert msg["To"].addresses[0].display_name == ""
    assert msg["To"].addresses[0].addr_spec == victim
    text = _everything(msg)
    for typed in ("Cheap pills", "spam.example", "Win a prize", "prize.example"):
        assert typed not in text
    assert "Hello," in text  # the greeting, without a name
    sub = session.scalar(select(Subscriber))
    assert sub is not None and (sub.name, sub.organisation) == (SPAM_NAME, SPAM_ORG)  # kept

    # The "mail me my link" form reaches the same unconfirmed address: no name there either.
    assert client.post("/preferences", data={"email": victim}).status_code == 200
    link_mail = _everything(wait_for_mail(capture, victim, seen))
    assert "Cheap pills" not in link_mail and "spam.example" not in link_mail

    # Once the address confirms, its name is used.
    token = session.scalar(select(SubscriberToken.token))
    reader = client.application.test_client()
    form = {"csrf_token": csrf_token(reader, f"/confirm/{token}")}
    assert reader.post(f"/confirm/{token}", data=form).status_code == 200
    limiter.reset()
    assert client.post("/preferences", data={"email": victim}).status_code == 200
    named = wait_for_mail(capture, victim, seen)
    assert named["To"].addresses[0].display_name == SPAM_NAME


def test_one_address_gets_its_hourly_confirmations_then_sign_ups_stay_unconfirmed_unmailed(
    client: FlaskClient,
    session: Session,
    quarterly: MailingList,
    capture: CaptureStore,
    celery_worker: subprocess.Popen[bytes],
) -> None:
    seen = set(capture.ids())
    ip = "198.51.100.7"
    allowed = [f"cap{n}@example.org" for n in range(CONFIRMATIONS_PER_IP_PER_HOUR)]
    for email in allowed:
        assert _sign_up(client, email, ip)[0] == 200
    limiter.reset()  # past Flask-Limiter's minute: only the hourly cap is left to say no

    held = client.post(
        "/subscribe/quarterly?lang=en",
        data={"email": "held@example.org"},
        environ_base={"REMOTE_ADDR": ip},
    )
    assert held.status_code == 429
    assert 0 < int(held.headers["Retry-After"]) <= 3600
    page = held.get_data(as_text=True)
    assert "try again later" in page and "held@example.org" not in page
    held_sub = session.scalar(select(Subscriber).where(Subscriber.email == "held@example.org"))
    assert held_sub is not None  # kept, unconfirmed, no mail
    membership = session.get(Membership, (held_sub.id, quarterly.id))
    assert membership is not None and membership.status == "unconfirmed"

    # A suppressed address, which gets no mail anyway, gets the very same answer.
    suppress(session, "blocked@example.org", SuppressionReason.COMPLAINT, "test")
    session.commit()
    blocked = client.post(
        "/subscribe/quarterly?lang=en",
        data={"email": "blocked@example.org"},
        environ_base={"REMOTE_ADDR": ip},
    )
    assert (blocked.status_code, blocked.get_data(as_text=True)) == (429, page)
    as_json = client.post(
        "/subscribe/quarterly",
        json={"email": "held2@example.org"},
        environ_base={"REMOTE_ADDR": ip},
    )
    assert as_json.status_code == 429 and as_json.get_json()["code"] == "try_later"

    # Another address still gets through; the held-back sign-ups never got a mail.
    assert _sign_up(client, "other@example.org", "198.51.100.8")[0] == 200
    for email in [*allowed, "other@example.org"]:
        wait_for_mail(capture, email, seen)
    assert not _mailed(capture, "held@example.org")
    assert not _mailed(capture, "held2@example.org")


def test_the_total_cap_holds_across_web_processes_and_the_dashboard_shows_the_hour(
    app: Flask,
    settings: Settings,
    session: Session,
    quarterly: MailingList,
    logged_in: FlaskClient,
) -> None:
    other_process = create_app(test_config={"TESTING": True}, settings=settings)
    try:
        clients = [app.test_client(), other_process.test_client()]
        per_ip = CONFIRMATIONS_PER_IP_PER_HOUR
        for n in range(CONFIRMATIONS_PER_HOUR):
            ip = f"10.0.{n // per_ip}.1"
            status, _ = _sign_up(clients[n % 2], f"flood{n}@example.org", ip)
            assert status == 200, n
        status, page = _sign_up(clients[1], "one-more@example.org", "10.9.9.9")
        assert status == 429 and "try again later" in page
        assert _sign_up(clients[0], "and-another@example.org", "10.9.9.10")[0] == 429
    finally:
        get_db(other_process).dispose()

    dashboard = logged_in.get("/").get_data(as_text=True)
    sent = re.search(r'data-confirmations="sent"><span class="n">([\d,]+)<', dashboard)
    held = re.search(r'data-confirmations="held-back"><span class="n">([\d,]+)<', dashboard)
    assert sent and held, dashboard
    assert int(sent.group(1).replace(",", "")) == CONFIRMATIONS_PER_HOUR
    assert int(held.group(1)) == 2
