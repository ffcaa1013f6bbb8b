"""Bearer authentication: missing, bad and revoked tokens, scopes, roles, last use."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.accounts.users import hash_token
from service.model import ApiToken, utcnow
from tests.integration.api.conftest import Api, error_code, make_list, make_token


def test_a_request_without_a_token_is_refused_with_401_and_the_bearer_challenge(
    client: FlaskClient,
) -> None:
    resp = client.get("/api/v1/lists")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert error_code(resp) == "unauthorized"


def test_an_unknown_token_or_another_scheme_is_refused(client: FlaskClient) -> None:
    for header in ("Bearer tdg_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer ", "tdg_x"):
        resp = client.get("/api/v1/lists", headers={"Authorization": header})
        assert resp.status_code == 401, header
        assert error_code(resp) == "unauthorized"


def test_a_revoked_token_stops_working(client: FlaskClient, session: Session) -> None:
    secret = make_token(session, "admin")
    assert Api(client, secret).get("/lists").status_code == 200
    session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == hash_token(secret))
        .values(revoked_at=utcnow())
    )
    session.commit()
    resp = Api(client, secret).get("/lists")
    assert resp.status_code == 401
    assert "revoked" in resp.get_json()["error"]["message"]


def test_a_read_only_token_may_read_but_not_write(client: FlaskClient, session: Session) -> None:
    reader = Api(client, make_token(session, "admin", scopes="read"))
    assert reader.get("/lists").status_code == 200
    resp = reader.post("/lists", json={"slug": "x", "name": "X"})
    assert resp.status_code == 403
    assert error_code(resp) == "insufficient_scope"


def test_a_write_only_token_may_not_read(client: FlaskClient, session: Session) -> None:
    writer = Api(client, make_token(session, "admin", scopes="write"))
    resp = writer.get("/lists")
    assert resp.status_code == 403
    assert error_code(resp) == "insufficient_scope"
    assert writer.post("/lists", json={"slug": "w", "name": "W"}).status_code == 201


def test_a_viewer_reads_lists_and_reports_but_cannot_change_anything(
    viewer_api: Api, api: Api
) -> None:
    lst = make_list(api)
    assert viewer_api.get("/lists").status_code == 200
    assert viewer_api.get(f"/lists/{lst['id']}").status_code == 200
    for resp in (
        viewer_api.post("/lists", json={"slug": "v", "name": "V"}),
        viewer_api.patch(f"/lists/{lst['id']}", json={"name": "renamed"}),
        viewer_api.post("/subscribers", json={"email": "a@example.org"}),
        viewer_api.post("/campaigns", json={"lists": ["members"], "body_html": "<p>x</p>"}),
        viewer_api.get("/subscribers/export"),
        # Personal data is for staff who manage subscribers, as on the admin pages.
        viewer_api.get("/subscribers"),
        viewer_api.get("/subscribers/1"),
        viewer_api.get("/suppressions"),
        viewer_api.get("/campaigns/1/events"),
    ):
        assert resp.status_code == 403, resp.get_data(as_text=True)
        assert error_code(resp) == "forbidden_role"


def test_an_editor_changes_content_but_admin_only_actions_are_refused(
    editor_api: Api, api: Api
) -> None:
    lst = make_list(editor_api)
    created = editor_api.post("/subscribers", json={"email": "ed@example.org"})
    assert created.status_code == 201
    resp = editor_api.delete(f"/subscribers/{created.get_json()['id']}")
    assert resp.status_code == 403
    assert error_code(resp) == "forbidden_role"
    resp = editor_api.post("/suppressions", json={"email": "s@example.org"})
    removal = editor_api.post(
        f"/suppressions/{resp.get_json()['id']}/remove", json={"reason": "a good reason"}
    )
    assert removal.status_code == 403
    assert editor_api.delete(f"/lists/{lst['id']}").status_code == 200  # archive
    assert api.delete(f"/subscribers/{created.get_json()['id']}").status_code == 200


def test_last_use_is_recorded_at_most_once_a_minute(client: FlaskClient, session: Session) -> None:
    secret = make_token(session, "viewer", scopes="read")
    api = Api(client, secret)
    assert api.get("/lists").status_code == 200
    query = select(ApiToken.last_used_at).where(ApiToken.token_hash == hash_token(secret))
    first = session.scalar(query)
    assert first is not None
    assert api.get("/lists").status_code == 200
    session.expire_all()
    assert session.scalar(query) == first  # within the minute: no second write
    session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == hash_token(secret))
        .values(last_used_at=first - timedelta(minutes=5))
    )
    session.commit()
    assert api.get("/lists").status_code == 200
    session.expire_all()
    assert session.scalar(query) > first - timedelta(minutes=5)


def test_the_spec_and_the_docs_page_need_no_token(client: FlaskClient) -> None:
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/docs").status_code == 200


def test_a_token_printed_by_the_cli_opens_the_api(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    import json

    from click.testing import CliRunner

    from service.cli import main

    result = CliRunner().invoke(main, ["token", "add", admin["email"], "--json"])
    assert result.exit_code == 0, result.output
    secret = json.loads(result.output)["token"]
    resp = Api(client, secret).post("/lists", json={"slug": "cli", "name": "From the CLI"})
    assert resp.status_code == 201
