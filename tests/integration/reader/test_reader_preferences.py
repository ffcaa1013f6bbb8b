"""The preferences page: lists, name, language, and leaving everything."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.config import Settings
from service.model import Consent, MailingList, Membership, Subscriber, SuppressionReason
from service.subscribers.suppression import is_suppressed, suppress
from tests.conftest import csrf_token
from tests.integration.reader.conftest import make_subscriber, preferences_url


def _lists_on(session: Session, sub: Subscriber) -> dict[int, str]:
    session.expire_all()
    rows = session.scalars(select(Membership).where(Membership.subscriber_id == sub.id))
    return {m.list_id: m.status for m in rows}


def test_the_page_shows_the_open_lists_with_the_readers_own_ticked(
    client: FlaskClient,
    session: Session,
    settings: Settings,
    quarterly: MailingList,
    events_list: MailingList,
) -> None:
    sub = make_subscriber(session, "p@example.org", [events_list], name="Han")
    resp = client.get(preferences_url(settings, sub.id))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.headers["Referrer-Policy"] == "same-origin"
    assert re.search(rf'value="{events_list.id}"\s+checked', html)
    assert not re.search(rf'value="{quarterly.id}"\s+checked', html)
    assert 'value="Han"' in html


def test_saving_preferences_changes_lists_name_and_language_and_logs_consent(
    client: FlaskClient,
    session: Session,
    settings: Settings,
    quarterly: MailingList,
    events_list: MailingList,
) -> None:
    sub = make_subscriber(session, "p@example.org", [events_list], name="Han")
    url = preferences_url(settings, sub.id)
    resp = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "lists": [str(quarterly.id)],
            "name": "Han Meimei",
            "language": "en",
        },
    )
    assert resp.status_code == 200
    assert _lists_on(session, sub) == {quarterly.id: "active", events_list.id: "unsubscribed"}
    refreshed = session.get(Subscriber, sub.id)
    assert refreshed is not None
    assert (refreshed.name, refreshed.language) == ("Han Meimei", "en")
    row = session.scalar(select(Consent).where(Consent.action == "preferences"))
    assert row is not None and row.source == "preferences"
    assert row.detail["added"] == [quarterly.id] and row.detail["removed"] == [events_list.id]


def test_the_preferences_post_needs_the_csrf_token(
    client: FlaskClient, session: Session, settings: Settings, events_list: MailingList
) -> None:
    sub = make_subscriber(session, "p@example.org", [events_list])
    resp = client.post(preferences_url(settings, sub.id), data={"name": "x", "language": "en"})
    assert resp.status_code == 400
    assert _lists_on(session, sub) == {events_list.id: "active"}


def test_html_and_script_in_a_name_are_escaped_on_the_preferences_page(
    client: FlaskClient, session: Session, settings: Settings, events_list: MailingList
) -> None:
    evil = '"><script>alert(1)</script><b>'
    sub = make_subscriber(session, "xss@example.org", [events_list], name=evil)
    html = client.get(preferences_url(settings, sub.id)).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_name_with_a_line_break_is_refused_on_the_preferences_page(
    client: FlaskClient, session: Session, settings: Settings, events_list: MailingList
) -> None:
    sub = make_subscriber(session, "crlf@example.org", [events_list], name="Before")
    url = preferences_url(settings, sub.id)
    resp = client.post(
        url + "?lang=en",
        data={
            "csrf_token": csrf_token(client, url),
            "lists": [str(events_list.id)],
            "name": "Eve\r\nBcc: all@example.com",
            "language": "en",
        },
    )
    assert resp.status_code == 400
    assert "Line breaks are not allowed" in resp.get_data(as_text=True)
    session.expire_all()
    refreshed = session.get(Subscriber, sub.id)
    assert refreshed is not None and refreshed.name == "Before"


def test_unsubscribing_from_everything_on_the_preferences_page_suppresses_the_address(
    client: FlaskClient,
    session: Session,
    settings: Settings,
    quarterly: MailingList,
    events_list: MailingList,
) -> None:
    sub = make_subscriber(session, "leave@example.org", [quarterly, events_list])
    url = preferences_url(settings, sub.id)
    resp = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "lists": [str(quarterly.id)],
            "everything": "1",
        },
    )
    assert resp.status_code == 200
    assert set(_lists_on(session, sub).values()) == {"unsubscribed"}
    assert is_suppressed(session, "leave@example.org")


def test_picking_lists_again_lifts_only_a_suppression_the_reader_made_themselves(
    client: FlaskClient, session: Session, settings: Settings, quarterly: MailingList
) -> None:
    own = make_subscriber(session, "back@example.org", [])
    bounced = make_subscriber(session, "bounced@example.org", [])
    suppress(session, "back@example.org", SuppressionReason.UNSUBSCRIBED, "one-click")
    suppress(session, "bounced@example.org", SuppressionReason.HARD_BOUNCE, "dsn")
    session.commit()
    for sub in (own, bounced):
        url = preferences_url(settings, sub.id)
        client.post(url, data={"csrf_token": csrf_token(client, url), "lists": [str(quarterly.id)]})
    assert _lists_on(session, own) == {quarterly.id: "active"}
    assert not is_suppressed(session, "back@example.org")
    assert _lists_on(session, bounced) == {}
    assert is_suppressed(session, "bounced@example.org")


def test_over_https_the_form_post_works_with_the_referer_a_browser_sends(
    client: FlaskClient,
    session: Session,
    settings: Settings,
    quarterly: MailingList,
    events_list: MailingList,
) -> None:
    # Flask-WTF refuses an HTTPS form post without a same-site Referer. The page's own
    # Referrer-Policy decides whether a browser sends one when the reader presses Save.
    sub = make_subscriber(session, "p@example.org", [events_list], name="Han")
    url = preferences_url(settings, sub.id)
    page = client.get(url, base_url="https://localhost")
    policy = page.headers["Referrer-Policy"]
    assert policy in ("same-origin", "strict-origin", "strict-origin-when-cross-origin")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    assert token
    form = {
        "csrf_token": token.group(1),
        "lists": [str(quarterly.id)],
        "name": "Han",
        "language": "zh-CN",
    }
    saved = client.post(
        url, base_url="https://localhost", data=form, headers={"Referer": f"https://localhost{url}"}
    )
    assert saved.status_code == 200
    assert _lists_on(session, sub)[quarterly.id] == "active"
    refused = client.post(url, base_url="https://localhost", data=form)  # no Referer at all
    assert refused.status_code == 400
