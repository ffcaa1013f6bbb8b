"""Logging in: rate limits per address and per account, audit of failures, cookie flags."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.config import Settings
from service.model import AuditEntry
from service.web.app import create_app, get_db
from service.web.auth import SESSION_LIFETIME
from service.web.extensions import limiter
from tests.conftest import _empty_tables, csrf_token

WRONG = "not the password at all"


@pytest.fixture(autouse=True)
def _fresh_limits(app: Flask) -> Iterator[None]:
    """Counters live in the shared Redis: start and leave every test with none."""
    limiter._storage_dead = False  # an earlier test that stopped Redis must not leak
    limiter.reset()
    yield
    limiter.reset()


def _attempt(client: FlaskClient, email: str, password: str, ip: str = "198.51.100.7") -> int:
    token = csrf_token(client)
    resp = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": ip},
    )
    return resp.status_code


def test_an_account_is_locked_for_a_minute_after_five_failures_from_any_addresses(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    codes = [_attempt(client, admin["email"], WRONG, ip=f"203.0.113.{i}") for i in range(5)]
    assert codes == [401] * 5
    # Even the right password waits now, from yet another address.
    assert _attempt(client, admin["email"], admin["password"], ip="203.0.113.99") == 429


def test_an_address_is_slowed_after_ten_failures_across_accounts(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    codes = [_attempt(client, f"guess{i}@example.org", WRONG) for i in range(10)]
    assert codes == [401] * 10
    assert _attempt(client, admin["email"], admin["password"]) == 429
    assert _attempt(client, admin["email"], admin["password"], ip="198.51.100.8") == 302


def test_successful_logins_are_never_counted(client: FlaskClient, admin: dict[str, str]) -> None:
    codes = []
    for _ in range(12):
        codes.append(_attempt(client, admin["email"], admin["password"]))
        client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert codes == [302] * 12


def test_the_rate_limit_page_is_the_login_form_with_a_friendly_message(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    client.get("/lang/en")
    for i in range(5):
        _attempt(client, admin["email"], WRONG, ip=f"203.0.113.{i}")
    token = csrf_token(client)
    resp = client.post("/login", data={**admin, "csrf_token": token})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 429
    assert "Too many failed attempts" in html and 'name="password"' in html


def test_failed_logins_are_audited_with_the_address_but_never_the_password(
    client: FlaskClient, admin: dict[str, str], session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _attempt(client, admin["email"], WRONG)
    _attempt(client, "nobody@example.org", WRONG)
    _attempt(client, admin["email"], admin["password"])
    rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [r.action for r in rows] == ["login.failed", "login.failed", "login"]
    assert rows[0].detail["email"] == admin["email"] and rows[0].target_id is not None
    assert rows[1].detail["email"] == "nobody@example.org" and rows[1].target_id is None
    assert rows[0].ip == "198.51.100.7"
    assert all(WRONG not in str(r.detail) and admin["password"] not in str(r.detail) for r in rows)
    assert WRONG not in caplog.text and admin["password"] not in caplog.text


def _session_cookie(client: FlaskClient, admin: dict[str, str]) -> str:
    token = csrf_token(client)
    resp = client.post("/login", data={**admin, "csrf_token": token})
    assert resp.status_code == 302
    cookies = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies
    return cookies[-1]


def test_the_session_cookie_is_httponly_samesite_and_lasts_the_session_lifetime(
    client: FlaskClient, admin: dict[str, str], app: Flask
) -> None:
    cookie = _session_cookie(client, admin)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    assert "Secure" not in cookie  # plain-http base URL (development)
    assert app.permanent_session_lifetime == SESSION_LIFETIME


def test_the_session_cookie_is_secure_when_the_base_url_is_https(
    settings: Settings, admin: dict[str, str]
) -> None:
    app = create_app(
        test_config={"TESTING": True},
        settings=settings.with_overrides(base_url="https://news.example.org"),
    )
    try:
        cookie = _session_cookie(app.test_client(), admin)
        assert "Secure" in cookie and "HttpOnly" in cookie
    finally:
        _empty_tables(get_db(app))
        get_db(app).dispose()
