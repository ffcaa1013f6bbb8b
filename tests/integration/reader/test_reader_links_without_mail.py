"""The reader pages a link from a test message or from no message at all leads to: the
"mail me my preferences link" page, and the test send's unsubscribe and preferences links.
"""

from __future__ import annotations

import subprocess
import time

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from service import tokens
from service.config import Settings
from service.mail.capture import CaptureStore
from service.model import MailingList
from service.subscribers.unsubscribe_links import campaign_unsubscribe_token
from tests.integration.reader.conftest import make_subscriber

MAIL_WAIT_SECONDS = 30.0


def _mails_to(capture: CaptureStore, address: str) -> list[str]:
    return [i for i in capture.ids() if address in capture.summary(i).rcpt_tos]


def test_the_preferences_link_is_mailed_to_a_subscriber_and_the_page_tells_nobody_who_is_one(
    app: Flask,
    session: Session,
    settings: Settings,
    quarterly: MailingList,
    capture: CaptureStore,
    celery_worker: subprocess.Popen[bytes],
) -> None:
    make_subscriber(session, "member@example.org", [quarterly])
    bare = app.test_client(use_cookies=False)
    assert "<form" in bare.get("/preferences").get_data(as_text=True)
    known = bare.post("/preferences", data={"email": "Member@Example.org"})
    unknown = bare.post("/preferences", data={"email": "stranger@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while not _mails_to(capture, "member@example.org") and time.monotonic() < deadline:
        time.sleep(0.2)
    (mail_id,) = _mails_to(capture, "member@example.org")
    body = capture.message(mail_id).get_body(("plain",))
    assert body is not None
    assert f"{settings.base_url}/preferences/" in body.get_content()
    assert _mails_to(capture, "stranger@example.org") == []


def test_an_empty_preferences_request_asks_again(app: Flask) -> None:
    resp = app.test_client(use_cookies=False).post("/preferences", data={"email": " "})
    assert resp.status_code == 400


def test_a_test_sends_links_for_no_subscriber_open_a_page_that_changes_nothing(
    app: Flask, settings: Settings
) -> None:
    bare = app.test_client(use_cookies=False)
    unsubscribe = campaign_unsubscribe_token(settings.secret_key, 0, 1)
    preferences = tokens.make_token(settings.secret_key, tokens.PREFERENCES, 0)
    for path in (f"/unsubscribe/{unsubscribe}", f"/preferences/{preferences}"):
        page = bare.get(path)
        assert page.status_code == 200, path
        assert "test" in page.get_data(as_text=True).lower() or "测试" in page.get_data(
            as_text=True
        )
    one_click = bare.post(f"/unsubscribe/{unsubscribe}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200


def test_the_dashboard_warns_when_visited_elsewhere_than_the_base_url(
    logged_in: FlaskClient, settings: Settings
) -> None:
    here = logged_in.get("/", base_url=settings.base_url).get_data(as_text=True)
    assert 'data-warning="base-url"' not in here
    elsewhere = logged_in.get("/", base_url="http://localhost:8101").get_data(as_text=True)
    assert 'data-warning="base-url"' in elsewhere
    assert settings.base_url in elsewhere
