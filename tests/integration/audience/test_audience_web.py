"""The audience admin pages over the real app, database, Redis and worker."""

from __future__ import annotations

import html
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.config import Settings
from service.model import AuditEntry, ImportJob, MailingList, Membership, Subscriber, Suppression
from tests.conftest import csrf_token
from tests.integration.audience.conftest import run_import, upload

JOB_TIMEOUT_SECONDS = 60


def test_every_audience_page_renders_with_its_empty_state(logged_in: FlaskClient) -> None:
    for path, text in (
        ("/lists", "Add a list"),
        ("/subscribers", "No subscribers yet"),
        ("/subscribers/import", "There is no open list"),
        ("/suppressions", "The suppression list is empty"),
    ):
        logged_in.get("/lang/en")
        resp = logged_in.get(path)
        assert resp.status_code == 200, path
        assert text in resp.get_data(as_text=True), path


def test_a_list_is_created_renamed_and_archived_from_the_admin(
    logged_in: FlaskClient, session: Session
) -> None:
    token = csrf_token(logged_in, "/lists")
    resp = logged_in.post(
        "/lists",
        data={"csrf_token": token, "slug": "news", "name": "Newsletter", "double_opt_in": "1"},
    )
    assert resp.status_code == 302
    row = session.scalar(select(MailingList))
    assert row is not None and row.double_opt_in
    page = f"/lists/{row.id}"
    logged_in.post(page, data={"csrf_token": token, "name": "月刊", "description": "每月一期"})
    logged_in.post(page, data={"csrf_token": token, "archive": "1"})
    session.expire_all()
    assert (row.name, row.description, row.double_opt_in) == ("月刊", "每月一期", False)
    assert row.archived_at is not None
    dup = logged_in.post("/lists", data={"csrf_token": token, "slug": "news", "name": "x"})
    assert dup.status_code == 302
    assert "标识为“news”的列表已经存在。" in logged_in.get("/lists").get_data(as_text=True)


def test_the_subscribers_table_escapes_html_and_pages_with_counts(
    logged_in: FlaskClient, session: Session, members: MailingList, tmp_path: Path
) -> None:
    path = tmp_path / "x.csv"
    rows = "".join(f"u{i:02d}@example.org,User {i}\n" for i in range(60))
    path.write_text(f"email,name\n{rows}evil@example.org,<script>alert(1)</script>\n", "utf-8")
    run_import(session, path, members)
    page = logged_in.get("/subscribers").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "61" in re.search(r"data-total>([^<]*)<", page).group(1)  # type: ignore[union-attr]
    next_link = re.search(r'rel="next" href="([^"]+)"', page)
    assert next_link is not None
    second = logged_in.get(next_link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert second.count('name="ids"') == 11
    evil = session.scalar(select(Subscriber.id).where(Subscriber.email == "evil@example.org"))
    detail = logged_in.get(f"/subscribers/{evil}").get_data(as_text=True)
    assert "<script>alert" not in detail
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    assert "Consent" in detail or "同意" in detail
    filtered = logged_in.get("/subscribers?q=u5&sort=email&dir=asc").get_data(as_text=True)
    assert filtered.count('name="ids"') == 10


def test_the_subscriber_page_edits_attributes_and_exports_and_erases(
    logged_in: FlaskClient, session: Session, members: MailingList, tmp_path: Path
) -> None:
    path = tmp_path / "one.csv"
    path.write_text("email,name,city\nli@example.org,李,大连\n", "utf-8")
    run_import(session, path, members)
    sid = session.scalar(select(Subscriber.id))
    url = f"/subscribers/{sid}"
    token = csrf_token(logged_in, url)
    logged_in.post(
        url,
        data={
            "csrf_token": token,
            "name": "李\r\n四",
            "organisation": "协会",
            "language": "zh-CN",
            "attr_key": ["city", "", "level"],
            "attr_value": ["沈阳", "ignored", "gold"],
        },
    )
    data = logged_in.get(f"{url}/data.json").get_json()
    assert data["profile"]["name"] == "李 四"
    assert data["profile"]["attributes"] == {"city": "沈阳", "level": "gold"}
    assert data["consents"][0]["source"] == "import"
    refused = logged_in.post(f"{url}/erase", data={"csrf_token": token, "confirm": "wrong"})
    assert refused.status_code == 302
    assert session.scalar(select(func.count(Suppression.id))) == 0
    logged_in.post(f"{url}/erase", data={"csrf_token": token, "confirm": "li@example.org"})
    session.expire_all()
    assert session.scalar(select(Subscriber.email)) == f"erased-{sid}@invalid"
    assert session.scalar(select(Suppression.email_hash)) is not None
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"subscriber.edit", "subscriber.data_export", "subscriber.erase"} <= actions


