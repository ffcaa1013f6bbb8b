"""Subscribers through the API: add, search, change, delete, export, and bad inputs."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.model import AuditEntry
from service.subscribers.suppression import suppress
from tests.integration.api.conftest import Api, error_code, make_list


def test_a_subscriber_is_added_to_a_list_and_found_by_search(api: Api, session: Session) -> None:
    lst = make_list(api)
    resp = api.post(
        "/subscribers",
        json={
            "email": "Zhang.Wei@Example.ORG",
            "name": "张伟",
            "organisation": "大连港",
            "attributes": {"city": "大连"},
            "list_ids": [lst["id"]],
        },
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["email"] == "zhang.wei@example.org"
    assert body["lists"] == [{"list_id": lst["id"], "slug": "members", "status": "active"}]
    assert body["attributes"] == {"city": "大连"}
    found = api.get("/subscribers?q=张").get_json()["items"]
    assert [s["id"] for s in found] == [body["id"]]
    on_list = api.get(f"/subscribers?list_id={lst['id']}&member_status=active").get_json()
    assert [s["email"] for s in on_list["items"]] == ["zhang.wei@example.org"]
    assert api.get("/subscribers?q=nobody").get_json() == {"items": [], "next_cursor": None}
    actions = set(session.scalars(select(AuditEntry.action)))
    assert "subscriber.create" in actions


def test_profile_changes_and_list_moves_are_saved(api: Api) -> None:
    a, b = make_list(api, "a", "A"), make_list(api, "b", "B")
    sub = api.post("/subscribers", json={"email": "li@example.org", "list_ids": [a["id"]]})
    sid = sub.get_json()["id"]
    resp = api.patch(
        f"/subscribers/{sid}",
        json={"name": "李娜", "add_list_ids": [b["id"]], "remove_list_ids": [a["id"]]},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["name"] == "李娜"
    assert [m["slug"] for m in body["lists"]] == ["b"]


def test_duplicates_suppressed_and_invalid_addresses_are_refused(
    api: Api, session: Session
) -> None:
    assert api.post("/subscribers", json={"email": "x@example.org"}).status_code == 201
    resp = api.post("/subscribers", json={"email": "X@example.org"})
    assert resp.status_code == 409 and error_code(resp) == "subscriber_exists"
    suppress(session, "gone@example.org", "manual", source="test")
    session.commit()
    resp = api.post("/subscribers", json={"email": "gone@example.org"})
    assert resp.status_code == 409 and error_code(resp) == "suppressed"
    resp = api.post("/subscribers", json={"email": "not an address"})
    assert resp.status_code == 422 and error_code(resp) == "invalid_email"
    resp = api.post("/subscribers", json={"email": "y@example.org", "list_ids": [424242]})
    assert resp.status_code == 422 and error_code(resp) == "unknown_list"
    resp = api.get("/subscribers?status=bogus")
    assert resp.status_code == 422


def test_an_admin_deletes_a_subscriber(api: Api) -> None:
    sid = api.post("/subscribers", json={"email": "del@example.org"}).get_json()["id"]
    assert api.delete(f"/subscribers/{sid}").status_code == 200
    assert api.get(f"/subscribers/{sid}").status_code == 404
    assert api.delete(f"/subscribers/{sid}").status_code == 404


def test_the_export_is_a_csv_of_the_filtered_subscribers(api: Api) -> None:
    lst = make_list(api)
    api.post("/subscribers", json={"email": "in@example.org", "list_ids": [lst["id"]]})
    api.post("/subscribers", json={"email": "out@example.org"})
    resp = api.get(f"/subscribers/export?list_id={lst['id']}")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    text = resp.get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    emails = [r[0] for r in rows[1:]]
    assert emails == ["in@example.org"]
    xlsx = api.get("/subscribers/export?format=xlsx")
    assert xlsx.status_code == 200 and xlsx.get_data()[:2] == b"PK"
