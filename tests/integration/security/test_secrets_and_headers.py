"""Secrets never come back in a page, and every page carries the security headers."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from service.accounts.settings_store import get_setting, set_setting
from service.config import Settings, parse_smtp_url
from service.events import mailbox, webhooks
from service.mail.sending_config import get_sending_config, save_sending_config
from service.web.app import create_app, get_db
from tests.conftest import _empty_tables, csrf_token
from tests.integration.security.helpers import PASSWORD, admin_get_urls, demo_ids, make_staff

SMTP_PASSWORD = "smtp-Pa55-4f7a9c1e"
RELAY_PASSWORD = "relay-Pa55-b3d8e210"
WEBHOOK_KEYS = {
    "mailgun": {"signing_key": "key-mailgun-0d9c8b7a6f5e4d3c"},
    "postmark": {"username": "pm", "password": "postmark-Pa55-77aa11"},
    "sendgrid": {"public_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE-sendgrid-key"},
}
MAILBOX_PASSWORD = "imap-Pa55-c0ffee42"
SECRETS = (
    SMTP_PASSWORD,
    RELAY_PASSWORD,
    MAILBOX_PASSWORD,
    "key-mailgun-0d9c8b7a6f5e4d3c",
    "postmark-Pa55-77aa11",
    "-sendgrid-key",
)
HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


@pytest.fixture
def secret_app(settings: Settings, capture: object) -> Iterator[Flask]:
    """The app with a relay password in TIDINGS_SMTP_URL (the capture server answers)."""
    smtp = parse_smtp_url(f"smtp://news:{SMTP_PASSWORD}@127.0.0.1:{capture.port}")  # type: ignore[attr-defined]
    application = create_app(
        test_config={"TESTING": True}, settings=settings.with_overrides(smtp=smtp)
    )
    yield application
    _empty_tables(get_db(application))
    get_db(application).dispose()


def _store_secrets(session: Session) -> None:
    save_sending_config(
        session,
        {"relays": [{"url": f"smtp://u:{RELAY_PASSWORD}@relay.example.org:587", "weight": "1"}]},
    )
    set_setting(session, webhooks.SETTINGS_KEY, WEBHOOK_KEYS)
    set_setting(
        session,
        mailbox.SETTINGS_KEY,
        {"host": "imap.example.org", "user": "bounces", "password": MAILBOX_PASSWORD},
    )
    session.commit()


def _log_in(client: FlaskClient) -> None:
    resp = client.post(
        "/login",
        data={"email": "admin@example.org", "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert resp.status_code == 302


def test_no_admin_page_shows_a_secret_back(secret_app: Flask, settings: Settings) -> None:
    client = secret_app.test_client()
    with get_db(secret_app).session() as session:
        make_staff(session)
        _store_secrets(session)
        ids = demo_ids(session, settings)
    _log_in(client)
    leaks = []
    for url in admin_get_urls(secret_app, ids):
        body = client.get(url).get_data().decode("utf-8", "replace")
        leaks += [f"{url}: {s}" for s in SECRETS if s in body]
    assert leaks == []
    settings_page = client.get("/settings").get_data(as_text=True)
    assert "smtp://news:***@127.0.0.1" in settings_page
    sending = client.get("/campaigns/settings").get_data(as_text=True)
    assert "smtp://u:***@relay.example.org:587" in sending


def test_saving_the_sending_settings_unchanged_keeps_the_relay_password(
    secret_app: Flask,
) -> None:
    client = secret_app.test_client()
    with get_db(secret_app).session() as session:
        make_staff(session)
        _store_secrets(session)
    _log_in(client)
    page = client.get("/campaigns/settings").get_data(as_text=True)
    relays = re.search(r'<textarea name="relays"[^>]*>([^<]*)</textarea>', page)
    assert relays and ":***@" in relays.group(1)
    resp = client.post(
        "/campaigns/settings",
        data={"relays": relays.group(1), "csrf_token": csrf_token(client, "/campaigns/settings")},
    )
    assert resp.status_code == 302
    with get_db(secret_app).session() as session:
        urls = [r.url for r in get_sending_config(session).relays]
        assert urls == [f"smtp://u:{RELAY_PASSWORD}@relay.example.org:587"]
        assert get_setting(session, mailbox.SETTINGS_KEY)["password"] == MAILBOX_PASSWORD


def _csp(resp: object) -> str:
    return resp.headers.get("Content-Security-Policy", "")  # type: ignore[attr-defined]


def test_every_admin_page_carries_the_security_headers(
    logged_in: FlaskClient, app: Flask, session: Session, settings: Settings
) -> None:
    ids = demo_ids(session, settings)
    missing = []
    for url in admin_get_urls(app, ids):
        resp = logged_in.get(url)
        assert resp.status_code != 500, url
        missing += [f"{url}: {h}" for h in HEADERS if h not in resp.headers]
        csp = _csp(resp)
        if "frame-ancestors 'self'" not in csp:
            missing.append(f"{url}: frame-ancestors")
        assert resp.headers.get("X-Content-Type-Options") == "nosniff"
    assert missing == []


def test_the_default_policy_allows_scripts_only_from_us_and_nonced_blocks(
    logged_in: FlaskClient, app: Flask, session: Session, settings: Settings
) -> None:
    ids = demo_ids(session, settings)
    problems = []
    for url in admin_get_urls(app, ids):
        resp = logged_in.get(url)
        csp = _csp(resp)
        if "script-src 'none'" in csp:
            continue  # a route with its own stricter policy
        assert "default-src 'self'" in csp and "frame-src 'self'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        html = resp.get_data(as_text=True) if resp.mimetype == "text/html" else ""
        nonce = re.search(r"'nonce-([^']+)'", csp)
        for tag in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html):
            if not nonce or f'nonce="{nonce.group(1)}"' not in tag:
                problems.append(f"{url}: inline script without this response's nonce")
        if re.search(r"\son[a-z]+=\"", html):
            problems.append(f"{url}: inline event handler (blocked by the policy)")
    assert problems == []


def test_routes_with_their_own_stricter_policy_keep_it(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    ids = demo_ids(session, settings)
    preview = logged_in.get(f"/issues/{ids['issue_id']}/preview.html")
    assert preview.status_code == 200
    assert "script-src 'none'" in _csp(preview) and "default-src 'none'" in _csp(preview)


def test_a_fresh_nonce_is_made_for_every_response(logged_in: FlaskClient) -> None:
    first = re.search(r"'nonce-([^']+)'", _csp(logged_in.get("/")))
    second = re.search(r"'nonce-([^']+)'", _csp(logged_in.get("/")))
    assert first and second and first.group(1) != second.group(1)


def test_public_pages_carry_the_headers_too(client: FlaskClient) -> None:
    for url in ("/login", "/archive/", "/subscribe", "/healthz"):
        resp = client.get(url)
        assert all(h in resp.headers for h in HEADERS), url
