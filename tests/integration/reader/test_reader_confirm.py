"""Double opt-in end to end: form → real worker → real SMTP capture → confirm link."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.mail.capture import CaptureStore
from service.model import Consent, MailingList, Membership, Subscriber, SubscriberToken
from tests.conftest import csrf_token
from tests.integration.reader.conftest import confirm_token_in, wait_for_mail


def _membership(session: Session, list_id: int) -> Membership:
    session.expire_all()
    membership = session.scalar(select(Membership).where(Membership.list_id == list_id))
    assert membership is not None
    return membership


def test_the_confirmation_mail_arrives_and_its_button_activates_the_membership_once(
    app: Flask,
    client: FlaskClient,
    session: Session,
    quarterly: MailingList,
    capture: CaptureStore,
    celery_worker: subprocess.Popen[bytes],
) -> None:
    seen = set(capture.ids())
    resp = client.post(
        "/subscribe/quarterly",
        data={"email": "Wang.Fang@Example.org", "name": "王芳", "language": "zh-CN"},
    )
    assert resp.status_code == 200
    msg = wait_for_mail(capture, "wang.fang@example.org", seen)
    assert msg["Subject"] == "请确认订阅《会刊季刊》"
    assert msg["From"].addresses[0].display_name == "大连市数字贸易协会"
    assert msg["To"].addresses[0].addr_spec == "wang.fang@example.org"
    assert msg["List-Unsubscribe"] is None  # transactional, not list mail
    html = msg.get_body(preferencelist=("html",))
    assert html is not None and "确认订阅" in html.get_content()
    token = confirm_token_in(msg)

    # A mail scanner fetches the link (HEAD, then GET): nothing is confirmed.
    assert client.head(f"/confirm/{token}").status_code == 200
    scanned = client.get(f"/confirm/{token}")
    assert scanned.status_code == 200
    assert scanned.headers["Referrer-Policy"] == "same-origin"
    assert "会刊季刊" in scanned.get_data(as_text=True)
    assert _membership(session, quarterly.id).status == "unconfirmed"
    assert session.scalar(select(SubscriberToken.used_at)) is None

    # The reader opens the link in a fresh browser and presses the button.
    reader = app.test_client()
    first = reader.post(
        f"/confirm/{token}", data={"csrf_token": csrf_token(reader, f"/confirm/{token}")}
    )
    assert first.status_code == 200 and "Location" not in first.headers
    assert _membership(session, quarterly.id).status == "active"
    assert session.scalar(select(Consent).where(Consent.action == "confirm")) is not None

    again = reader.get(f"/confirm/{token}?lang=en")
    assert again.status_code == 200
    body = again.get_data(as_text=True)
    assert "already been used" in body and "already confirmed" in body
    assert session.scalar(select(SubscriberToken.used_at)) is not None


def test_a_get_of_the_confirmation_link_shows_the_list_and_a_button_and_confirms_nothing(
    client: FlaskClient, session: Session, quarterly: MailingList
) -> None:
    client.post("/subscribe/quarterly", data={"email": "scanned@example.org"})
    token = session.scalar(select(SubscriberToken.token))
    for _ in range(3):
        assert client.head(f"/confirm/{token}").status_code == 200
        page = client.get(f"/confirm/{token}?lang=en")
        assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "会刊季刊" in html and "Confirm my subscription" in html
    assert f'<form method="post" action="/confirm/{token}">' in html
    assert _membership(session, quarterly.id).status == "unconfirmed"
    assert session.scalar(select(SubscriberToken.used_at)) is None
    assert session.scalar(select(Consent).where(Consent.action == "confirm")) is None


def test_the_confirm_button_needs_the_pages_csrf_token_and_offers_itself_again_without_it(
    app: Flask, session: Session, quarterly: MailingList
) -> None:
    app.test_client().post("/subscribe/quarterly", data={"email": "forged@example.org"})
    token = session.scalar(select(SubscriberToken.token))
    stranger = app.test_client(use_cookies=False)
    refused = stranger.post(
        f"/confirm/{token}", data={"confirm": "1"}, headers={"Accept-Language": "en"}
    )
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "press the button once more" in html and 'name="csrf_token"' in html
    assert _membership(session, quarterly.id).status == "unconfirmed"

    # The page just shown set the session its token belongs to: pressing again works.
    reader = app.test_client()
    page = reader.post(f"/confirm/{token}", data={"confirm": "1"})
    again = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert again is not None
    done = reader.post(f"/confirm/{token}", data={"csrf_token": again.group(1)})
    assert done.status_code == 200
    assert _membership(session, quarterly.id).status == "active"


def test_an_unknown_or_mangled_confirmation_link_gets_the_friendly_404_on_get_and_post(
    client: FlaskClient, session: Session, quarterly: MailingList
) -> None:
    for path in ("/confirm/nope", "/confirm/a%00b", "/confirm/" + "x" * 40):
        assert client.get(path).status_code == 404
        token = csrf_token(client)
        resp = client.post(path, data={"csrf_token": token})
        assert resp.status_code == 404 and "<html" in resp.get_data(as_text=True)


def test_an_expired_link_offers_a_new_link_that_arrives_and_works(
    client: FlaskClient,
    session: Session,
    quarterly: MailingList,
    capture: CaptureStore,
    celery_worker: subprocess.Popen[bytes],
) -> None:
    seen = set(capture.ids())
    client.post("/subscribe/quarterly", data={"email": "late@example.org", "language": "en"})
    old = confirm_token_in(wait_for_mail(capture, "late@example.org", seen))
    row = session.scalar(select(SubscriberToken))
    assert row is not None and row.expires_at is not None
    row.created_at -= timedelta(hours=73)
    row.expires_at -= timedelta(hours=73)
    session.commit()

    page = client.get(f"/confirm/{old}?lang=en")
    assert page.status_code == 200
    assert "expired" in page.get_data(as_text=True)
    pressed = client.post(
        f"/confirm/{old}", data={"csrf_token": csrf_token(client, f"/confirm/{old}")}
    )
    assert pressed.status_code == 200 and "expired" in pressed.get_data(as_text=True)
    assert _membership(session, quarterly.id).status == "unconfirmed"

    resent = client.post(
        f"/confirm/{old}/resend", data={"csrf_token": csrf_token(client, f"/confirm/{old}")}
    )
    assert resent.status_code == 200 and "Location" not in resent.headers
    msg = wait_for_mail(capture, "late@example.org", seen)
    assert msg["Subject"] == "Please confirm your subscription to 会刊季刊"
    new = confirm_token_in(msg)
    assert new != old
    assert client.get(f"/confirm/{old}").status_code == 404  # replaced by the new one
    assert client.get(f"/confirm/{new}").status_code == 200
    assert _membership(session, quarterly.id).status == "unconfirmed"
    pressed = client.post(
        f"/confirm/{new}", data={"csrf_token": csrf_token(client, f"/confirm/{new}")}
    )
    assert pressed.status_code == 200
    assert _membership(session, quarterly.id).status == "active"
    sub = session.scalar(select(Subscriber))
    assert sub is not None and sub.status == "enabled"


def test_the_resend_button_needs_its_csrf_token(
    client: FlaskClient, session: Session, quarterly: MailingList
) -> None:
    client.post("/subscribe/quarterly", data={"email": "csrf@example.org"})
    row = session.scalar(select(SubscriberToken))
    assert row is not None
    before = row.token
    assert client.post(f"/confirm/{before}/resend").status_code == 400
    session.expire_all()
    assert session.scalar(select(SubscriberToken.token)) == before
