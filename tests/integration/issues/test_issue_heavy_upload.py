"""A Word document with a large body is imported by the real worker, not in the web
request: the upload answers at once with a page that reloads itself, then opens the new
issue, says why it failed, or offers "import anyway" for a duplicate (issue 13)."""

from __future__ import annotations

import io
import re
import subprocess
import time

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.issues.import_jobs import IN_REQUEST_MAX_TAGS, is_heavy
from service.issues.importer import import_file
from service.model import Issue, IssueImport
from tests.bombs import MIB, docx_bomb
from tests.conftest import csrf_token
from tests.documents import build_docx, heavy_docx

JOB_TIMEOUT_SECONDS = 180


def _upload(client: FlaskClient, data: bytes, name: str = "journal.docx") -> str:
    resp = client.post(
        "/issues/upload",
        data={
            "csrf_token": csrf_token(client, "/issues/upload"),
            "document": (io.BytesIO(data), name),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    location = resp.headers["Location"]
    assert re.search(r"/issues/imports/\d+$", location), location
    return location


def _finished(session: Session, location: str) -> IssueImport:
    job_id = int(location.rsplit("/", 1)[1])
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while True:
        session.expire_all()
        job = session.get(IssueImport, job_id)
        assert job is not None
        if job.status not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.3)


def test_only_a_word_document_with_a_large_body_is_heavy() -> None:
    assert not is_heavy("issue.md", b"# title\n" * 100_000)
    assert not is_heavy("issue.docx", build_docx([("Heading1", [("标题", False, None)])]))
    assert not is_heavy("bomb.docx", docx_bomb(64 * MIB))  # refused in the request at once
    assert is_heavy("journal.docx", heavy_docx())
    assert IN_REQUEST_MAX_TAGS < 200_000


def test_a_heavy_upload_is_imported_by_the_worker_and_then_opens_the_issue(
    logged_in: FlaskClient, session: Session, celery_worker: subprocess.Popen[bytes]
) -> None:
    logged_in.get("/lang/en")
    data = heavy_docx()
    location = _upload(logged_in, data)
    page = logged_in.get(location)
    if page.status_code == 200:  # the worker may already be done
        html = page.get_data(as_text=True)
        assert 'http-equiv="refresh"' in html and "data-import-status" in html
    job = _finished(session, location)
    assert job.status == "done", job.error
    resp = logged_in.get(location)
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/issues/{job.issue_id}")
    review = logged_in.get(resp.headers["Location"]).get_data(as_text=True)
    in_process = import_file("journal.docx", data)  # what the request would have made
    assert review.count('data-article="') == sum(1 for _ in in_process.articles()) > 150

    again = _upload(logged_in, data)  # the same document: a duplicate, asked about
    job = _finished(session, again)
    assert job.status == "duplicate"
    page = logged_in.get(again)
    assert page.status_code == 409
    html = page.get_data(as_text=True)
    assert "data-import-anyway" in html and f"/issues/imports/{job.id}/again" in html
    resp = logged_in.post(
        f"/issues/imports/{job.id}/again", data={"csrf_token": csrf_token(logged_in, again)}
    )
    assert resp.status_code == 302
    assert _finished(session, again).status == "done"
    assert session.scalar(select(func.count(Issue.id))) == 2


def test_a_heavy_upload_that_fails_in_the_worker_says_why(
    logged_in: FlaskClient, session: Session, celery_worker: subprocess.Popen[bytes]
) -> None:
    logged_in.get("/lang/en")
    location = _upload(logged_in, heavy_docx(headings=False), "no-headings.docx")
    job = _finished(session, location)
    assert job.status == "failed"
    page = logged_in.get(location)
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "data-upload-error" in html and "no-headings.docx could not be imported" in html
    assert session.scalar(select(Issue.id)) is None
