"""Issues through the API: upload the demo document, read its structure, preview it; the same
document again is a 409 unless allowed; an issue no campaign used can be deleted."""

from __future__ import annotations

import io

from werkzeug.test import TestResponse

from tests.integration.api.conftest import DEMO_ISSUE, Api, error_code, import_demo_issue, make_list


def test_the_demo_issue_is_uploaded_and_its_structure_returned(api: Api) -> None:
    issue = import_demo_issue(api)
    assert issue["id"] and issue["slug"] and issue["title"]
    assert issue["sections"] and issue["sections"][0]["articles"]
    assert issue["structure"]["sections"][0]["articles"][0]["body"]
    again = api.get(f"/issues/{issue['id']}").get_json()
    assert again["sections"] == issue["sections"]
    listed = api.get("/issues").get_json()
    assert [i["id"] for i in listed["items"]] == [issue["id"]]


def test_the_preview_is_the_email_html_or_a_json_report(api: Api) -> None:
    issue = import_demo_issue(api)
    html = api.get(f"/issues/{issue['id']}/preview")
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert "script-src 'none'" in html.headers["Content-Security-Policy"]
    assert issue["sections"][0]["articles"][0]["title"] in html.get_data(as_text=True)
    report = api.get(f"/issues/{issue['id']}/preview?format=json&mode=excerpt").get_json()
    assert report["mode_used"] == "excerpt"
    assert report["text"] and report["sizes"]["full"] > 0
    assert api.get(f"/issues/{issue['id']}/preview?mode=tiny").status_code == 422


def test_unusable_documents_are_refused_with_a_reason(api: Api) -> None:
    resp = api.post(
        "/issues",
        data={"file": (io.BytesIO(b"%PDF-1.4"), "issue.pdf")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422 and error_code(resp) == "unreadable_document"
    resp = api.post(
        "/issues", data={"file": (io.BytesIO(b""), "empty.md")}, content_type="multipart/form-data"
    )
    assert resp.status_code == 422
    resp = api.post("/issues", json={"file": "text"})
    assert resp.status_code == 415
    assert api.get("/issues/31337").status_code == 404


def _upload_demo(api: Api, query: str = "") -> TestResponse:
    with DEMO_ISSUE.open("rb") as fh:
        return api.post(
            "/issues" + query,
            data={"file": (fh, DEMO_ISSUE.name)},
            content_type="multipart/form-data",
        )


def test_the_same_document_again_is_a_409_naming_the_existing_issue(api: Api) -> None:
    first = import_demo_issue(api)
    again = _upload_demo(api)
    assert again.status_code == 409 and error_code(again) == "duplicate_issue"
    error = again.get_json()["error"]
    assert error["details"] == {"duplicate_of": first["id"]}
    assert f"issue {first['id']}" in error["message"]
    assert [i["id"] for i in api.get("/issues").get_json()["items"]] == [first["id"]]


def test_allow_duplicate_imports_the_same_document_again(api: Api) -> None:
    first = import_demo_issue(api)
    again = _upload_demo(api, "?allow_duplicate=1")
    assert again.status_code == 201, again.get_data(as_text=True)
    assert again.get_json()["id"] != first["id"]


def test_an_unused_issue_is_deleted_and_a_used_one_is_a_409(api: Api) -> None:
    unused = import_demo_issue(api)
    resp = api.delete(f"/issues/{unused['id']}")
    assert resp.status_code == 200 and resp.get_json()["detail"] == {"deleted": unused["id"]}
    assert api.get(f"/issues/{unused['id']}").status_code == 404
    assert api.delete(f"/issues/{unused['id']}").status_code == 404

    used = import_demo_issue(api)  # no longer a duplicate: the first one is gone
    make_list(api)
    campaign = api.post("/campaigns", json={"issue_id": used["id"], "lists": ["members"]})
    assert campaign.status_code == 201, campaign.get_data(as_text=True)
    refused = api.delete(f"/issues/{used['id']}")
    assert refused.status_code == 409 and error_code(refused) == "issue_in_use"
    assert refused.get_json()["error"]["details"] == {"campaigns": [campaign.get_json()["id"]]}
    assert api.get(f"/issues/{used['id']}").status_code == 200
