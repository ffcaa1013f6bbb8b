"""A session ends for good: on logout, a password change, a role change and the account's
removal, the session cookie captured before no longer opens the admin when replayed."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete
from sqlalchemy.orm import Session

from service.accounts.users import user_by_email
from service.model import User
from tests.conftest import csrf_token
from tests.integration.security.helpers import PASSWORD

NEW_PASSWORD = "another long secret"


def _login(client: FlaskClient, email: str, password: str = PASSWORD) -> None:
    resp = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)}
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)


def _cookie_header(client: FlaskClient) -> str:
    """The Cookie header this browser sends now (what a thief would copy)."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    return f"session={cookie.value}"


def _replay(app: Flask, header: str, path: str = "/") -> int:
    """Send a captured Cookie header from another client; the status of ``path``."""
    return _thief(app).get(path, headers={"Cookie": header}).status_code


def _thief(app: Flask) -> FlaskClient:
    # Without a cookie jar of its own: the test client would replace the header with it.
    return app.test_client(use_cookies=False)


def _post(client: FlaskClient, path: str, page: str, **data: str) -> None:
    client.post(path, data={**data, "csrf_token": csrf_token(client, page)})


def _second_user(logged_in: FlaskClient, app: Flask, role: str = "editor") -> FlaskClient:
    _post(logged_in, "/users", "/users", email="two@example.org", password=PASSWORD, role=role)
    other = app.test_client()
    _login(other, "two@example.org")
    return other


def _id(session: Session, email: str) -> int:
    session.expire_all()
    user = user_by_email(session, email)
    assert user is not None
    return user.id


def test_a_replayed_cookie_opens_the_dashboard_while_the_session_lasts(
    logged_in: FlaskClient, app: Flask
) -> None:
    assert _replay(app, _cookie_header(logged_in)) == 200


def test_after_logout_the_old_session_cookie_no_longer_opens_the_dashboard(
    logged_in: FlaskClient, app: Flask
) -> None:
    captured = _cookie_header(logged_in)
    resp = logged_in.post("/logout", data={"csrf_token": csrf_token(logged_in, "/")})
    assert resp.status_code == 302
    assert _replay(app, captured) == 302
    assert "/login" in _thief(app).get("/", headers={"Cookie": captured}).location


def test_logging_out_on_one_computer_keeps_the_other_logged_in(
    logged_in: FlaskClient, app: Flask, admin: dict[str, str]
) -> None:
    laptop = app.test_client()
    _login(laptop, admin["email"], admin["password"])
    logged_in.post("/logout", data={"csrf_token": csrf_token(logged_in, "/")})
    assert laptop.get("/").status_code == 200


def test_after_a_password_change_the_old_session_cookie_no_longer_opens_the_dashboard(
    logged_in: FlaskClient, app: Flask
) -> None:
    captured = _cookie_header(logged_in)
    _post(
        logged_in,
        "/account/password",
        "/account",
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        confirm_password=NEW_PASSWORD,
    )
    assert logged_in.get("/").status_code == 200  # the session in use goes on, re-issued
    assert _cookie_header(logged_in) != captured
    assert _replay(app, captured) == 302


def test_after_an_admin_resets_a_password_the_users_old_cookie_is_dead(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    captured = _cookie_header(_second_user(logged_in, app))
    _post(
        logged_in,
        f"/users/{_id(session, 'two@example.org')}/password",
        "/users",
        password=NEW_PASSWORD,
    )
    assert _replay(app, captured) == 302


def test_after_a_role_change_the_users_old_session_cookie_no_longer_opens_the_admin(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    captured = _cookie_header(_second_user(logged_in, app, role="admin"))
    assert _replay(app, captured, "/users") == 200
    _post(logged_in, f"/users/{_id(session, 'two@example.org')}/role", "/users", role="viewer")
    assert _replay(app, captured) == 302
    assert _replay(app, captured, "/users") == 302  # to the login page, not even a 403


def test_an_admin_who_steps_down_goes_on_in_a_new_session_and_the_old_cookie_is_dead(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    _second_user(logged_in, app, role="admin")
    captured = _cookie_header(logged_in)
    _post(logged_in, f"/users/{_id(session, 'admin@example.org')}/role", "/users", role="editor")
    assert logged_in.get("/issues").status_code == 200
    assert _replay(app, captured) == 302


def test_a_user_who_loses_the_admin_role_logs_in_again_with_the_new_one(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    other = _second_user(logged_in, app, role="admin")
    _post(logged_in, f"/users/{_id(session, 'two@example.org')}/role", "/users", role="viewer")
    _login(other, "two@example.org")
    assert other.get("/users").status_code == 403
    assert other.get("/reports").status_code == 200


def test_after_an_account_is_deactivated_its_old_session_cookie_is_dead_for_good(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    captured = _cookie_header(_second_user(logged_in, app))
    user_id = _id(session, "two@example.org")
    _post(logged_in, f"/users/{user_id}/active", "/users", active="0")
    assert _replay(app, captured) == 302
    # Reactivating the account does not bring the old session back.
    _post(logged_in, f"/users/{user_id}/active", "/users", active="1")
    assert _replay(app, captured) == 302


def test_after_an_account_is_deleted_its_old_session_cookie_is_dead(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    captured = _cookie_header(_second_user(logged_in, app))
    session.execute(delete(User).where(User.id == _id(session, "two@example.org")))
    session.commit()
    assert _replay(app, captured) == 302


def test_a_background_htmx_request_does_not_rewrite_the_session_cookie(
    logged_in: FlaskClient,
) -> None:
    # The dashboard polls /reports/alerts with htmx. Its answer, started before a click on
    # "English" and finished after it, used to set the session cookie it had read — and
    # the language just chosen was lost (seen in the Chromium walk on a loaded machine).
    polled = logged_in.get("/reports/alerts", headers={"HX-Request": "true"})
    assert polled.status_code == 200
    assert "session=" not in polled.headers.get("Set-Cookie", "")
    page = logged_in.get("/")
    assert "session=" in page.headers.get("Set-Cookie", "")  # a page keeps it fresh
    switched = logged_in.get("/lang/en", headers={"HX-Request": "true"})
    assert "session=" in switched.headers.get("Set-Cookie", "")  # a change is written
