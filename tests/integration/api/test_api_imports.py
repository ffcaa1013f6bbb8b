"""Bulk import by upload: small files at once, larger ones through the real worker."""

from __future__ import annotations

import io
import subprocess
import time

from tests.integration.api.conftest import Api, error_code, make_list

POLL_SECONDS = 0.2
POLL_LIMIT_SECONDS = 60


def _upload(api: Api, data: bytes, list_id: int, name: str = "people.csv", **fields: str):
    return api.post(
        "/subscribers/imports",
        data={"file": (io.BytesIO(data), name), "list_id": str(list_id), **fields},
        content_type="multipart/form-data",
    )


def test_a_small_csv_is_imported_at_once_with_its_bad_rows_reported(api: Api) -> None:
    lst = make_list(api)
    data = "邮箱,姓名\nwang@example.org,王芳\nnot-an-address,坏\nzhao@example.org,赵磊\n"
    resp = _upload(api, data.encode("utf-8"), lst["id"])
    assert resp.status_code == 202, resp.get_data(as_text=True)
    job = resp.get_json()
    assert job["status"] == "done"
    assert job["added"] == 2
    assert [e["line"] for e in job["errors"]] == [3]
    assert api.get(f"/subscribers/imports/{job['id']}").get_json()["added"] == 2
    members = api.get(f"/subscribers?list_id={lst['id']}").get_json()["items"]
    assert {m["email"] for m in members} == {"wang@example.org", "zhao@example.org"}


def test_an_explicit_mapping_is_used(api: Api) -> None:
    lst = make_list(api)
    data = b"a,b\nsun@example.org,Sun\n"
    resp = _upload(api, data, lst["id"], mapping='{"a": "email", "b": "name"}')
    assert resp.get_json()["added"] == 1
    assert api.get("/subscribers?q=sun").get_json()["items"][0]["name"] == "Sun"


def test_bad_uploads_get_4xx_answers(api: Api) -> None:
    lst = make_list(api)
    resp = _upload(api, b"x", lst["id"], name="people.pdf")
    assert resp.status_code == 415 and error_code(resp) == "unsupported_file"
    resp = _upload(api, b"email\na@example.org\n", 987654)
    assert resp.status_code == 422 and error_code(resp) == "invalid_list"
    resp = _upload(api, b"name,city\nA,B\n", lst["id"])
    assert resp.status_code == 422 and error_code(resp) == "unreadable_file"
    resp = _upload(api, b"email\na@example.org\n", lst["id"], mapping="[1]")
    assert resp.status_code == 422 and error_code(resp) == "invalid_mapping"
    resp = api.post("/subscribers/imports", json={"list_id": lst["id"]})
    assert resp.status_code == 415
    resp = api.post(
        "/subscribers/imports", data={"list_id": str(lst["id"])}, content_type="multipart/form-data"
    )
    assert resp.status_code == 422 and error_code(resp) == "validation_error"
    assert api.get("/subscribers/imports/424242").status_code == 404


def test_a_large_file_is_imported_by_the_real_worker_and_polled(
    api: Api, celery_worker: subprocess.Popen[bytes]
) -> None:
    lst = make_list(api)
    rows = "\n".join(f"person{n:05d}@example.org,Person {n}" for n in range(30_000))
    data = ("email,name\n" + rows + "\n").encode()
    assert len(data) > 512 * 1024
    resp = _upload(api, data, lst["id"])
    assert resp.status_code == 202
    job = resp.get_json()
    assert job["status"] == "queued"
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        job = api.get(f"/subscribers/imports/{job['id']}").get_json()
    assert job["status"] == "done", job
    assert job["added"] == 30_000
