"""Fixtures of the API tests: users of each role with bearer tokens, and a small client
wrapper that sends the token."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from service.accounts.users import create_api_token, create_user

ROOT = Path(__file__).resolve().parents[3]
DEMO_ISSUE = ROOT / "demo" / "dldta-2026-q1.md"


@dataclass
class Api:
    """A test client that authenticates with one bearer token."""

    client: FlaskClient
    token: str

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path: str, **kw: Any) -> TestResponse:
        """GET /api/v1<path>."""
        return self.client.get("/api/v1" + path, headers=self._headers(), **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> TestResponse:
        """POST /api/v1<path> (a JSON body when ``json`` is given)."""
        if json is not None:
            kw["json"] = json
        return self.client.post("/api/v1" + path, headers=self._headers(), **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> TestResponse:
        """PATCH /api/v1<path>."""
        return self.client.patch("/api/v1" + path, headers=self._headers(), json=json, **kw)

    def delete(self, path: str, **kw: Any) -> TestResponse:
        """DELETE /api/v1<path>."""
        return self.client.delete("/api/v1" + path, headers=self._headers(), **kw)


def make_token(session: Session, role: str, scopes: str = "read write") -> str:
    """A new user of ``role`` and a token with ``scopes``; returns the secret."""
    user = create_user(
        session, f"{role}-{scopes.replace(' ', '-')}@example.org", "pw-123456789", role
    )
    secret = create_api_token(session, user, name="test", scopes=scopes).secret
    session.commit()
    return secret


@pytest.fixture
def api(client: FlaskClient, session: Session) -> Api:
    """An admin's read-write API client."""
    return Api(client, make_token(session, "admin"))


@pytest.fixture
def editor_api(client: FlaskClient, session: Session) -> Api:
    """An editor's read-write API client."""
    return Api(client, make_token(session, "editor"))


@pytest.fixture
def viewer_api(client: FlaskClient, session: Session) -> Api:
    """A viewer's read-write API client (the role still limits it to reading)."""
    return Api(client, make_token(session, "viewer"))


def error_code(resp: TestResponse) -> str:
    """The stable code of a JSON error answer."""
    body = resp.get_json()
    assert body and "error" in body, resp.get_data(as_text=True)
    return str(body["error"]["code"])


def make_list(api: Api, slug: str = "members", name: str = "会员通讯") -> dict[str, Any]:
    """Create a list through the API and return it."""
    resp = api.post("/lists", json={"slug": slug, "name": name, "double_opt_in": False})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return dict(resp.get_json())


def import_demo_issue(api: Api) -> dict[str, Any]:
    """Upload the demo issue through the API and return its structure."""
    with DEMO_ISSUE.open("rb") as fh:
        resp = api.post(
            "/issues", data={"file": (fh, DEMO_ISSUE.name)}, content_type="multipart/form-data"
        )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return dict(resp.get_json())
