"""The public archive as a reader sees it: each issue's own date, and a way to subscribe."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from service.config import Settings
from service.issues import publishing, store
from service.model import Issue, MailingList
from tests.documents import DEMO_PATH, HARBOUR_PATH


def _published(session: Session, path: Path) -> Issue:
    issue = store.create_issue_from_document(session, path.name, path.read_bytes())
    publishing.publish(session, issue)
    session.commit()
    return issue


def _meta(html: str, slug: str) -> str:
    match = re.search(rf'data-issue="{slug}".*?<div class="meta">(.*?)</div>', html, re.S)
    assert match, html
    return match.group(1)


def test_each_issue_shows_the_date_printed_on_it_not_the_day_it_was_imported(
    client: FlaskClient, session: Session, settings: Settings
) -> None:
    dated = _published(session, HARBOUR_PATH)  # its masthead says "12 May 2026"
    undated = _published(session, DEMO_PATH)  # no date on it: the day it went online
    html = client.get("/archive/").get_data(as_text=True)
    assert _meta(html, dated.slug) == "出版日期：12 May 2026"
    assert undated.published_at is not None
    online = undated.published_at.astimezone(settings.zone).strftime("%Y-%m-%d")
    assert _meta(html, undated.slug) == f"出版日期：{online}"
    today = datetime.now(settings.zone).strftime("%Y-%m-%d")
    assert today not in _meta(html, dated.slug)
    english = client.get("/archive/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert _meta(english, dated.slug) == "Published 12 May 2026"


def test_the_archive_and_each_issue_link_to_the_subscribe_form_while_a_list_is_public(
    client: FlaskClient, session: Session, quarterly: MailingList
) -> None:
    issue = _published(session, HARBOUR_PATH)
    for path in ("/archive/", f"/archive/{issue.slug}"):
        html = client.get(path).get_data(as_text=True)
        (href,) = re.findall(r'<a class="subscribe" href="([^"]+)"[^>]*>订阅</a>', html)
        form = client.get(href)
        assert form.status_code == 200 and quarterly.name in form.get_data(as_text=True)


def test_no_subscribe_link_while_no_list_takes_sign_ups(
    client: FlaskClient, session: Session
) -> None:
    session.add(MailingList(slug="members", name="会员单位", public=False))
    session.commit()
    issue = _published(session, HARBOUR_PATH)
    for path in ("/archive/", f"/archive/{issue.slug}"):
        assert 'class="subscribe"' not in client.get(path).get_data(as_text=True)
