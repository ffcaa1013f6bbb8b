"""The public subscribe form and its JSON variant, over the real database and Redis."""

from __future__ import annotations

import re

from flask import Flask, render_template_string
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.model import (
    Consent,
    MailingList,
    Membership,
    Subscriber,
    SubscriberToken,
    SuppressionReason,
)
from service.subscribers.public_lists import embed_snippet
from service.subscribers.suppression import suppress


def _subscribers(session: Session) -> list[Subscriber]:
    session.expire_all()
    return list(session.scalars(select(Subscriber)))


def test_the_form_page_of_a_list_shows_its_name_fields_and_a_hidden_honeypot(
    client: FlaskClient, quarterly: MailingList
) -> None:
    for path in ("/subscribe/quarterly", "/subscribe?list=quarterly"):
        html = client.get(path).get_data(as_text=True)
        assert "会刊季刊" in html
        for field in ('name="email"', 'name="name"', 'name="organisation"', 'name="website"'):
            assert field in html
        assert 'aria-hidden="true"' in html


def test_without_a_list_in_the_url_the_form_offers_a_choice_of_the_open_lists(
    client: FlaskClient, quarterly: MailingList, events_list: MailingList
) -> None:
    html = client.get("/subscribe").get_data(as_text=True)
    assert 'type="radio" name="list" value="quarterly"' in html
    assert 'type="radio" name="list" value="events"' in html
    resp = client.post("/subscribe", data={"email": "pick@example.org"})
    assert resp.status_code == 400
    assert "list" in resp.get_data(as_text=True).lower() or "名单" in resp.get_data(as_text=True)


def test_a_double_opt_in_list_makes_an_unconfirmed_membership_with_a_short_token(
    client: FlaskClient, session: Session, quarterly: MailingList
) -> None:
    resp = client.post(
        "/subscribe/quarterly",
        data={"email": " Li.Lei@Example.ORG ", "name": "李雷", "organisation": "协会"},
        headers={"User-Agent": "pytest-browser"},
    )
    assert resp.status_code == 200
    assert "Location" not in resp.headers
    (sub,) = _subscribers(session)
    assert (sub.email, sub.name, sub.organisation) == ("li.lei@example.org", "李雷", "协会")
    membership = session.get(Membership, (sub.id, quarterly.id))
    assert membership is not None and membership.status == "unconfirmed"
    token = session.scalar(select(SubscriberToken).where(SubscriberToken.subscriber_id == sub.id))
    assert token is not None and token.purpose == "confirm" and len(token.token) <= 32
    assert token.expires_at is not None and token.used_at is None
    consent = session.scalar(select(Consent).where(Consent.action == "subscribe"))
    assert consent is not None
    assert (consent.source, consent.ip, consent.user_agent) == (
        "form",
        "127.0.0.1",
        "pytest-browser",
    )
    assert consent.consent_text_version


def test_a_list_without_double_opt_in_subscribes_at_once(
    client: FlaskClient, session: Session, events_list: MailingList
) -> None:
    resp = client.post("/subscribe/events", data={"email": "now@example.org"})
    assert resp.status_code == 200
    (sub,) = _subscribers(session)
    membership = session.get(Membership, (sub.id, events_list.id))
    assert membership is not None and membership.status == "active"
    assert session.scalar(select(SubscriberToken)) is None


def test_a_suppressed_address_gets_the_same_answer_but_nothing_changes_and_the_reason_is_logged(
    client: FlaskClient, session: Session, quarterly: MailingList
) -> None:
    normal = client.post("/subscribe/quarterly", data={"email": "someone@example.org"})
    suppress(session, "blocked@example.org", SuppressionReason.COMPLAINT, "test")
    session.commit()
    refused = client.post("/subscribe/quarterly", data={"email": "Blocked@example.org"})
    assert refused.status_code == normal.status_code == 200
    assert refused.get_data(as_text=True) == normal.get_data(as_text=True)
    assert [s.email for s in _subscribers(session)] == ["someone@example.org"]
    row = session.scalar(select(Consent).where(Consent.action == "subscribe_refused"))
    assert row is not None and row.detail["reason"] == "suppressed"
    assert "blocked@example.org" not in str(row.detail)  # only a hash is kept


def test_a_filled_honeypot_creates_nothing_but_answers_like_a_success(
    client: FlaskClient, session: Session, quarterly: MailingList
) -> None:
    normal = client.post("/subscribe/quarterly", data={"email": "human@example.org"})
    bot = client.post(
        "/subscribe/quarterly", data={"email": "bot@example.org", "website": "http://spam"}
    )
    assert bot.status_code == 200
    assert bot.get_data(as_text=True) == normal.get_data(as_text=True)
    assert [s.email for s in _subscribers(session)] == ["human@example.org"]


def test_an_invalid_address_is_refused_with_a_clear_message_and_the_input_kept(
    client: FlaskClient, session: Session, quarterly: MailingList
) -> None:
    resp = client.post(
        "/subscribe/quarterly?lang=en", data={"email": "not-an-address", "name": "Han Meimei"}
    )
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "not valid" in html and 'value="Han Meimei"' in html
    assert _subscribers(session) == []


def test_a_mistyped_address_is_explained_in_chinese_with_no_english_inside(
    client: FlaskClient, session: Session, quarterly: MailingList
) -> None:
    # Issue 16 item 8: the validator's reason ("The part after the @-sign is not valid.
    # It should have a period.") used to sit inside the Chinese sentence.
    for typed, reason in (
        ("zhang@example", "@ 后面的部分没有“.”"),
        ("zhang san@example.com", "地址中含有空格。"),
        ("zhang＠example.com", "地址中用了全角“＠”"),
    ):
        resp = client.post("/subscribe/quarterly?lang=zh", data={"email": typed})
        assert resp.status_code == 400
        html = resp.get_data(as_text=True)
        assert reason in html, typed
        assert "@-sign" not in html and "period" not in html
    assert _subscribers(session) == []


