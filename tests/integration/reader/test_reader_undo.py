"""「误操作？重新订阅」: the unsubscribed page undoes its own unsubscribe, once, with the
same signed token; real HTTP through the Flask test client, a browser's cookies kept."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.config import Settings
from service.model import Consent, MailingList, Membership, Subscriber, SuppressionReason
from service.subscribers.suppression import is_suppressed, suppress
from tests.conftest import csrf_token
from tests.integration.reader.conftest import (
    make_subscriber,
    preferences_url,
    status_on,
    unsubscribe_url,
)

UNDO_BUTTON = "误操作？重新订阅"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _leave(client: FlaskClient, url: str, everything: bool = False) -> tuple[str, str]:
    """Press the unsubscribe page's button; return the answer's HTML and its CSRF token."""
    data = {"confirm": "1", **({"everything": "1"} if everything else {})}
    resp = client.post(url, data=data)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    match = CSRF.search(html)
    return html, match.group(1) if match else ""


def _undo(client: FlaskClient, url: str, csrf: str) -> tuple[int, str]:
    resp = client.post(f"{url}/undo", data={"csrf_token": csrf})
    return resp.status_code, resp.get_data(as_text=True)


def test_the_unsubscribed_page_undoes_its_unsubscribe_once_without_a_new_opt_in(
    client: FlaskClient, session: Session, settings: Settings, quarterly: MailingList
) -> None:
    sub = make_subscriber(session, "oops@example.org", [quarterly])
    url = unsubscribe_url(settings, sub.id, quarterly.id)
    html, csrf = _leave(client, url)
    assert UNDO_BUTTON in html and f'action="{url}/undo"' in html
    assert status_on(session, sub, quarterly) == "unsubscribed"

    status, page = _undo(client, url, csrf)
    assert status == 200 and "您已重新订阅" in page and "会刊季刊" in page
    assert status_on(session, sub, quarterly) == "active"  # no confirmation mail, no wait
    (row,) = session.scalars(select(Consent).where(Consent.source == "undo"))
    assert (row.action, row.list_id, row.detail["status"]) == ("subscribe", quarterly.id, "active")

    again, page = _undo(client, url, csrf)
    assert again == 409 and "已经撤销过" in page
    assert status_on(session, sub, quarterly) == "active"
    # Leaving again with the same link works, but its undo is spent.
    html, _ = _leave(client, url)
    assert UNDO_BUTTON not in html and status_on(session, sub, quarterly) == "unsubscribed"
    assert _undo(client, url, csrf)[0] == 409
    assert status_on(session, sub, quarterly) == "unsubscribed"


def test_undoing_leave_everything_lifts_its_suppression_but_not_a_list_left_before(
    client: FlaskClient,
    session: Session,
    settings: Settings,
    quarterly: MailingList,
    events_list: MailingList,
) -> None:
    sub = make_subscriber(session, "all@example.org", [quarterly, events_list])
    earlier = session.get(Membership, (sub.id, events_list.id))
    assert earlier is not None
    earlier.status = "unsubscribed"  # left long ago, through another mail
    session.commit()
    url = unsubscribe_url(settings, sub.id, quarterly.id)
    html, csrf = _leave(client, url, everything=True)
    assert UNDO_BUTTON in html and is_suppressed(session, "all@example.org")

    status, _ = _undo(client, url, csrf)
    assert status == 200
    assert not is_suppressed(session, "all@example.org")
    assert status_on(session, sub, quarterly) == "active"
    assert status_on(session, sub, events_list) == "unsubscribed"
    refreshed = session.get(Subscriber, sub.id)
    assert refreshed is not None and refreshed.status == "enabled"


def test_a_bounce_since_the_unsubscribe_refuses_the_undo_with_a_friendly_page(
    client: FlaskClient, session: Session, settings: Settings, quarterly: MailingList
) -> None:
    sub = make_subscriber(session, "bounced@example.org", [quarterly])
    url = unsubscribe_url(settings, sub.id, quarterly.id)
    _, csrf = _leave(client, url)
    suppress(session, "bounced@example.org", SuppressionReason.HARD_BOUNCE, "test")
    session.commit()
    status, page = _undo(client, url, csrf)
    assert status == 409 and "<h1>" in page
    assert status_on(session, sub, quarterly) == "unsubscribed"


def test_an_undo_nobody_was_offered_or_a_forged_token_gets_a_friendly_page_not_a_500(
    app: Flask, client: FlaskClient, session: Session, settings: Settings, quarterly: MailingList
) -> None:
    sub = make_subscriber(session, "oneclick@example.org", [quarterly])
    url = unsubscribe_url(settings, sub.id, quarterly.id)
    # A mail provider's one-click POST offers no undo: there is no page to show it on.
    app.test_client(use_cookies=False).post(url, data={"List-Unsubscribe": "One-Click"})
    csrf = csrf_token(client, preferences_url(settings, sub.id))  # a browser's own session
    status, html = _undo(client, url, csrf)
    assert status == 409 and "没有可撤销的操作" in html
    assert status_on(session, sub, quarterly) == "unsubscribed"

    forged = url[:-1] + ("a" if url[-1] != "a" else "b")
    status, html = _undo(client, forged, csrf)
    assert status == 404 and "<h1>" in html
    without_csrf = client.post(f"{url}/undo")
    assert without_csrf.status_code == 400
    assert status_on(session, sub, quarterly) == "unsubscribed"
