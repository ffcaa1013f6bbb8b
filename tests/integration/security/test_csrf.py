"""Every admin form action refuses a request without the CSRF token."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.integration.security.helpers import MISSING_ID, PLACEHOLDERS, is_staff_endpoint


def test_every_admin_post_without_a_csrf_token_is_refused(
    logged_in: FlaskClient, app: Flask
) -> None:
    adapter = app.url_map.bind("localhost")
    accepted = []
    for rule in app.url_map.iter_rules():
        if not is_staff_endpoint(rule.endpoint) or "POST" not in (rule.methods or set()):
            continue
        values = {name: PLACEHOLDERS.get(name, MISSING_ID) for name in rule.arguments}
        url = adapter.build(rule.endpoint, values)
        resp = logged_in.post(url, data={"email": "x@example.org", "role": "admin"})
        if resp.status_code != 400:
            accepted.append(f"{url}: {resp.status_code}")
    assert accepted == []


def test_logging_in_and_out_need_the_token_too(client: FlaskClient, admin: dict[str, str]) -> None:
    assert client.post("/login", data=admin).status_code == 400
    assert client.post("/logout").status_code == 400
