"""Every admin route has a role rule, and each role gets exactly what its rule says.

The table below is the single statement of who may do what. A new admin route that is
not in it fails ``test_every_admin_route_is_classified``: whoever adds a page decides
its role here, in the same change.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from service.config import Settings
from service.model import User
from service.web.app import create_app, get_db
from tests.conftest import _empty_tables
from tests.integration.security.helpers import (
    MISSING_ID,
    PLACEHOLDERS,
    act_as,
    is_staff_endpoint,
    make_staff,
)

RANK = {"anonymous": 0, "viewer": 1, "editor": 2, "admin": 3}

# endpoint -> the least role that may use it (GET and POST alike).
ROUTE_ROLES = {
    "admin.dashboard": "viewer",
    "admin.outbox": "editor",
    "admin.outbox_html": "editor",
    "admin.outbox_message": "editor",
    "admin.outbox_raw": "editor",
    "admin.settings_page": "admin",
    "sender.site": "admin",
    "sender.dkim": "admin",
    "sender.dkim_generate": "admin",
    "sender.dkim_check": "admin",
    "sender.relay_test": "admin",
    "sender.logo_upload": "admin",
    "sender.logo_remove": "admin",
    "audience.import_errors": "editor",
    "audience.import_job": "editor",
    "audience.import_mapping": "editor",
    "audience.import_progress": "editor",
    "audience.import_upload": "editor",
    "audience.list_create": "editor",
    "audience.list_edit": "editor",
    "audience.lists": "editor",
    "audience.subscriber": "editor",
    "audience.subscriber_data": "editor",
    "audience.subscriber_erase": "admin",
    "audience.subscribers": "editor",
    "audience.subscribers_bulk": "editor",
    "audience.subscribers_export": "editor",
    "audience.suppression_remove": "admin",
    "audience.suppressions": "editor",
    "audit.index": "admin",
    "campaigns.cancel_view": "editor",
    "campaigns.confirm": "editor",
    "campaigns.edit": "editor",
    "campaigns.index": "editor",
    "campaigns.new": "editor",
    "campaigns.pause_view": "editor",
    "campaigns.progress": "editor",
    "campaigns.resend_unknown_view": "editor",
    "campaigns.resume_view": "editor",
    "campaigns.schedule_view": "editor",
    "campaigns.scheduled": "editor",
    "campaigns.sending_settings": "admin",
    "campaigns.show": "editor",
    "campaigns.start": "editor",
    "campaigns.test_send": "editor",
    "issues.article_add": "editor",
    "issues.article_delete": "editor",
    "issues.article_move": "editor",
    "issues.article_to_section": "editor",
    "issues.article_undo": "editor",
    "issues.article_update": "editor",
    "issues.cover_update": "editor",
    "issues.delete": "editor",
    "issues.details_update": "editor",
    "issues.index": "editor",
    "issues.import_again": "editor",
    "issues.import_status": "editor",
    "issues.issue": "editor",
    "issues.layout": "editor",
    "issues.preview": "editor",
    "issues.preview_html": "editor",
    "issues.publish_switch": "editor",
    "issues.section_move": "editor",
    "issues.section_rename": "editor",
    "issues.source": "editor",
    "issues.upload": "editor",
    "organisations.index": "editor",
    "organisations.show": "editor",
    "segments.index": "editor",
    "segments.new": "editor",
    "segments.edit": "editor",
    "segments.delete": "editor",
    "reports.alerts": "viewer",
    "reports.campaign": "viewer",
    "reports.export_csv": "viewer",
    "reports.export_xlsx": "viewer",
    "reports.index": "viewer",
    "users.account": "viewer",
    "users.add": "admin",
    "users.change_password": "viewer",
    "users.change_role": "admin",
    "users.index": "admin",
    "users.logout_everywhere": "viewer",
    "users.logout_user_everywhere": "admin",
    "users.recovery_codes": "viewer",
    "users.reset_password": "admin",
    "users.set_active": "admin",
    "users.token_create": "viewer",
    "users.token_revoke": "viewer",
    "users.tokens": "viewer",
    "users.two_factor": "viewer",
    "users.two_factor_confirm": "viewer",
    "users.two_factor_off": "viewer",
    "users.two_factor_reset": "admin",
    "users.two_factor_rule": "admin",
    "users.two_factor_start": "viewer",
}


def _admin_rules(app: Flask) -> list[Rule]:
    # Public blueprints and the bearer-token REST API (tested by its own suite) are left out.
    return [r for r in app.url_map.iter_rules() if is_staff_endpoint(r.endpoint)]


def _url(app: Flask, rule: Rule) -> str:
    # Ids that match nothing: an allowed role gets 404 or a form error, never a side
    # effect on real rows, and a denied role must be refused before the lookup.
    values = {name: PLACEHOLDERS.get(name, MISSING_ID) for name in rule.arguments}
    return app.url_map.bind("localhost").build(rule.endpoint, values)


@pytest.fixture
def bare_app(settings: Settings) -> Iterator[Flask]:
    """The app without CSRF checks: this test is about roles (CSRF has its own test)."""
    application = create_app(
        test_config={"TESTING": True, "WTF_CSRF_ENABLED": False}, settings=settings
    )
    yield application
    _empty_tables(get_db(application))
    get_db(application).dispose()


def test_every_admin_route_is_classified(bare_app: Flask) -> None:
    endpoints = {rule.endpoint for rule in _admin_rules(bare_app)}
    assert endpoints - ROUTE_ROLES.keys() == set(), "add these routes to ROUTE_ROLES"
    assert ROUTE_ROLES.keys() - endpoints == set(), "these ROUTE_ROLES entries no longer exist"


def _outcome(client: FlaskClient, method: str, url: str) -> str:
    resp = client.open(url, method=method)
    assert resp.status_code != 500, f"{method} {url} crashed"
    if resp.status_code == 403:
        return "denied"
    # Flask-Login sends anonymous visitors to /login?next=...; an action that itself ends
    # the session (log out everywhere) redirects to a bare /login and counts as allowed.
    if resp.status_code == 401 or "/login?next=" in resp.headers.get("Location", ""):
        return "login"
    return "allowed"


@pytest.mark.parametrize("role", ["anonymous", "viewer", "editor", "admin"])
def test_each_role_gets_exactly_the_routes_its_rule_allows(bare_app: Flask, role: str) -> None:
    client = bare_app.test_client()
    with get_db(bare_app).session() as session:
        users: dict[str, User] = make_staff(session)
        wrong: list[str] = []
        for rule in sorted(_admin_rules(bare_app), key=lambda r: r.rule):
            url = _url(bare_app, rule)
            for method in sorted((rule.methods or set()) & {"GET", "POST"}):
                act_as(client, session, users.get(role))
                got = _outcome(client, method, url)
                minimum = ROUTE_ROLES[rule.endpoint]
                if role == "anonymous":
                    expected = "login"
                else:
                    expected = "allowed" if RANK[role] >= RANK[minimum] else "denied"
                if got != expected:
                    wrong.append(f"{method} {url} ({rule.endpoint}): {got}, expected {expected}")
    assert wrong == []


def test_a_viewer_sees_only_the_dashboard_and_reports_in_the_navigation(
    bare_app: Flask,
) -> None:
    client = bare_app.test_client()
    with get_db(bare_app).session() as session:
        users = make_staff(session)
        act_as(client, session, users["viewer"])
        html = client.get("/").get_data(as_text=True)
    nav = html.split('<nav class="nav"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/reports"' in nav
    for hidden in (
        "/issues",
        "/campaigns",
        "/subscribers",
        "/lists",
        "/outbox",
        "/users",
        "/audit",
        "/settings",
    ):
        assert f'href="{hidden}"' not in nav
    # Read-only: the dashboard offers the viewer no form but logging out.
    assert html.count("<form") == 1 and 'action="/logout"' in html


def test_an_admin_sees_every_area_in_the_navigation(bare_app: Flask) -> None:
    client = bare_app.test_client()
    with get_db(bare_app).session() as session:
        users = make_staff(session)
        act_as(client, session, users["admin"])
        html = client.get("/").get_data(as_text=True)
    nav = html.split('<nav class="nav"', 1)[1].split("</nav>", 1)[0]
    for shown in (
        "/issues",
        "/campaigns",
        "/subscribers",
        "/lists",
        "/reports",
        "/outbox",
        "/users",
        "/audit",
        "/settings",
    ):
        assert f'href="{shown}"' in nav
