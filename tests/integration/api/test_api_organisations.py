"""``GET /api/v1/organisations``: the member companies, paged, for staff who manage people."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.model import SuppressionReason
from service.subscribers.suppression import suppress
from tests.integration.api.conftest import Api, error_code, make_list

ITEM_KEYS = {"id", "name", "level", "contacts", "deliverable"}


def _add(api: Api, list_id: int, email: str, organisation: str) -> None:
    body = {"email": email, "organisation": organisation, "list_ids": [list_id]}
    resp = api.post("/subscribers", json=body)
    assert resp.status_code == 201, resp.get_data(as_text=True)


def test_organisations_are_paged_with_their_counts(api: Api, session: Session) -> None:
    members = make_list(api)
    _add(api, members["id"], "a@example.org", "大连港集团有限公司")
    _add(api, members["id"], "b@example.org", "大连港集团有限公司　")  # the same, spelt apart
    _add(api, members["id"], "c@example.org", "ＤＬ软件有限公司")
    suppress(session, "b@example.org", SuppressionReason.COMPLAINT, "test")
    session.commit()
    first = api.get("/organisations?limit=1").get_json()
    assert first["next_cursor"] and len(first["items"]) == 1
    second = api.get(f"/organisations?limit=1&cursor={first['next_cursor']}").get_json()
    assert second["next_cursor"] is None
    items = {i["name"]: i for i in first["items"] + second["items"]}
    assert all(set(i) == ITEM_KEYS for i in items.values())
    port = items["大连港集团有限公司"]
    assert (port["contacts"], port["deliverable"], port["level"]) == (2, 1, "")
    assert (items["ＤＬ软件有限公司"]["contacts"], items["ＤＬ软件有限公司"]["deliverable"]) == (
        1,
        1,
    )


def test_a_viewer_may_not_list_organisations(viewer_api: Api, editor_api: Api) -> None:
    resp = viewer_api.get("/organisations")
    assert resp.status_code == 403 and error_code(resp) == "forbidden_role"
    assert editor_api.get("/organisations").status_code == 200


def test_a_cursor_of_another_listing_is_a_400(api: Api) -> None:
    make_list(api)
    make_list(api, slug="second", name="第二")
    lists = api.get("/lists?limit=1").get_json()
    assert lists["next_cursor"]
    resp = api.get(f"/organisations?cursor={lists['next_cursor']}")
    assert resp.status_code == 400 and error_code(resp) == "bad_cursor"
