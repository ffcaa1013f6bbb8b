"""The API refuses decompression bombs and files with nothing to import with a 4xx JSON
error naming the limit, never a 500 or a request that runs for minutes (issue 13)."""

from __future__ import annotations

import io
import json
import subprocess
import time
from typing import Any

from tests.bombs import MIB, docx_bomb, sheet_xml, small_xlsx, xlsx_bomb, xlsx_with_sheet
from tests.documents import heavy_docx
from tests.integration.api.conftest import Api, error_code, make_list

POLL_SECONDS = 0.2
POLL_LIMIT_SECONDS = 90


def _message(resp: object) -> str:
    return str(resp.get_json()["error"]["message"])  # type: ignore[attr-defined]


def test_a_docx_bomb_is_a_422_naming_the_limit(api: Api) -> None:
    resp = api.post(
        "/issues",
        data={"file": (io.BytesIO(docx_bomb(64 * MIB)), "journal.docx")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422 and error_code(resp) == "unreadable_document"
    assert "word/document.xml unpacks to more than 8 MB" in _message(resp)
    assert api.get("/issues").get_json()["items"] == []


def test_an_xlsx_bomb_is_a_422_naming_the_limit_and_no_job_runs(api: Api) -> None:
    lst = make_list(api)
    resp = api.post(
        "/subscribers/imports",
        data={"file": (io.BytesIO(xlsx_bomb(65 * MIB)), "people.xlsx"), "list_id": str(lst["id"])},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422 and error_code(resp) == "unreadable_file"
    assert "sheet1.xml unpacks to more than 64 MB" in _message(resp)


def test_a_file_with_only_a_header_is_a_422_not_an_import_of_nothing(api: Api) -> None:
    lst = make_list(api)
    resp = api.post(
        "/subscribers/imports",
        data={
            "file": (io.BytesIO("邮箱,姓名\n".encode()), "people.csv"),
            "list_id": str(lst["id"]),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422 and error_code(resp) == "unreadable_file"
    assert "no data rows" in _message(resp)


def _wait(api: Api, job: dict[str, Any], jobs: str = "/subscribers/imports") -> dict[str, Any]:
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        job = api.get(f"{jobs}/{job['id']}").get_json()
    return job


def test_a_small_workbook_that_unpacks_large_goes_to_the_worker_not_the_request(
    api: Api, celery_worker: subprocess.Popen[bytes]
) -> None:
    lst = make_list(api)
    data = small_xlsx([["email"]] + [[f"p{n:05d}@example.org"] for n in range(20_000)])
    assert len(data) < 512 * 1024  # small on the wire, a sheet of megabytes unpacked
    resp = api.post(
        "/subscribers/imports",
        data={"file": (io.BytesIO(data), "people.xlsx"), "list_id": str(lst["id"])},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 202
    job = resp.get_json()
    assert job["status"] == "queued"
    job = _wait(api, job)
    assert job["status"] == "done" and job["added"] == 20_000


def test_a_sheet_refused_by_the_worker_fails_its_job_with_the_reason(
    api: Api, celery_worker: subprocess.Popen[bytes]
) -> None:
    lst = make_list(api)
    rows = "".join(
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>p{n:05d}@example.org</t></is></c></row>'
        for n in range(2, 12_000)
    )
    far = '<row r="12000"><c r="A12000" t="inlineStr"><is><t>z@example.org</t></is></c>'
    far += '<c r="ZZ12000"><v>1</v></c></row>'
    header = '<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c></row>'
    data = xlsx_with_sheet(sheet_xml(header + rows + far))
    resp = api.post(
        "/subscribers/imports",
        data={"file": (io.BytesIO(data), "people.xlsx"), "list_id": str(lst["id"])},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 202
    job = _wait(api, resp.get_json())
    assert job["status"] == "failed"
    assert "row 12000 has values in more than 200 columns" in json.dumps(job["errors"])


def test_a_word_document_with_a_large_body_is_imported_by_the_worker_and_polled(
    api: Api, celery_worker: subprocess.Popen[bytes]
) -> None:
    data = heavy_docx()
    resp = api.post(
        "/issues",
        data={"file": (io.BytesIO(data), "journal.docx")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 202, resp.get_data(as_text=True)
    job = resp.get_json()
    assert job["status"] == "queued" and job["issue_id"] is None
    assert api.get("/issues").get_json()["items"] == []  # nothing parsed in the request
    job = _wait(api, job, "/issues/imports")
    assert job["status"] == "done", job
    issue = api.get(f"/issues/{job['issue_id']}").get_json()
    assert len(issue["sections"][0]["articles"]) > 100
    again = api.post(
        "/issues",
        data={"file": (io.BytesIO(data), "journal.docx")},
        content_type="multipart/form-data",
    )
    assert again.status_code == 202
    job = _wait(api, again.get_json(), "/issues/imports")
    assert job["status"] == "duplicate" and job["duplicate_of"] == issue["id"], job
    assert job["error"]
    assert api.get("/issues/imports/987654").status_code == 404
