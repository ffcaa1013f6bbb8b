"""The subscriber import of an XLSX workbook as a newcomer meets it: ``tidings up``, the
admin in Chromium, a file chosen in the browser; then the same file through the REST API.

Before, both answered "openpyxl does not support .upload file format" for every workbook
while the command line imported the same file.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from service.net import free_port
from tests.acceptance.outside import (
    fresh_env,
    own_redis,
    tidings,
    tidings_json,
    tidings_up,
    workbook,
)
from tests.browser import launch, log_in, require_chromium, screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser]

BROWSER_ROWS = [
    ("sun.li@xlsx.example.org", "孙丽", "大连造船厂"),
    ("zhou.jie@xlsx.example.org", "周杰", ""),
]
API_ROWS = [("wu.fang@xlsx.example.org", "吴芳", "大连理工大学")]
HEADER = ["邮箱", "姓名", "单位"]
JOB_WAIT_MS = 90_000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _multipart(fields: dict[str, str], name: str, path: Path) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{path.name}"\r\n'
        f"Content-Type: {XLSX_TYPE}\r\n\r\n".encode()
        + path.read_bytes()
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _api_import(base: str, token: str, list_id: int, path: Path) -> dict[str, object]:
    body, content_type = _multipart({"list_id": str(list_id)}, "file", path)
    request = urllib.request.Request(
        f"{base}/api/v1/subscribers/imports",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    with urllib.request.urlopen(request, timeout=60) as resp:
        job: dict[str, object] = json.loads(resp.read())
    deadline = time.monotonic() + JOB_WAIT_MS / 1000
    while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.5)
        poll = urllib.request.Request(
            f"{base}/api/v1/subscribers/imports/{job['id']}",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(poll, timeout=30) as resp:
            job = json.loads(resp.read())
    return job


def test_an_xlsx_workbook_imports_through_the_browser_and_the_api(tmp_path: Path) -> None:
    require_chromium()
    with own_redis(tmp_path) as redis_url:
        _upload(fresh_env(tmp_path / "data", TIDINGS_REDIS_URL=redis_url), tmp_path)


def _upload(env: dict[str, str], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    browser_file = workbook(tmp_path / "会员名单.xlsx", HEADER, BROWSER_ROWS)
    api_file = workbook(tmp_path / "api.xlsx", HEADER, API_ROWS)
    with tidings_up(env, free_port(), "--no-demo") as up:
        members = tidings_json(env, "list", "add", "members", "--name", "会员单位")
        with sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                page = browser.new_page()
                log_in(page, up.base, "admin@example.org", up.password)
                page.goto(f"{up.base}/subscribers/import")
                page.set_input_files('input[name="file"]', str(browser_file))
                page.select_option('select[name="list_id"]', str(members["id"]))
                page.click('button[type="submit"].primary')
                page.wait_for_url("**/mapping")
                screenshot(page, "acceptance-xlsx-mapping")
                page.click('button[type="submit"].primary')
                progress = page.locator("#import-progress")
                expect(progress).to_have_attribute("data-status", "done", timeout=JOB_WAIT_MS)
                screenshot(page, "acceptance-xlsx-done")
                added = page.locator('[data-count="added"]')
                expect(added).to_have_text(str(len(BROWSER_ROWS)))
            finally:
                browser.close()

        token = tidings(env, "token", "add", "admin@example.org").stdout.strip()
        job = _api_import(up.base, token, int(members["id"]), api_file)
        assert job["status"] == "done", job
        assert job["added"] == len(API_ROWS), job
        assert job["errors"] == [], job