def test_bulk_actions_from_the_table_and_the_export_download(
    logged_in: FlaskClient, session: Session, members: MailingList, tmp_path: Path
) -> None:
    path = tmp_path / "b.csv"
    path.write_text("email,name\na@example.org,张三\nb@example.org,B\n", "utf-8")
    run_import(session, path, members)
    ids = list(session.scalars(select(Subscriber.id).order_by(Subscriber.id)))
    token = csrf_token(logged_in, "/subscribers")
    resp = logged_in.post(
        "/subscribers/bulk",
        data={
            "csrf_token": token,
            "action": "remove_from_list",
            "list_id": members.id,
            "ids": [ids[0]],
            "scope": "selected",
            "filter": json.dumps({"q": "example"}),
        },
    )
    assert resp.status_code == 302 and "q=example" in resp.headers["Location"]
    assert session.scalar(select(func.count()).select_from(Membership)) == 1
    csv_resp = logged_in.get(f"/subscribers/export.csv?list_id={members.id}")
    body = csv_resp.get_data()
    assert body.startswith(b"\xef\xbb\xbf") and b"b@example.org" in body
    assert b"a@example.org" not in body
    xlsx = logged_in.get("/subscribers/export.xlsx")
    assert xlsx.status_code == 200 and xlsx.get_data().startswith(b"PK")


def test_the_suppression_list_adds_searches_and_removes_with_an_audited_reason(
    logged_in: FlaskClient, session: Session
) -> None:
    token = csrf_token(logged_in, "/suppressions")
    logged_in.post(
        "/suppressions",
        data={"csrf_token": token, "email": "No@Example.org", "note": "asked by phone"},
    )
    bad = logged_in.post("/suppressions", data={"csrf_token": token, "email": "nope"})
    assert bad.status_code == 302
    page = logged_in.get("/suppressions?q=example").get_data(as_text=True)
    assert "no@example.org" in page and "asked by phone" in page
    row = session.scalar(select(Suppression))
    assert row is not None and row.reason == "manual"
    logged_in.post(f"/suppressions/{row.id}/remove", data={"csrf_token": token, "reason": ""})
    assert session.scalar(select(func.count(Suppression.id))) == 1
    logged_in.post(
        f"/suppressions/{row.id}/remove",
        data={"csrf_token": token, "reason": "re-subscribed on paper"},
    )
    session.expire_all()
    assert session.scalar(select(func.count(Suppression.id))) == 0
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "suppression.remove"))
    assert entry is not None and entry.detail["reason"] == "re-subscribed on paper"
    assert entry.detail["email"] == "no@example.org"


def test_an_upload_that_is_not_a_table_gets_a_clear_message(
    logged_in: FlaskClient, members: MailingList
) -> None:
    token = csrf_token(logged_in, "/subscribers/import")
    resp = upload(logged_in, members.id, "data.csv", b"\x00\x01\x02garbage\x00" * 50, token=token)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "data.csv 无法导入：这是二进制文件，不是 CSV 或 XLSX 文件。" in html


def test_an_upload_is_mapped_and_imported_by_the_real_worker_with_a_report(
    logged_in: FlaskClient,
    session: Session,
    members: MailingList,
    celery_worker: subprocess.Popen[bytes],
) -> None:
    logged_in.get("/lang/en")
    token = csrf_token(logged_in, "/subscribers/import")
    body = (
        "邮箱,姓名,公司,城市\r\nwang@example.org,王立,某公司,大连\r\n"
        "broken,坏,,\r\nWANG@example.org,重复,,\r\n"
    )
    resp = upload(logged_in, members.id, "名单.csv", body.encode("gbk"), token=token)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    mapping_url = resp.headers["Location"]
    page = logged_in.get(mapping_url).get_data(as_text=True)
    assert "GB18030 (GBK)" in page and "double opt-in" in page
    resp = logged_in.post(
        mapping_url,
        data={
            "csrf_token": token,
            "col0": "email",
            "col1": "name",
            "col2": "organisation",
            "col3": "attribute",
        },
    )
    job_url = resp.headers["Location"]
    job_id = int(job_url.rsplit("/", 1)[1])
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while True:
        session.expire_all()
        job = session.get(ImportJob, job_id)
        assert job is not None
        if job.status in ("done", "failed") or time.monotonic() > deadline:
            break
        fragment = logged_in.get(f"/imports/{job_id}/progress").get_data(as_text=True)
        assert 'id="import-progress"' in fragment
        time.sleep(0.3)
    log = Path(celery_worker.log_path).read_text()  # type: ignore[attr-defined]
    assert job.status == "done", log[-3000:]
    assert (job.added, job.updated, job.skipped) == (1, 0, 0)
    assert [e["line"] for e in job.errors] == [3, 4]
    report = logged_in.get(job_url).get_data(as_text=True)
    assert 'data-status="done"' in report and "hx-get" not in report
    assert "Download as CSV" in report
    errors_csv = logged_in.get(f"/imports/{job_id}/errors.csv").get_data().decode("utf-8-sig")
    assert errors_csv.splitlines()[0] == "line,reason" and errors_csv.count("\n") == 3
    wang = session.scalar(select(Subscriber).where(Subscriber.email == "wang@example.org"))
    assert wang is not None and wang.attributes == {"城市": "大连"} and wang.name == "王立"


