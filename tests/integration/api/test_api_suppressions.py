"""The suppression list through the API: list, add, remove with a reason."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.model import AuditEntry
from tests.integration.api.conftest import Api, error_code


def test_an_address_is_suppressed_listed_and_removed_with_a_reason(
    api: Api, session: Session
) -> None:
    resp = api.post("/suppressions", json={"email": "Spam@Example.org", "note": "asked by phone"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    row = resp.get_json()
    assert row["email"] == "spam@example.org" and row["reason"] == "manual"
    again = api.post("/suppressions", json={"email": "spam@example.org"})
    assert again.get_json()["id"] == row["id"]  # idempotent
    listed = api.get("/suppressions?q=spam").get_json()
    assert [r["id"] for r in listed["items"]] == [row["id"]]
    resp = api.post(f"/suppressions/{row['id']}/remove", json={"reason": "confirmed by email"})
    assert resp.status_code == 200
    assert api.get("/suppressions").get_json()["items"] == []
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "suppression.remove"))
    assert entry is not None and entry.detail["reason"] == "confirmed by email"


def test_removal_needs_a_reason_an_existing_row_and_an_admin(api: Api, editor_api: Api) -> None:
    row = api.post("/suppressions", json={"email": "keep@example.org"}).get_json()
    resp = api.post(f"/suppressions/{row['id']}/remove", json={"reason": ""})
    assert resp.status_code == 422
    resp = api.post("/suppressions/999999/remove", json={"reason": "no such row"})
    assert resp.status_code == 404 and error_code(resp) == "not_found"
    resp = editor_api.post(f"/suppressions/{row['id']}/remove", json={"reason": "please"})
    assert resp.status_code == 403
    resp = api.post("/suppressions", json={"email": "nope"})
    assert resp.status_code == 422 and error_code(resp) == "invalid_email"