def test_a_name_with_a_line_break_is_refused_as_header_injection(
    client: FlaskClient, session: Session, quarterly: MailingList
) -> None:
    resp = client.post(
        "/subscribe/quarterly?lang=en",
        data={"email": "x@example.org", "name": "Eve\r\nBcc: victim@example.com"},
    )
    assert resp.status_code == 400
    assert "Line breaks are not allowed" in resp.get_data(as_text=True)
    json_resp = client.post(
        "/subscribe/quarterly",
        json={"email": "x@example.org", "organisation": "ACME\nBcc: v@example.com"},
    )
    assert json_resp.status_code == 400
    assert json_resp.get_json()["code"] == "invalid_organisation"
    assert _subscribers(session) == []


def test_html_in_a_name_is_stored_as_typed_and_escaped_when_shown_again(
    client: FlaskClient, session: Session, quarterly: MailingList
) -> None:
    resp = client.post(
        "/subscribe/quarterly",
        data={"email": "bad", "name": '<script>alert("x")</script>'},
    )
    html = resp.get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html


def test_the_json_variant_answers_with_stable_codes(
    client: FlaskClient, session: Session, quarterly: MailingList, events_list: MailingList
) -> None:
    ok = client.post("/subscribe", json={"email": "fetch@example.org", "list": "quarterly"})
    assert ok.status_code == 200
    assert ok.get_json()["code"] == "confirmation_sent" and ok.get_json()["ok"] is True
    assert ok.headers["Access-Control-Allow-Origin"] == "*"
    direct = client.post(
        "/subscribe/events",
        data={"email": "form@example.org"},
        headers={"Accept": "application/json"},
    )
    assert direct.get_json()["code"] == "subscribed"
    bad = client.post("/subscribe/events", json={"email": "nope"})
    assert (bad.status_code, bad.get_json()["code"]) == (400, "invalid_email")
    no_list = client.post("/subscribe", json={"email": "a@example.org"})
    assert (no_list.status_code, no_list.get_json()["code"]) == (400, "list_required")
    unknown = client.post("/subscribe/nope", json={"email": "a@example.org"})
    assert (unknown.status_code, unknown.get_json()["code"]) == (404, "not_found")
    garbage = client.post(
        "/subscribe/events",
        data="{not json",
        headers={"Content-Type": "application/json"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},  # the first IP has used its 5 a minute
    )
    assert garbage.status_code == 400 and garbage.get_json()["code"] == "invalid_email"
    api_consent = session.scalar(select(Consent).where(Consent.source == "api"))
    assert api_consent is not None and api_consent.action == "subscribe"
    preflight = client.options("/subscribe", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"


def test_an_existing_subscriber_is_not_renamed_by_a_stranger_using_the_form(
    client: FlaskClient, session: Session, quarterly: MailingList, events_list: MailingList
) -> None:
    client.post("/subscribe/events", data={"email": "own@example.org", "name": "Owner"})
    client.post("/subscribe/quarterly", data={"email": "own@example.org", "name": "Stranger"})
    (sub,) = _subscribers(session)
    assert sub.name == "Owner"
    assert session.get(Membership, (sub.id, quarterly.id)) is not None


def test_an_unknown_or_archived_list_gets_the_friendly_404(
    client: FlaskClient, session: Session, quarterly: MailingList
) -> None:
    from service.model import utcnow

    quarterly.archived_at = utcnow()
    session.commit()
    for resp in (
        client.get("/subscribe/quarterly"),
        client.get("/subscribe/nope"),
        client.post("/subscribe/quarterly", data={"email": "a@example.org"}),
        client.post("/subscribe", data={"email": "a@example.org", "list": "a\x00b"}),
        client.get("/subscribe?list=%00"),
    ):
        assert resp.status_code == 404
        assert "<html" in resp.get_data(as_text=True)


def test_the_embed_partial_shows_the_snippet_and_the_snippet_form_subscribes(
    app: Flask, client: FlaskClient, session: Session, quarterly: MailingList
) -> None:
    with app.test_request_context("/"):
        rendered = render_template_string(
            '{% include "reader/embed_snippet.html" %}', list=quarterly
        )
    assert "<textarea" in rendered and "&lt;form" in rendered  # shown as code, not as a form
    snippet = embed_snippet("http://localhost", quarterly)
    action = re.search(r'action="http://localhost(/subscribe/[^"]+)"', snippet)
    assert action is not None
    # A visitor of another site submits the pasted form: no cookie, no CSRF token.
    bare = app.test_client(use_cookies=False)
    resp = bare.post(
        action.group(1),
        data={"email": "embed@example.org", "name": "", "organisation": "", "website": ""},
        headers={"Origin": "https://association.example.cn"},
    )
    assert resp.status_code == 200
    assert [s.email for s in _subscribers(session)] == ["embed@example.org"]


def test_the_demo_list_is_public_and_double_opt_in_so_its_sign_up_page_works(
    client: FlaskClient, session: Session
) -> None:
    from service.cli.demo import DEMO_LIST_SLUG, load_demo

    load_demo(session)
    session.commit()
    assert client.get(f"/subscribe/{DEMO_LIST_SLUG}").status_code == 200
    resp = client.post(f"/subscribe/{DEMO_LIST_SLUG}", json={"email": "newcomer@example.org"})
    assert resp.status_code == 200 and resp.get_json()["code"] == "confirmation_sent"
