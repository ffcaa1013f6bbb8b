"""The welcome mail after a double opt-in confirmation: the form, the real worker, the
real SMTP capture, and the link in the welcome followed through the test client."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from service.issues import publishing, store
from service.mail.capture import CaptureStore
from service.model import Issue, MailingList
from tests.conftest import csrf_token
from tests.documents import DEMO_PATH, HARBOUR_PATH
from tests.integration.reader.conftest import confirm_token_in, text_of, wait_for_mail

LINK = re.compile(r"http://localhost(/\S+)")


def _issue(session: Session, path: Path, *, publish: bool) -> Issue:
    issue = store.create_issue_from_document(session, path.name, path.read_bytes())
    if publish:
        publishing.publish(session, issue)
    session.commit()
    return issue


def _sign_up_and_confirm(
    app: Flask, client: FlaskClient, capture: CaptureStore, email: str, **fields: str
) -> tuple[str, set[str]]:
    """Subscribe ``email`` to the quarterly and press the confirm button; return the
    confirmation token and the captured ids seen so far."""
    seen = set(capture.ids())
    assert client.post("/subscribe/quarterly", data={"email": email, **fields}).status_code == 200
    token = confirm_token_in(wait_for_mail(capture, email, seen))
    reader = app.test_client()
    pressed = reader.post(
        f"/confirm/{token}", data={"csrf_token": csrf_token(reader, f"/confirm/{token}")}
    )
    assert pressed.status_code == 200
    return token, seen


def test_the_welcome_links_to_the_newest_public_issue_and_that_link_opens_it(
    app: Flask,
    client: FlaskClient,
    session: Session,
    quarterly: MailingList,
    capture: CaptureStore,
    celery_worker: subprocess.Popen[bytes],
) -> None:
    older = _issue(session, DEMO_PATH, publish=True)
    newest = _issue(session, HARBOUR_PATH, publish=True)
    assert older.published_at is not None

    _, seen = _sign_up_and_confirm(app, client, capture, "zhao.lei@example.org", name="赵磊")
    welcome = wait_for_mail(capture, "zhao.lei@example.org", seen)
    assert welcome["Subject"] == "欢迎订阅《会刊季刊》"
    assert welcome["To"].addresses[0].display_name == "赵磊"  # confirmed: the name may go in
    assert welcome["List-Unsubscribe"] is None  # transactional, not list mail
    text = text_of(welcome)
    assert "您好，赵磊！" in text and "阅读最新一期" in text
    links = set(LINK.findall(text))
    assert links == {f"/archive/{newest.slug}"}
    html = welcome.get_body(preferencelist=("html",))
    assert html is not None and f"http://localhost/archive/{newest.slug}" in html.get_content()
    page = app.test_client(use_cookies=False).get(links.pop())
    assert page.status_code == 200
    assert newest.title in page.get_data(as_text=True)


def test_without_a_public_issue_the_welcome_opens_the_preferences_page_instead(
    app: Flask,
    client: FlaskClient,
    session: Session,
    quarterly: MailingList,
    capture: CaptureStore,
    celery_worker: subprocess.Popen[bytes],
) -> None:
    _issue(session, HARBOUR_PATH, publish=False)
    email = "reader.en@example.org"
    _, seen = _sign_up_and_confirm(app, client, capture, email, language="en")
    welcome = wait_for_mail(capture, email, seen)
    assert welcome["Subject"] == "Welcome to 会刊季刊"
    text = text_of(welcome)
    assert "/archive/" not in text and "Hello," in text
    (link,) = set(LINK.findall(text))
    assert link.startswith("/preferences/")
    page = app.test_client(use_cookies=False).get(link + "?lang=en")
    assert page.status_code == 200 and "reader.en@example.org" in page.get_data(as_text=True)
