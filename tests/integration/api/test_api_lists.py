"""Lists through the API: create, read, change, archive, and the bad inputs."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.integration.api.conftest import Api, error_code, make_list


def test_a_list_is_created_read_renamed_and_archived(api: Api) -> None:
    lst = make_list(api, "news", "协会通讯")
    assert lst["slug"] == "news" and lst["members"] == {} and lst["archived"] is False
    assert api.get(f"/lists/{lst['id']}").get_json()["name"] == "协会通讯"
    changed = api.patch(f"/lists/{lst['id']}", json={"name": "Renamed", "double_opt_in": True})
    assert changed.status_code == 200
    assert changed.get_json()["name"] == "Renamed" and changed.get_json()["double_opt_in"]
    assert api.delete(f"/lists/{lst['id']}").status_code == 200
    assert api.get(f"/lists/{lst['id']}").get_json()["archived"] is True


def test_a_taken_slug_is_a_409_and_a_bad_slug_a_422(api: Api) -> None:
    make_list(api, "news")
    resp = api.post("/lists", json={"slug": "news", "name": "Again"})
    assert resp.status_code == 409 and error_code(resp) == "list_conflict"
    resp = api.post("/lists", json={"slug": "Not a slug!", "name": "X"})
    assert resp.status_code == 422 and error_code(resp) == "invalid_list"


def test_bad_bodies_get_a_4xx_with_a_stable_code(api: Api, client: FlaskClient) -> None:
    resp = api.post("/lists", json={"slug": "x"})
    assert resp.status_code == 422 and error_code(resp) == "validation_error"
    assert resp.get_json()["error"]["details"][0]["loc"] == ["name"]
    resp = api.post("/lists", json={"slug": "x", "name": "X", "surprise": 1})
    assert resp.status_code == 422
    resp = api.post("/lists", data="slug=x", content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 415 and error_code(resp) == "unsupported_media_type"
    resp = api.post("/lists", data="{not json", content_type="application/json")
    assert resp.status_code == 400 and error_code(resp) == "bad_json"
    resp = api.post("/lists", json=["a", "list"])
    assert resp.status_code == 422
    resp = api.post("/lists", json={"slug": "nul", "name": "a\u0000b"})
    assert resp.status_code == 400 and error_code(resp) == "bad_characters"


def test_unknown_ids_and_paths_are_json_404s(api: Api) -> None:
    for path in (
        "/lists/999999",
        "/lists/abc",
        "/lists/0",
        "/lists/99999999999999999999",
        "/no/such/thing",
    ):
        resp = api.get(path)
        assert resp.status_code == 404, path
        assert error_code(resp) == "not_found"
    resp = api.client.put("/api/v1/lists", headers={"Authorization": f"Bearer {api.token}"})
    assert resp.status_code == 405 and error_code(resp) == "method_not_allowed"


def test_a_bug_in_a_view_still_answers_json_with_a_500(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.subscribers import lists as domain

    def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("simulated bug")

    make_list(api)
    monkeypatch.setattr(domain, "member_counts", broken)
    resp = api.get("/lists")
    assert resp.status_code == 500
    assert error_code(resp) == "internal_error"
