"""Unsubscribe links: the page (GET changes nothing) and the RFC 8058 one-click POST."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.config import Settings
from service.model import Consent, MailingList, Subscriber
from service.subscribers.suppression import is_suppressed
from tests.integration.reader.conftest import (
    make_subscriber,
    preferences_url,
    status_on,
    unsubscribe_url,
)

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _consents(session: Session, **where: str) -> list[Consent]:
    query = select(Consent).filter_by(**where).order_by(Consent.id)
    return list(session.scalars(query))


def test_one_click_post_form_urlencoded_unsubscribes_with_200_and_no_redirect(
    app: Flask, session: Session, settings: Settings, quarterly: MailingList
) -> None:
    sub = make_subscriber(session, "reader@example.org", [quarterly])
    # A mail provider's POST: no cookies, no CSRF token, nothing but the key/value pair.
    bare = app.test_client(use_cookies=False)
    resp = bare.post(
        unsubscribe_url(settings, sub.id, quarterly.id),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        headers={"User-Agent": "GoogleOneClick/1.0"},
    )
    assert resp.status_code == 200
    assert "Location" not in resp.headers
    assert "Set-Cookie" not in resp.headers
    assert len(resp.get_data()) < 100
    assert status_on(session, sub, quarterly) == "unsubscribed"
    (row,) = _consents(session, action="unsubscribe")
    assert (row.source, row.list_id, row.user_agent) == (
        "one-click",
        quarterly.id,
        "GoogleOneClick/1.0",
    )
    assert row.consent_text_version


def test_one_click_post_multipart_works_twice_in_a_row_without_cookies(
    app: Flask,
    session: Session,
    settings: Settings,
    quarterly: MailingList,
    events_list: MailingList,
) -> None:
    sub = make_subscriber(session, "twice@example.org", [quarterly, events_list])
    bare = app.test_client(use_cookies=False)
    url = unsubscribe_url(settings, sub.id, quarterly.id)
    first = bare.post(url, data=ONE_CLICK, content_type="multipart/form-data")
    second = bare.post(url, data=ONE_CLICK, content_type="multipart/form-data")
    for resp in (first, second):
        assert resp.status_code == 200 and "Location" not in resp.headers
    assert status_on(session, sub, quarterly) == "unsubscribed"
    assert status_on(session, sub, events_list) == "active"  # only the list of the link
    rows = _consents(session, source="one-click")
    assert [r.detail["changed"] for r in rows] == [True, False]


def test_get_on_the_unsubscribe_link_shows_a_page_and_changes_nothing(
    client: FlaskClient, session: Session, settings: Settings, quarterly: MailingList
) -> None:
    sub = make_subscriber(session, "prefetch@example.org", [quarterly])
    url = unsubscribe_url(settings, sub.id, quarterly.id)
    for _ in range(3):  # scanners prefetch links in headers, sometimes repeatedly
        resp = client.get(url)
        assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'name="everything"' in html and 'name="confirm" value="1"' in html
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert client.head(url).status_code == 200
    assert status_on(session, sub, quarterly) == "active"
    assert session.scalar(select(func.count(Consent.id))) == 0


def test_the_pages_own_button_shows_a_friendly_page_with_200_and_no_redirect(
    client: FlaskClient, session: Session, settings: Settings, quarterly: MailingList
) -> None:
    sub = make_subscriber(session, "button@example.org", [quarterly])
    resp = client.post(
        unsubscribe_url(settings, sub.id, quarterly.id) + "?lang=en", data={"confirm": "1"}
    )
    assert resp.status_code == 200 and "Location" not in resp.headers
    assert "You are unsubscribed" in resp.get_data(as_text=True)
    assert status_on(session, sub, quarterly) == "unsubscribed"
    assert not is_suppressed(session, "button@example.org")
    (row,) = _consents(session, action="unsubscribe")
    assert row.source == "form"


def test_unsubscribing_from_everything_suppresses_the_address_and_leaves_every_list(
    client: FlaskClient,
    session: Session,
    settings: Settings,
    quarterly: MailingList,
    events_list: MailingList,
) -> None:
    sub = make_subscriber(session, "all@example.org", [quarterly, events_list])
    resp = client.post(
        unsubscribe_url(settings, sub.id, quarterly.id), data={"confirm": "1", "everything": "1"}
    )
    assert resp.status_code == 200
    assert status_on(session, sub, quarterly) == "unsubscribed"
    assert status_on(session, sub, events_list) == "unsubscribed"
    refreshed = session.get(Subscriber, sub.id)
    assert refreshed is not None and refreshed.status == "unsubscribed"
    assert is_suppressed(session, "all@example.org")
    rows = _consents(session, action="unsubscribe_all")  # one per list left, for its chart
    assert sorted(r.list_id for r in rows) == sorted([quarterly.id, events_list.id])
    assert all(sorted(r.detail["lists"]) == sorted(r.list_id for r in rows) for r in rows)
    # The public form no longer puts the address back on a list.
    client.post("/subscribe/events", data={"email": "all@example.org"})
    assert status_on(session, sub, events_list) == "unsubscribed"


def test_forged_or_mangled_tokens_get_the_friendly_404_on_every_token_url(
    client: FlaskClient, session: Session, settings: Settings, quarterly: MailingList
) -> None:
    sub = make_subscriber(session, "victim@example.org", [quarterly])
    good = unsubscribe_url(settings, sub.id, quarterly.id).rsplit("/", 1)[1]
    forged = good[:-1] + ("a" if good[-1] != "a" else "b")
    other_list = good.replace(good.split(".")[1], "zz", 1)
    candidates = [forged, other_list, good[:10], "x" * 40, "1.2.3.4", "%00", "..", "abc"]
    for token in candidates:
        for method, path in (
            ("GET", f"/unsubscribe/{token}"),
            ("POST", f"/unsubscribe/{token}"),
            ("POST", f"/unsubscribe/{token}/undo"),
            ("GET", f"/preferences/{token}"),
            ("POST", f"/preferences/{token}"),
            ("GET", f"/confirm/{token}"),
            ("POST", f"/confirm/{token}"),
            ("POST", f"/confirm/{token}/resend"),
        ):
            resp = client.open(path, method=method, data=ONE_CLICK)
            assert resp.status_code in (404, 400), (method, path, resp.status_code)
            assert "Location" not in resp.headers
    # Forgeries changed nothing.
    assert status_on(session, sub, quarterly) == "active"


def test_a_valid_token_for_a_subscriber_that_no_longer_exists_is_a_404_page_on_get(
    client: FlaskClient, settings: Settings, quarterly: MailingList
) -> None:
    resp = client.get(unsubscribe_url(settings, 999_999, quarterly.id))
    assert resp.status_code == 404
    # A provider's one-click POST for it still gets 200: that address is mailed by nobody.
    post = client.post(unsubscribe_url(settings, 999_999, quarterly.id), data=ONE_CLICK)
    assert post.status_code == 200


def test_links_of_an_erased_person_show_nothing_about_them(
    client: FlaskClient, session: Session, settings: Settings, quarterly: MailingList
) -> None:
    sub = make_subscriber(session, "gone@example.org", [quarterly], name="Gone")
    sub.status = "erased"
    session.commit()
    assert client.get(unsubscribe_url(settings, sub.id, quarterly.id)).status_code == 404
    assert client.get(preferences_url(settings, sub.id)).status_code == 404
    one_click = client.post(unsubscribe_url(settings, sub.id, quarterly.id), data=ONE_CLICK)
    assert one_click.status_code == 200


def _campaign_to(session: Session, settings: Settings, lists: list[MailingList]) -> int:
    from service.campaigns.drafts import create_campaign

    campaign = create_campaign(
        session, settings, lists=[m.slug for m in lists], body_html="<p>本期</p>", subject="会刊"
    )
    session.commit()
    return campaign.id


def _header_token(session: Session, settings: Settings, campaign_id: int, email: str) -> str:
    """The token in the List-Unsubscribe header of the message this reader would get."""
    import email as email_lib
    from email.policy import default

    from service.campaigns.previews import render_message

    raw = render_message(session, settings, campaign_id, email)
    header = str(email_lib.message_from_bytes(raw, policy=default)["List-Unsubscribe"])
    https = header.split(",")[0].strip().strip("<>")
    return https.rsplit("/unsubscribe/", 1)[1]


def test_one_click_from_a_campaign_sent_to_two_lists_leaves_both_and_credits_the_campaign(
    app: Flask,
    session: Session,
    settings: Settings,
    quarterly: MailingList,
    events_list: MailingList,
) -> None:
    # A member on both lists gets one message; one click must stop mail through either
    # list, or the next issue to the other list reaches someone who asked to leave.
    other = MailingList(slug="other", name="Other", description="", double_opt_in=False)
    session.add(other)
    session.commit()
    sub = make_subscriber(session, "both@example.org", [quarterly, events_list, other])
    campaign_id = _campaign_to(session, settings, [quarterly, events_list])
    token = _header_token(session, settings, campaign_id, "both@example.org")

    page = app.test_client().get(f"/unsubscribe/{token}?lang=en")
    assert page.status_code == 200
    assert "会刊季刊, Events" in page.get_data(as_text=True)

    resp = app.test_client(use_cookies=False).post(f"/unsubscribe/{token}", data=ONE_CLICK)
    assert resp.status_code == 200 and "Location" not in resp.headers
    assert status_on(session, sub, quarterly) == "unsubscribed"
    assert status_on(session, sub, events_list) == "unsubscribed"
    assert status_on(session, sub, other) == "active"  # not a list this campaign went to
    rows = _consents(session, action="unsubscribe")
    assert sorted(r.list_id for r in rows) == sorted([quarterly.id, events_list.id])
    assert {r.detail["campaign_id"] for r in rows} == {campaign_id}

    # The repeat is logged, under no list, so the growth chart does not count it twice.
    app.test_client(use_cookies=False).post(f"/unsubscribe/{token}", data=ONE_CLICK)
    repeat = _consents(session, action="unsubscribe")[-1]
    assert repeat.list_id is None and repeat.detail["changed"] is False
