"""The users admin, one's own account and API tokens, through the real pages."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.users import authenticate, hash_token, user_by_email
from service.model import ApiToken, AuditEntry, User
from tests.conftest import csrf_token
from tests.integration.security.helpers import PASSWORD

NEW_PASSWORD = "a much longer new secret"


def _login(client: FlaskClient, email: str, password: str = PASSWORD) -> int:
    resp = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)}
    )
    return resp.status_code


def _post(client: FlaskClient, path: str, page: str, **data: str) -> object:
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)})


def _user(session: Session, email: str) -> User:
    session.expire_all()
    user = user_by_email(session, email)
    assert user is not None
    return user


def _actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_an_admin_adds_a_user_who_can_then_log_in(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    resp = _post(
        logged_in, "/users", "/users", email="New@Example.org", password=PASSWORD, role="viewer"
    )
    assert resp.status_code == 302  # type: ignore[attr-defined]
    page = logged_in.get("/users").get_data(as_text=True)
    assert 'data-user="new@example.org"' in page
    assert _user(session, "new@example.org").role == "viewer"
    assert _login(app.test_client(), "new@example.org") == 302
    assert "user.add" in _actions(session)


def test_a_weak_password_or_taken_address_is_refused_with_a_message(
    logged_in: FlaskClient, session: Session
) -> None:
    _post(logged_in, "/users", "/users", email="x@example.org", password="short", role="editor")
    assert user_by_email(session, "x@example.org") is None
    page = logged_in.get("/users").get_data(as_text=True)
    assert "密码至少需要 8 个字符。" in page  # in the staff's language, with the number


def test_the_last_active_admin_can_be_neither_demoted_nor_deactivated(
    logged_in: FlaskClient, session: Session
) -> None:
    me = _user(session, "admin@example.org")
    _post(logged_in, f"/users/{me.id}/role", "/users", role="editor")
    _post(logged_in, f"/users/{me.id}/active", "/users", active="0")
    me = _user(session, "admin@example.org")
    assert (me.role, me.active) == ("admin", True)
    page = logged_in.get("/users").get_data(as_text=True)
    assert "最后一位在用的管理员不能被降级或停用。" in page


def test_with_a_second_admin_one_may_be_demoted_and_a_deactivated_user_is_logged_out(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    _post(logged_in, "/users", "/users", email="two@example.org", password=PASSWORD, role="admin")
    other = app.test_client()
    assert _login(other, "two@example.org") == 302
    assert other.get("/users").status_code == 200
    two = _user(session, "two@example.org")
    _post(logged_in, f"/users/{two.id}/role", "/users", role="editor")
    assert other.get("/users").status_code == 302  # the session ended with the old role
    assert _login(other, "two@example.org") == 302
    assert other.get("/users").status_code == 403  # the new role applies
    _post(logged_in, f"/users/{two.id}/active", "/users", active="0")
    assert other.get("/").status_code == 302  # its session has ended
    assert _login(app.test_client(), "two@example.org") == 401
    _post(logged_in, f"/users/{two.id}/active", "/users", active="1")
    assert _login(app.test_client(), "two@example.org") == 302
    assert {"user.role", "user.deactivate", "user.reactivate"} <= set(_actions(session))


def test_an_admin_resets_a_password_and_the_users_sessions_end(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    _post(logged_in, "/users", "/users", email="ed@example.org", password=PASSWORD, role="editor")
    ed_client = app.test_client()
    assert _login(ed_client, "ed@example.org") == 302
    ed = _user(session, "ed@example.org")
    _post(logged_in, f"/users/{ed.id}/password", "/users", password=NEW_PASSWORD)
    assert ed_client.get("/issues").status_code == 302
    session.expire_all()
    assert authenticate(session, "ed@example.org", NEW_PASSWORD) is not None
    # The password never reaches the audit log.
    details = [str(d) for d in session.scalars(select(AuditEntry.detail))]
    assert not any(NEW_PASSWORD in d for d in details)


def test_log_out_everywhere_for_a_user_ends_only_their_sessions(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    _post(logged_in, "/users", "/users", email="v@example.org", password=PASSWORD, role="viewer")
    phone, laptop = app.test_client(), app.test_client()
    assert _login(phone, "v@example.org") == 302 and _login(laptop, "v@example.org") == 302
    v = _user(session, "v@example.org")
    _post(logged_in, f"/users/{v.id}/logout", "/users")
    assert phone.get("/reports").status_code == 302
    assert laptop.get("/reports").status_code == 302
    assert logged_in.get("/users").status_code == 200


def test_changing_ones_own_password_needs_the_current_one_and_keeps_this_session(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    elsewhere = app.test_client()
    assert _login(elsewhere, "admin@example.org") == 302
    _post(
        logged_in,
        "/account/password",
        "/account",
        current_password="wrong wrong wrong",
        new_password=NEW_PASSWORD,
        confirm_password=NEW_PASSWORD,
    )
    assert authenticate(session, "admin@example.org", PASSWORD) is not None
    _post(
        logged_in,
        "/account/password",
        "/account",
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        confirm_password=NEW_PASSWORD,
    )
    session.expire_all()
    assert authenticate(session, "admin@example.org", NEW_PASSWORD) is not None
    assert logged_in.get("/account").status_code == 200  # this session goes on
    assert elsewhere.get("/account").status_code == 302  # the other one has ended
    assert "user.password_change" in _actions(session)


def test_log_out_everywhere_for_oneself_ends_this_session_too(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    other = app.test_client()
    assert _login(client, admin["email"]) == 302 and _login(other, admin["email"]) == 302
    resp = _post(client, "/account/logout-everywhere", "/account")
    assert resp.headers["Location"].endswith("/login")  # type: ignore[attr-defined]
    assert client.get("/account").status_code == 302
    assert other.get("/account").status_code == 302


def test_an_api_token_is_shown_once_listed_by_prefix_and_revocable(
    logged_in: FlaskClient, session: Session
) -> None:
    resp = _post(
        logged_in, "/account/tokens", "/account/tokens", name="import script", scopes="read write"
    )
    html = resp.get_data(as_text=True)  # type: ignore[attr-defined]
    assert resp.status_code == 201 and resp.headers["Cache-Control"] == "no-store"  # type: ignore[attr-defined]
    secret = re.search(r"<code data-new-token>(tdg_[^<]+)</code>", html)
    assert secret, html
    token = session.scalar(select(ApiToken))
    assert token is not None and token.token_hash == hash_token(secret.group(1))
    listing = logged_in.get("/account/tokens").get_data(as_text=True)
    assert token.prefix in listing and secret.group(1) not in listing
    _post(logged_in, f"/account/tokens/{token.id}/revoke", "/account/tokens")
    session.expire_all()
    assert session.get(ApiToken, token.id).revoked_at is not None  # type: ignore[union-attr]
    assert {"token.create", "token.revoke"} <= set(_actions(session))


def test_a_viewers_token_can_only_read(app: Flask, session: Session) -> None:
    from service.accounts.users import create_user

    create_user(session, "viewer@example.org", PASSWORD, "viewer")
    session.commit()
    client = app.test_client()
    assert _login(client, "viewer@example.org") == 302
    _post(client, "/account/tokens", "/account/tokens", name="r", scopes="read write")
    token = session.scalar(select(ApiToken))
    assert token is not None and token.scopes == "read"


def test_nobody_may_revoke_someone_elses_token(
    logged_in: FlaskClient, app: Flask, session: Session
) -> None:
    from service.accounts.users import create_api_token, create_user

    other = create_user(session, "o@example.org", PASSWORD, "editor")
    token = create_api_token(session, other).token
    session.commit()
    resp = _post(logged_in, f"/account/tokens/{token.id}/revoke", "/account/tokens")
    assert resp.status_code == 404  # type: ignore[attr-defined]
    session.expire_all()
    assert session.get(ApiToken, token.id).revoked_at is None  # type: ignore[union-attr]


def test_an_admin_who_steps_down_lands_on_the_dashboard(
    logged_in: FlaskClient, session: Session
) -> None:
    _post(logged_in, "/users", "/users", email="two@example.org", password=PASSWORD, role="admin")
    me = _user(session, "admin@example.org")
    resp = _post(logged_in, f"/users/{me.id}/role", "/users", role="editor")
    assert resp.headers["Location"] == "/"  # type: ignore[attr-defined]
    assert logged_in.get("/users").status_code == 403
    assert logged_in.get("/issues").status_code == 200
