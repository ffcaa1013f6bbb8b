"""Logging in: rate limits that stop a guesser without locking the real user out, audit of
failures, cookie flags."""

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
from service.web.auth import KNOWN_BROWSER_COOKIE, LOGIN_LIMIT_PER_ACCOUNT, SESSION_LIFETIME
from service.web.extensions import limiter
from tests.conftest import _empty_tables, csrf_token

WRONG = "not the password at all"
LIMIT_PER_ACCOUNT = int(LOGIN_LIMIT_PER_ACCOUNT.split("/")[0])


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


def test_a_guesser_at_one_address_is_refused_there_but_the_real_user_logs_in_elsewhere(
    client: FlaskClient, admin: dict[str, str], app: Flask
) -> None:
    attacker = "203.0.113.66"
    codes = [_attempt(client, admin["email"], WRONG, ip=attacker) for _ in range(12)]
    assert codes == [401] * 5 + [429] * 7
    # The guesser's address is refused even with the right password...
    assert _attempt(client, admin["email"], admin["password"], ip=attacker) == 429
    # ...while the real user, at their own address, is not slowed at all.
    assert _attempt(app.test_client(), admin["email"], admin["password"], ip="198.51.100.20") == 302


def test_the_refusals_at_one_address_count_for_that_account_only(
    client: FlaskClient, admin: dict[str, str], session: Session
) -> None:
    from service.accounts.users import create_user

    create_user(session, "bob@example.org", admin["password"], "editor")
    session.commit()
    for _ in range(5):
        _attempt(client, admin["email"], WRONG, ip="203.0.113.67")
    assert _attempt(client, admin["email"], admin["password"], ip="203.0.113.67") == 429
    assert _attempt(client, "bob@example.org", admin["password"], ip="203.0.113.67") == 302


def test_guessing_from_many_addresses_stops_new_browsers_but_never_one_that_logged_in_before(
    app: Flask, admin: dict[str, str]
) -> None:
    own = app.test_client()  # the admin's own browser: logged in before, now logged out
    assert _attempt(own, admin["email"], admin["password"], ip="198.51.100.30") == 302
    own.post("/logout", data={"csrf_token": csrf_token(own, "/")})
    botnet = app.test_client()
    codes = [
        _attempt(botnet, admin["email"], WRONG, ip=f"203.0.113.{100 + i}")
        for i in range(LIMIT_PER_ACCOUNT)
    ]
    assert codes == [401] * LIMIT_PER_ACCOUNT
    # The account has seen too many failures from everywhere: a browser that never logged
    # into it waits, even with the right password...
    assert _attempt(app.test_client(), admin["email"], admin["password"], "192.0.2.1") == 429
    # ...but the admin's own browser, from anywhere, logs in.
    assert _attempt(own, admin["email"], admin["password"], ip="192.0.2.2") == 302


def test_a_forged_or_borrowed_known_browser_cookie_exempts_nobody(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    for i in range(LIMIT_PER_ACCOUNT):
        _attempt(client, admin["email"], WRONG, ip=f"198.51.100.{100 + i}")
    forged = app.test_client()
    forged.set_cookie(KNOWN_BROWSER_COOKIE, "WyJhYmMiXQ.forged.signature")
    assert _attempt(forged, admin["email"], admin["password"], ip="192.0.2.3") == 429
    # A browser known for another account is no help for this one.
    other = app.test_client()
    from service.accounts.users import create_user
    from service.web.app import get_db

    with get_db(app).session() as s:
        create_user(s, "carol@example.org", admin["password"], "viewer")
        s.commit()
    assert _attempt(other, "carol@example.org", admin["password"], ip="192.0.2.4") == 302
    other.post("/logout", data={"csrf_token": csrf_token(other, "/")})
    assert _attempt(other, admin["email"], admin["password"], ip="192.0.2.4") == 429


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
    for _ in range(5):
        _attempt(client, admin["email"], WRONG)
    token = csrf_token(client)
    resp = client.post(
        "/login", data={**admin, "csrf_token": token}, environ_base={"REMOTE_ADDR": "198.51.100.7"}
    )
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
