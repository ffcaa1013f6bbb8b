"""Rate limits on the real Redis: per IP and per address; never on one-click."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.config import Settings
from service.model import MailingList, Subscriber
from service.web.app import create_app, get_db
from service.web.extensions import limiter
from tests.conftest import csrf_token
from tests.integration.reader.conftest import make_subscriber, unsubscribe_url


def test_repeated_subscribes_from_one_ip_get_a_friendly_429_page(
    client: FlaskClient, events_list: MailingList
) -> None:
    codes = [
        client.post("/subscribe/events", data={"email": f"bomb{i}@example.org"}).status_code
        for i in range(5)
    ]
    assert codes == [200] * 5
    blocked = client.post("/subscribe/events?lang=en", data={"email": "bomb9@example.org"})
    assert blocked.status_code == 429
    assert "Too many requests" in blocked.get_data(as_text=True)
    other_ip = client.post(
        "/subscribe/events",
        data={"email": "fine@example.org"},
        environ_base={"REMOTE_ADDR": "198.51.100.4"},
    )
    assert other_ip.status_code == 200
    json_blocked = client.post("/subscribe/events", json={"email": "bomb10@example.org"})
    assert (json_blocked.status_code, json_blocked.get_json()["code"]) == (429, "rate_limited")


def test_one_address_is_limited_even_when_the_requests_come_from_many_ips(
    client: FlaskClient, session: Session, quarterly: MailingList
) -> None:
    codes = [
        client.post(
            "/subscribe/quarterly",
            data={"email": "Victim@Example.org" if i % 2 else "victim@example.org"},
            environ_base={"REMOTE_ADDR": f"203.0.113.{i + 1}"},
        ).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    assert session.scalar(select(func.count(Subscriber.id))) == 1


def test_the_get_form_page_and_one_click_posts_are_never_rate_limited(
    app: Flask, client: FlaskClient, session: Session, settings: Settings, events_list: MailingList
) -> None:
    sub = make_subscriber(session, "many@example.org", [events_list])
    bare = app.test_client(use_cookies=False)
    url = unsubscribe_url(settings, sub.id, events_list.id)
    codes = {bare.post(url, data={"List-Unsubscribe": "One-Click"}).status_code for _ in range(25)}
    assert codes == {200}
    assert {client.get("/subscribe/events").status_code for _ in range(25)} == {200}


def test_subscribing_still_works_when_the_rate_limit_redis_is_down(
    settings: Settings, events_list: MailingList
) -> None:
    dead = create_app(
        test_config={"TESTING": True, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:9/0"},
        settings=settings,
    )
    try:
        client = dead.test_client()
        codes = [
            client.post("/subscribe/events", data={"email": f"r{i}@example.org"}).status_code
            for i in range(6)
        ]
        # In-memory fallback: the page answers, and the per-IP limit still holds.
        assert codes == [200] * 5 + [429]
        with get_db(dead).session() as s:
            assert s.scalar(select(func.count(Subscriber.id))) == 5
    finally:
        limiter._storage_dead = False
        get_db(dead).dispose()


def test_the_send_me_a_new_link_button_is_rate_limited_per_ip(
    client: FlaskClient, quarterly: MailingList
) -> None:
    token = csrf_token(client)  # any page of the session gives a valid one
    codes = [
        client.post("/confirm/unknown-token/resend", data={"csrf_token": token}).status_code
        for _ in range(6)
    ]
    assert codes == [404] * 5 + [429]


def test_the_language_switch_keeps_the_list_of_the_form(
    client: FlaskClient, quarterly: MailingList, events_list: MailingList
) -> None:
    html = client.get("/subscribe?list=quarterly").get_data(as_text=True)
    assert 'href="/subscribe?list=quarterly&amp;lang=en"' in html
    english = client.get("/subscribe?list=quarterly&lang=en").get_data(as_text=True)
    assert "Subscribe to 会刊季刊" in english and 'lang="en"' in english