def test_an_upload_over_the_size_limit_or_of_the_wrong_kind_is_refused_clearly(
    logged_in: FlaskClient, members: MailingList, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.web import audience_imports

    logged_in.get("/lang/en")
    token = csrf_token(logged_in, "/subscribers/import")
    monkeypatch.setattr(audience_imports, "MAX_IMPORT_BYTES", 10_000)
    big = b"email\n" + b"someone@example.org\n" * 2000
    resp = upload(logged_in, members.id, "big.csv", big, token=token)
    assert resp.status_code == 400
    assert "imports are limited to" in resp.get_data(as_text=True)
    resp = upload(logged_in, members.id, "members.pdf", b"%PDF-1.4", token=token)
    assert resp.status_code == 400
    assert "Only CSV and XLSX files can be imported." in resp.get_data(as_text=True)


def test_a_bulk_action_on_a_whole_filter_runs_in_the_real_worker(
    logged_in: FlaskClient,
    session: Session,
    members: MailingList,
    tmp_path: Path,
    celery_worker: subprocess.Popen[bytes],
) -> None:
    path = tmp_path / "many.csv"
    path.write_text(
        "email,city\n"
        + "".join(f"w{i}@example.org,{'大连' if i % 2 else '沈阳'}\n" for i in range(30)),
        "utf-8",
    )
    run_import(session, path, members)
    token = csrf_token(logged_in, "/subscribers")
    resp = logged_in.post(
        "/subscribers/bulk",
        data={
            "csrf_token": token,
            "action": "unsubscribe",
            "scope": "filter",
            "filter": json.dumps({"attr_key": "city", "attr_value": "大连"}),
        },
    )
    assert resp.status_code == 302
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        session.expire_all()
        if session.scalar(select(func.count(Suppression.id))) == 15:
            break
        time.sleep(0.3)
    statuses = dict(session.execute(select(Subscriber.email, Subscriber.status)).all())
    assert sum(1 for s in statuses.values() if s == "unsubscribed") == 15
    assert statuses["w1@example.org"] == "unsubscribed" and statuses["w0@example.org"] == "enabled"
    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.action == "subscribers.bulk.unsubscribe")
    )
    assert entry is not None and entry.detail["changed"] == 15
    everyone = logged_in.post(
        "/subscribers/bulk",
        data={"csrf_token": token, "action": "delete", "scope": "filter", "filter": "{}"},
    )
    assert everyone.status_code == 302
    assert (
        session.scalar(select(func.count(Subscriber.id))) == 30
    )  # needs "I mean every subscriber"


def test_the_list_page_of_a_public_list_shows_the_sign_up_link_and_an_embeddable_form(
    logged_in: FlaskClient, session: Session, members: MailingList
) -> None:
    members.public = True
    session.commit()
    page = logged_in.get(f"/lists/{members.id}").get_data(as_text=True)
    assert f"/subscribe/{members.slug}" in page
    # The snippet is shown as text to copy, escaped, and posts to the public form.
    assert "&lt;form" in page and f"/subscribe/{members.slug}" in page


def test_the_list_page_s_sign_up_link_and_embed_form_both_use_the_base_url_not_the_request_s(
    logged_in: FlaskClient, session: Session, members: MailingList, settings: Settings
) -> None:
    # Issue 12: the page once showed the served port's sign-up link beside a form posting
    # to another port. Asked for on another host and port, both still say the base URL.
    members.public = True
    session.commit()
    resp = logged_in.get(f"/lists/{members.id}", base_url="http://localhost:8101")
    assert resp.status_code == 200
    page = html.unescape(resp.get_data(as_text=True))
    urls = set(re.findall(r"https?://[^\s\"'&<>]+", page))
    signup = f"{settings.base_url}/subscribe/{members.slug}"
    assert signup in urls and f'action="{signup}"' in page
    assert not [u for u in urls if u.startswith("http://localhost:8101")], urls


def test_why_rows_were_not_imported_is_said_in_the_staff_language(
    logged_in: FlaskClient, session: Session, members: MailingList, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text("email,name\nann@example.org,Ann\nANN@example.org,Ann again\n,Nobody\n")
    report = run_import(session, path, members)
    job = ImportJob(list_id=members.id, filename="people.csv", status="done", mode="add")
    # Two rows from this import, and one stored before reasons had codes (kept as written).
    job.errors = [*report.errors, {"line": 9, "reason": "an old reason, in English"}]
    session.add(job)
    session.commit()
    page = logged_in.get(f"/imports/{job.id}").get_data(as_text=True)
    assert "ann@example.org 在文件前面已经出现过（不区分大小写）。" in page
    assert "没有邮箱地址。" in page and "an old reason, in English" in page
    csv_text = logged_in.get(f"/imports/{job.id}/errors.csv").get_data().decode("utf-8-sig")
    assert "没有邮箱地址。" in csv_text
