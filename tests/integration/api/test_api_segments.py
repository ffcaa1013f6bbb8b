"""``/api/v1/segments`` and ``segment_id`` on a campaign: saved filters a script can make,
read with their counts, and give to a campaign on creation or by PATCH."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from service.model import Campaign, Organisation
from tests.integration.api.conftest import Api, error_code, make_list

COUNCIL = [{"kind": "org_level_in", "levels": ["理事单位"]}]


def _add(api: Api, list_id: int, email: str, organisation: str) -> None:
    body = {"email": email, "organisation": organisation, "list_ids": [list_id]}
    resp = api.post("/subscribers", json=body)
    assert resp.status_code == 201, resp.get_data(as_text=True)


def test_a_segment_is_created_listed_and_counted(api: Api, session: Session) -> None:
    members = make_list(api)
    _add(api, members["id"], "a@example.org", "大连港集团")
    _add(api, members["id"], "b@example.org", "ABC软件")
    session.execute(
        update(Organisation).where(Organisation.name == "大连港集团").values(level="理事单位")
    )
    session.commit()
    resp = api.post("/segments", json={"name": "理事单位", "conditions": COUNCIL})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    made = resp.get_json()
    assert made == {"id": made["id"], "name": "理事单位", "conditions": COUNCIL, "count": 1}
    listed = api.get("/segments").get_json()
    assert listed == {"items": [made], "next_cursor": None}
    assert api.get(f"/segments/{made['id']}").get_json() == made
    assert api.get("/segments/999").status_code == 404


def test_bad_conditions_and_a_taken_name_are_refused_with_the_reason(api: Api) -> None:
    resp = api.post("/segments", json={"name": "x", "conditions": [{"kind": "opened_some"}]})
    assert resp.status_code == 422 and error_code(resp) == "invalid_segment"
    assert "unknown kind 'opened_some'" in resp.get_json()["error"]["message"]
    missing = api.post("/segments", json={"name": "x", "conditions": [{"kind": "opened_none"}]})
    assert missing.status_code == 422 and "last is missing" in missing.get_data(as_text=True)
    assert api.post("/segments", json={"name": "x", "conditions": []}).status_code == 201
    taken = api.post("/segments", json={"name": "x"})
    assert taken.status_code == 409 and error_code(taken) == "segment_conflict"


def test_a_campaign_takes_a_segment_on_creation_and_by_patch(api: Api, session: Session) -> None:
    members = make_list(api)
    segment = api.post("/segments", json={"name": "理事单位", "conditions": COUNCIL}).get_json()
    body = {"lists": [members["id"]], "body_html": "<p>x</p>", "subject": "S"}
    bad = api.post("/campaigns", json={**body, "segment_id": 999})
    assert bad.status_code == 422 and "no segment 999" in bad.get_data(as_text=True)
    made = api.post("/campaigns", json={**body, "segment_id": segment["id"]}).get_json()
    assert made["segment_id"] == segment["id"]

    cid = made["id"]
    kept = api.patch(f"/campaigns/{cid}", json={"subject": "T"}).get_json()
    assert (kept["subject"], kept["segment_id"], kept["list_ids"]) == (
        "T",
        segment["id"],
        [members["id"]],
    )
    dropped = api.patch(f"/campaigns/{cid}", json={"segment_id": None})
    assert dropped.status_code == 200 and dropped.get_json()["segment_id"] is None
    assert api.patch(f"/campaigns/{cid}", json={"segment_id": segment["id"]}).status_code == 200
    session.execute(update(Campaign).where(Campaign.id == cid).values(status="running"))
    session.commit()
    late = api.patch(f"/campaigns/{cid}", json={"segment_id": None})
    assert late.status_code == 409 and error_code(late) == "invalid_transition"
    assert api.get(f"/campaigns/{cid}").get_json()["segment_id"] == segment["id"]


def test_a_viewer_may_not_read_segments(viewer_api: Api) -> None:
    resp = viewer_api.get("/segments")
    assert resp.status_code == 403 and error_code(resp) == "forbidden_role"
