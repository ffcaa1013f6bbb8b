"""Issues through the API: upload the demo document, read its structure, preview it."""

from __future__ import annotations

import io

from tests.integration.api.conftest import Api, error_code, import_demo_issue


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
