"""The admin shell over a real database and Redis: login, CSRF, dashboard, health."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from service.config import Settings
from tests.conftest import csrf_token


def test_the_app_factory_builds_an_app_with_the_given_settings(
    app: Flask, settings: Settings
) -> None:
    assert app.config["TIDINGS"] is settings
    assert {"auth", "admin", "public"} <= set(app.blueprints)


def test_admin_pages_send_anonymous_visitors_to_the_login_page(client: FlaskClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login")


def test_login_with_the_right_password_opens_the_dashboard(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    resp = client.post("/login", data={**admin, "csrf_token": csrf_token(client)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "概览" in page  # zh-CN is the default language
    assert admin["email"] in page


def test_login_with_a_wrong_password_is_refused(client: FlaskClient, admin: dict[str, str]) -> None:
    resp = client.post(
        "/login",
        data={
            "email": admin["email"],
            "password": "wrong password",
            "csrf_token": csrf_token(client),
        },
    )
    assert resp.status_code == 401
    assert "邮箱或密码错误" in resp.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_without_a_csrf_token_is_rejected(client: FlaskClient, admin: dict[str, str]) -> None:
    resp = client.post("/login", data=admin)
    assert resp.status_code == 400
    assert client.get("/").status_code == 302


def test_logout_needs_a_post_with_csrf_and_ends_the_session(logged_in: FlaskClient) -> None:
    assert logged_in.post("/logout").status_code == 400  # no token: refused
    assert logged_in.get("/").status_code == 200
    resp = logged_in.post("/logout", data={"csrf_token": csrf_token(logged_in, "/")})
    assert resp.status_code == 302
    assert logged_in.get("/").status_code == 302


def test_the_dashboard_shows_each_part_of_the_system(logged_in: FlaskClient) -> None:
    page = logged_in.get("/").get_data(as_text=True)
    for check in ("database", "redis", "worker", "beat", "smtp"):
        assert f'data-check="{check}"' in page
    # The database and Redis are real and up in the test session.
    assert 'class="card check ok" data-check="database"' in page
    assert 'class="card check ok" data-check="redis"' in page


def test_the_dashboard_says_what_each_check_found_in_the_interface_language(
    logged_in: FlaskClient,
) -> None:
    page = logged_in.get("/").get_data(as_text=True)
    assert "可连接" in page and "reachable" not in page
    logged_in.get("/lang/en")
    assert "reachable" in logged_in.get("/").get_data(as_text=True)
    # /healthz, read by scripts, keeps the English line with its values filled in.
    detail = logged_in.get("/healthz").get_json()["checks"]["database"]["detail"]
    assert detail.endswith(" reachable") and "%(" not in detail


def test_the_interface_switches_to_english_and_back(logged_in: FlaskClient) -> None:
    logged_in.get("/lang/en")
    page = logged_in.get("/").get_data(as_text=True)
    assert "Dashboard" in page and "概览" not in page
    logged_in.get("/lang/zh")
    assert "概览" in logged_in.get("/").get_data(as_text=True)


def test_every_navigation_area_answers(logged_in: FlaskClient) -> None:
    for path in (
        "/issues",
        "/campaigns",
        "/subscribers",
        "/lists",
        "/reports",
        "/outbox",
        "/settings",
    ):
        assert logged_in.get(path).status_code == 200, path


def test_an_unknown_page_gets_a_friendly_404(logged_in: FlaskClient) -> None:
    resp = logged_in.get("/no/such/page")
    assert resp.status_code == 404
    assert "未找到" in resp.get_data(as_text=True)


def test_healthz_reports_each_check_as_json(client: FlaskClient) -> None:
    resp = client.get("/healthz")
    body = resp.get_json()
    assert set(body["checks"]) == {"database", "redis", "worker", "beat", "smtp"}
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["smtp"]["ok"] is True  # the capture server runs in the session
    # No worker or beat runs for this test alone, so the service is degraded: 503.
    expected = 200 if all(c["ok"] for c in body["checks"].values()) else 503
    assert resp.status_code == expected
    assert body["status"] == ("ok" if expected == 200 else "degraded")


def test_the_settings_page_never_shows_the_secret_key(
    logged_in: FlaskClient, settings: Settings
) -> None:
    page = logged_in.get("/settings").get_data(as_text=True)
    assert settings.secret_key not in page
    assert "TIDINGS_SECRET_KEY" in page


def test_behind_a_trusted_proxy_the_visitor_address_comes_from_its_header(
    settings: Settings,
) -> None:
    from flask import request

    from service.web.app import create_app

    seen: list[str | None] = []
    proxied = create_app(
        test_config={"TESTING": True}, settings=settings.with_overrides(trusted_proxies=1)
    )
    proxied.before_request(lambda: seen.append(request.remote_addr))
    proxied.test_client().get(
        "/healthz",
        headers={"X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    direct = create_app(test_config={"TESTING": True}, settings=settings)
    direct.before_request(lambda: seen.append(request.remote_addr))
    direct.test_client().get(
        "/healthz",
        headers={"X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert seen == ["203.0.113.7", "10.0.0.2"]


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example",
        "/\\/evil.example",
        "https://evil.example",
        "/%09/evil.example".replace("%09", "\t"),
        "/\n/evil.example",
    ],
)
def test_login_never_redirects_to_another_site(
    client: FlaskClient, admin: dict[str, str], target: str
) -> None:
    from urllib.parse import quote

    token = csrf_token(client)
    resp = client.post(f"/login?next={quote(target)}", data={**admin, "csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_login_returns_to_a_page_of_this_site(client: FlaskClient, admin: dict[str, str]) -> None:
    resp = client.post("/login?next=/reports", data={**admin, "csrf_token": csrf_token(client)})
    assert resp.headers["Location"] == "/reports"


def test_states_read_as_words_in_the_interface_language(
    logged_in: FlaskClient, session: Session
) -> None:
    from service.model import Campaign

    session.add(Campaign(subject="第一期", from_addr="news@example.org", status="running"))
    session.commit()
    page = logged_in.get("/campaigns").get_data(as_text=True)
    assert "发送中" in page and ">running<" not in page
    logged_in.get("/lang/en")
    assert "sending" in logged_in.get("/campaigns").get_data(as_text=True)


def test_a_new_campaign_starts_from_the_newest_issue_and_the_only_list(
    logged_in: FlaskClient, session: Session
) -> None:
    import re

    from service.cli.demo import load_demo

    demo = load_demo(session)
    session.commit()
    page = logged_in.get("/campaigns/new").get_data(as_text=True)
    assert re.search(rf'<option value="{demo.issue_id}" selected>', page)
    assert re.search(r'name="lists" value="members" checked', page)
