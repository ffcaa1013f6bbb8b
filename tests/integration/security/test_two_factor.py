"""Two-factor login through the real pages: set up from the account page with a key shown
as text (and a QR code), a code after the password at login, one-time recovery codes, and
the rule that makes every admin use it."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from service.accounts.two_factor import TOTP_INTERVAL, totp_code
from service.accounts.users import create_user, user_by_email
from service.model import AuditEntry, RecoveryCode
from service.web.extensions import limiter
from tests.conftest import csrf_token
from tests.integration.security.helpers import PASSWORD


@pytest.fixture(autouse=True)
def _fresh_limits(app: Flask) -> Iterator[None]:
    limiter._storage_dead = False
    limiter.reset()
    yield
    limiter.reset()


def _post(client: FlaskClient, path: str, page: str, **data: str) -> TestResponse:
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)})


def _password(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    return _post(client, "/login", "/login", email=email, password=password)


def _code(client: FlaskClient, code: str) -> TestResponse:
    return _post(client, "/login/code", "/login/code", code=code)


def _set_up(client: FlaskClient) -> tuple[str, list[str]]:
    """Set up two-factor login on the account page as a person does: the secret key read
    off the page, the app's code typed back. The key and the recovery codes."""
    assert _post(client, "/account/two-factor", "/account/two-factor").status_code == 302
    page = client.get("/account/two-factor").get_data(as_text=True)
    match = re.search(r"<code data-key>([A-Z2-7 ]+)</code>", page)
    assert match, page
    secret = match.group(1).replace(" ", "")
    resp = _post(
        client,
        "/account/two-factor/confirm",
        "/account/two-factor",
        code=totp_code(secret, time.time()),
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    codes = re.findall(r"<li><code>([a-z2-9-]+)</code></li>", resp.get_data(as_text=True))
    return secret, codes


def _next_code(secret: str) -> str:
    """A code the app shows within the accepted window that was not used yet (the one
    of the next step: setting up just used the current one)."""
    return totp_code(secret, time.time() + TOTP_INTERVAL)


def test_the_setup_page_shows_the_key_as_text_an_otpauth_uri_and_a_qr_code(
    logged_in: FlaskClient,
) -> None:
    _post(logged_in, "/account/two-factor", "/account")
    resp = logged_in.get("/account/two-factor")
    page = resp.get_data(as_text=True)
    assert resp.headers["Cache-Control"] == "no-store"
    key = re.search(r"<code data-key>([A-Z2-7 ]+)</code>", page)
    uri = re.search(r"<code data-uri[^>]*>([^<]+)</code>", page)
    assert key and uri
    secret = key.group(1).replace(" ", "")
    assert len(secret) == 32
    assert html.unescape(uri.group(1)).startswith("otpauth://totp/Tidings:admin%40example.org?")
    assert f"secret={secret}" in html.unescape(uri.group(1))
    assert 'src="data:image/svg+xml' in page and "data-qr" in page


def test_setting_up_turns_on_with_the_first_code_and_shows_ten_recovery_codes_once(
    logged_in: FlaskClient, session: Session
) -> None:
    _secret, codes = _set_up(logged_in)
    assert len(codes) == 10 and len(set(codes)) == 10
    user = user_by_email(session, "admin@example.org")
    assert user is not None and user.totp_enabled_at is not None
    stored = list(session.scalars(select(RecoveryCode.code_hash)))
    assert len(stored) == 10 and not set(codes) & set(stored)  # hashes only
    account = logged_in.get("/account").get_data(as_text=True)
    assert 'data-two-factor="on"' in account and codes[0] not in account
    assert "user.two_factor_on" in set(session.scalars(select(AuditEntry.action)))


def test_a_wrong_first_code_leaves_two_factor_off_and_says_so(
    logged_in: FlaskClient, session: Session
) -> None:
    _post(logged_in, "/account/two-factor", "/account")
    resp = _post(logged_in, "/account/two-factor/confirm", "/account/two-factor", code="000000")
    assert resp.status_code == 302
    page = logged_in.get("/account/two-factor").get_data(as_text=True)
    assert "验证码不正确" in page
    user = user_by_email(session, "admin@example.org")
    assert user is not None and user.totp_enabled_at is None


def test_with_two_factor_on_the_password_alone_opens_nothing(
    logged_in: FlaskClient, app: Flask
) -> None:
    _set_up(logged_in)
    other = app.test_client()
    resp = _password(other, "admin@example.org")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login/code"
    assert other.get("/").status_code == 302
    assert other.get("/users").status_code == 302


def test_the_right_code_after_the_password_logs_in(logged_in: FlaskClient, app: Flask) -> None:
    secret, _codes = _set_up(logged_in)
    other = app.test_client()
    _password(other, "admin@example.org")
    resp = _code(other, _next_code(secret))
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert other.get("/").status_code == 200


def test_a_code_is_taken_only_once(logged_in: FlaskClient, app: Flask) -> None:
    secret, _codes = _set_up(logged_in)
    code = _next_code(secret)
    first = app.test_client()
    _password(first, "admin@example.org")
    assert _code(first, code).status_code == 302
    second = app.test_client()
    _password(second, "admin@example.org")
    assert _code(second, code).status_code == 401
    assert second.get("/").status_code == 302


def test_a_recovery_code_logs_in_once(logged_in: FlaskClient, app: Flask) -> None:
    _secret, codes = _set_up(logged_in)
    first = app.test_client()
    _password(first, "admin@example.org")
    assert _code(first, codes[3].upper()).status_code == 302
    assert first.get("/").status_code == 200
    second = app.test_client()
    _password(second, "admin@example.org")
    assert _code(second, codes[3]).status_code == 401
    assert "未使用的恢复码：9 个" in logged_in.get("/account").get_data(as_text=True)


def test_wrong_codes_are_refused_then_slowed_and_audited(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    secret, _codes = _set_up(logged_in)
    other = app.test_client()
    _password(other, "admin@example.org")
    statuses = [_code(other, "123456").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    assert _code(other, _next_code(secret)).status_code == 429
    failures = session.scalars(select(AuditEntry).where(AuditEntry.action == "login.failed")).all()
    assert len(failures) == 5 and all(f.detail["reason"] == "second_factor" for f in failures)


def test_the_code_page_without_a_right_password_first_sends_to_the_login(
    client: FlaskClient,
) -> None:
    resp = client.get("/login/code")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"


def test_turning_it_off_needs_the_password(logged_in: FlaskClient, session: Session) -> None:
    _set_up(logged_in)
    _post(logged_in, "/account/two-factor/off", "/account", current_password="wrong wrong")
    session.expire_all()
    user = user_by_email(session, "admin@example.org")
    assert user is not None and user.totp_enabled_at is not None
    _post(logged_in, "/account/two-factor/off", "/account", current_password=PASSWORD)
    session.expire_all()
    assert user.totp_enabled_at is None and user.totp_secret is None
    assert session.scalars(select(RecoveryCode)).all() == []


def test_new_recovery_codes_replace_the_old_ones(logged_in: FlaskClient, app: Flask) -> None:
    _secret, old = _set_up(logged_in)
    resp = _post(
        logged_in, "/account/two-factor/recovery-codes", "/account", current_password=PASSWORD
    )
    new = re.findall(r"<li><code>([a-z2-9-]+)</code></li>", resp.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    other = app.test_client()
    _password(other, "admin@example.org")
    assert _code(other, old[0]).status_code == 401
    assert _code(other, new[0]).status_code == 302


def _second_admin(session: Session) -> None:
    create_user(session, "two@example.org", PASSWORD, "admin")
    session.commit()


def test_an_admin_cannot_require_it_before_using_it_themselves(
    logged_in: FlaskClient, session: Session
) -> None:
    _post(logged_in, "/users/two-factor", "/users", required="1")
    page = logged_in.get("/users").get_data(as_text=True)
    assert 'data-admin-two-factor="optional"' in page
    assert "请先为您自己的账号设置两步登录" in page


def test_when_required_an_admin_without_it_is_sent_to_set_it_up_first(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    _second_admin(session)
    _set_up(logged_in)
    _post(logged_in, "/users/two-factor", "/users", required="1")
    assert 'data-admin-two-factor="required"' in logged_in.get("/users").get_data(as_text=True)
    two = app.test_client()
    assert _password(two, "two@example.org").status_code == 302
    for path in ("/", "/users", "/issues", "/account"):
        resp = two.get(path)
        assert resp.status_code == 302 and resp.headers["Location"] == "/account/two-factor"
    page = two.get("/account/two-factor").get_data(as_text=True)
    assert "本系统的管理员必须使用两步登录" in page
    _set_up(two)
    assert two.get("/users").status_code == 200


def test_when_required_editors_and_viewers_may_still_log_in_without_it(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    create_user(session, "ed@example.org", PASSWORD, "editor")
    session.commit()
    _set_up(logged_in)
    _post(logged_in, "/users/two-factor", "/users", required="1")
    ed = app.test_client()
    _password(ed, "ed@example.org")
    assert ed.get("/issues").status_code == 200


def test_when_required_an_admin_may_not_turn_their_own_off(
    logged_in: FlaskClient, session: Session
) -> None:
    _set_up(logged_in)
    _post(logged_in, "/users/two-factor", "/users", required="1")
    _post(logged_in, "/account/two-factor/off", "/account", current_password=PASSWORD)
    user = user_by_email(session, "admin@example.org")
    assert user is not None and user.totp_enabled_at is not None
    assert "管理员必须使用两步登录" in logged_in.get("/account").get_data(as_text=True)


def test_an_admin_turns_off_the_two_factor_login_of_someone_who_lost_their_phone(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    _second_admin(session)
    two = app.test_client()
    _password(two, "two@example.org")
    _set_up(two)
    user = user_by_email(session, "two@example.org")
    assert user is not None
    _post(logged_in, f"/users/{user.id}/two-factor/off", "/users")
    fresh = app.test_client()
    assert _password(fresh, "two@example.org").headers["Location"] == "/"
    assert "user.two_factor_reset" in set(session.scalars(select(AuditEntry.action)))
