"""API tokens with a scope (read only, or send) and an optional expiry: made by
``tidings token add`` and the tokens page, enforced on every operation of the API."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from click.testing import CliRunner, Result
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.accounts.users import hash_token
from service.cli import main
from service.config import Settings
from service.model import ApiToken, utcnow
from service.web.api.registry import OPERATIONS
from tests.conftest import csrf_token
from tests.integration.api.conftest import Api, error_code


def _token_add(email: str, *options: str) -> Result:
    return CliRunner().invoke(main, ["token", "add", email, *options])


def _cli_token(email: str, *options: str) -> str:
    result = _token_add(email, *options)
    assert result.exit_code == 0, result.output
    return result.output.strip()


def _tokens(session: Session) -> int:
    return session.scalar(select(func.count(ApiToken.id))) or 0


def _path(rule: str) -> str:
    return "/api/v1" + re.sub(r"<[a-z_]+>", "1", rule)


def test_a_read_token_from_the_cli_may_read_but_gets_403_on_every_other_operation(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    secret = _cli_token(admin["email"], "--scope", "read")
    assert Api(client, secret).get("/lists").status_code == 200
    writes = [op for op in OPERATIONS if op.method != "GET" and not op.public]
    assert writes, "the API has operations that change things"
    headers = {"Authorization": f"Bearer {secret}"}
    for op in writes:
        resp = client.open(_path(op.rule), method=op.method, headers=headers, json={})
        assert resp.status_code == 403, f"{op.method} {op.rule}: {resp.status_code}"
        assert error_code(resp) == "insufficient_scope"


def test_a_send_token_is_the_default_and_may_write(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    for secret in (_cli_token(admin["email"]), _cli_token(admin["email"], "--scope", "send")):
        slug = f"s{secret[-6:].lower()}".replace("-", "x").replace("_", "y")
        resp = Api(client, secret).post("/lists", json={"slug": slug, "name": "Send"})
        assert resp.status_code == 201, resp.get_data(as_text=True)


def test_the_cli_prints_the_token_alone_and_with_json_its_scope_and_expiry(
    admin: dict[str, str], settings: Settings
) -> None:
    plain = _cli_token(admin["email"], "--scope", "read")
    assert plain.startswith("tdg_") and "\n" not in plain
    day = date.today() + timedelta(days=30)
    result = _token_add(admin["email"], "--expires", day.isoformat(), "--json")
    payload = json.loads(result.output)
    assert payload["token"].startswith("tdg_") and payload["scope"] == "send"
    # The token works through that day, in the installation's time zone.
    expected = (day + timedelta(days=1)).isoformat() + "T00:00:00"
    assert payload["expires_at"].startswith(expected)


def test_a_token_works_until_it_expires_then_gets_401_with_a_clear_error(
    client: FlaskClient, admin: dict[str, str], session: Session
) -> None:
    secret = _cli_token(admin["email"], "--expires", (date.today() + timedelta(days=2)).isoformat())
    api = Api(client, secret)
    assert api.get("/lists").status_code == 200
    session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == hash_token(secret))
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    for resp in (api.get("/lists"), api.post("/lists", json={"slug": "late", "name": "Late"})):
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        error = resp.get_json()["error"]
        assert error["code"] == "token_expired"
        assert "expired" in error["message"] and "make a new one" in error["message"]


@pytest.mark.parametrize("expires", ["2001-01-01", "next week", "2027-02-30"])
def test_a_past_or_unreadable_expiry_makes_no_token_and_says_why(
    admin: dict[str, str], session: Session, expires: str
) -> None:
    result = _token_add(admin["email"], "--expires", expires)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "future" in result.output or "is not a date" in result.output
    assert _tokens(session) == 0


def test_an_unknown_scope_is_refused_by_the_cli(admin: dict[str, str], session: Session) -> None:
    result = _token_add(admin["email"], "--scope", "write")
    assert result.exit_code == 2 and "read" in result.output and "send" in result.output
    assert _tokens(session) == 0


def test_a_viewers_token_is_read_only_whatever_scope_is_asked(
    client: FlaskClient, session: Session
) -> None:
    from service.accounts.users import create_user

    create_user(session, "viewer@example.org", "pw-123456789", "viewer")
    session.commit()
    result = _token_add("viewer@example.org", "--scope", "send", "--json")
    assert json.loads(result.output)["scope"] == "read"


def test_the_tokens_page_makes_a_token_with_an_expiry_and_shows_it(
    logged_in: FlaskClient, session: Session
) -> None:
    day = date.today() + timedelta(days=10)
    resp = logged_in.post(
        "/account/tokens",
        data={
            "name": "nightly export",
            "scopes": "read",
            "expires": day.isoformat(),
            "csrf_token": csrf_token(logged_in, "/account/tokens"),
        },
    )
    assert resp.status_code == 201
    token = session.scalar(select(ApiToken))
    assert token is not None and token.scopes == "read" and token.expires_at is not None
    assert token.expires_at > utcnow() + timedelta(days=9)
    listing = logged_in.get("/account/tokens").get_data(as_text=True)
    assert "只读" in listing  # the scope in the staff's language


def test_the_tokens_page_refuses_a_past_expiry_with_a_message_and_makes_nothing(
    logged_in: FlaskClient, session: Session
) -> None:
    resp = logged_in.post(
        "/account/tokens",
        data={
            "name": "late",
            "scopes": "read",
            "expires": "2001-01-01",
            "csrf_token": csrf_token(logged_in, "/account/tokens"),
        },
    )
    assert resp.status_code == 302
    assert _tokens(session) == 0
    page = logged_in.get("/account/tokens").get_data(as_text=True)
    assert "到期日期必须在将来" in page
