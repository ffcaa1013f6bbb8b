"""The admin over the real app: the same document uploaded twice is a warning with an explicit
"import anyway"; an unused issue is deleted after a confirmation; the printed cover is
metadata staff can edit; issues are picked by number and import time."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from service.campaigns.drafts import create_campaign
from service.config import Settings
from service.model import AuditEntry, Issue
from service.subscribers.lists import create_list
from tests.conftest import csrf_token

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "demo" / "dldta-2026-q1.md"
COVER = ["季刊", "大连市数字贸易协会秘书处编", "内部资料"]


def _upload(client: FlaskClient, name: str = DEMO.name) -> TestResponse:
    return client.post(
        "/issues/upload",
        data={
            "csrf_token": csrf_token(client, "/issues/upload"),
            "document": (io.BytesIO(DEMO.read_bytes()), name),
        },
        content_type="multipart/form-data",
    )


def _issue_id(resp: TestResponse) -> int:
    assert resp.status_code == 302, resp.get_data(as_text=True)
    match = re.search(r"/issues/(\d+)$", resp.headers["Location"])
    assert match
    return int(match.group(1))


def _issue_count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Issue.id))) or 0


# ---- the same document twice -----------------------------------------------------------------


def test_uploading_the_same_document_again_names_the_first_issue_and_imports_nothing(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    first = _issue_id(_upload(logged_in))
    resp = _upload(logged_in, "再传一次.md")
    assert resp.status_code == 409
    page = resp.get_data(as_text=True)
    assert f'data-duplicate="{first}"' in page
    assert f"已经导入过，即期刊 #{first}" in page and "2026 年第 1 期 (总第 14 期)" in page
    row = session.get(Issue, first)
    assert row is not None
    imported = row.created_at.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M")
    assert f"导入于 {imported}" in page  # in the configured zone, as other pages show times
    assert f'href="/issues/{first}"' in page and "data-import-anyway" in page
    assert _issue_count(session) == 1


def test_import_anyway_imports_the_kept_upload_as_a_second_issue(
    logged_in: FlaskClient, session: Session
) -> None:
    first = _issue_id(_upload(logged_in))
    page = _upload(logged_in).get_data(as_text=True)
    match = re.search(r'name="pending" value="([^"]+)"', page)
    assert match
    token = match.group(1)
    form = {"csrf_token": csrf_token(logged_in, "/issues/upload"), "pending": token}
    second = _issue_id(logged_in.post("/issues/upload", data=form))
    assert second != first and _issue_count(session) == 2
    again = session.get(Issue, second)
    assert again is not None and again.source_data == DEMO.read_bytes()
    # The kept upload is used once: the same token again has expired.
    resp = logged_in.post("/issues/upload", data=form)
    assert resp.status_code == 400 and "已过期" in resp.get_data(as_text=True)
    assert _issue_count(session) == 2


def test_a_forged_pending_token_imports_nothing(logged_in: FlaskClient, session: Session) -> None:
    for token in ("../../secret-key", "x" * 40):
        form = {"csrf_token": csrf_token(logged_in, "/issues/upload"), "pending": token}
        assert logged_in.post("/issues/upload", data=form).status_code == 400
    assert _issue_count(session) == 0


# ---- deleting --------------------------------------------------------------------------------


def test_an_unused_issue_is_deleted_after_a_confirmation_and_audited(
    logged_in: FlaskClient, session: Session
) -> None:
    issue_id = _issue_id(_upload(logged_in))
    review = logged_in.get(f"/issues/{issue_id}").get_data(as_text=True)
    assert f'href="/issues/{issue_id}/delete"' in review
    confirm = logged_in.get(f"/issues/{issue_id}/delete").get_data(as_text=True)
    assert "data-confirm-delete" in confirm and "无法恢复" in confirm
    token = csrf_token(logged_in, f"/issues/{issue_id}/delete")
    resp = logged_in.post(f"/issues/{issue_id}/delete", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/issues")
    assert _issue_count(session) == 0
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "issue.delete")).one()
    assert entry.target_id == str(issue_id) and entry.user_id is not None
    assert logged_in.get(f"/issues/{issue_id}").status_code == 404


def test_an_issue_a_campaign_used_cannot_be_deleted_and_the_page_says_which(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    issue_id = _issue_id(_upload(logged_in))
    members = create_list(session, "members", "会员通讯", double_opt_in=False)
    campaign = create_campaign(session, settings, lists=[members.id], issue_id=issue_id)
    session.commit()
    confirm = logged_in.get(f"/issues/{issue_id}/delete").get_data(as_text=True)
    assert "data-issue-in-use" in confirm and "data-confirm-delete" not in confirm
    assert f'href="/campaigns/{campaign.id}"' in confirm
    token = csrf_token(logged_in, f"/issues/{issue_id}")
    resp = logged_in.post(f"/issues/{issue_id}/delete", data={"csrf_token": token})
    assert resp.status_code == 302
    flashed = logged_in.get(resp.headers["Location"]).get_data(as_text=True)
    assert f"群发活动 #{campaign.id}" in html.unescape(flashed)
    assert _issue_count(session) == 1


# ---- the printed cover -------------------------------------------------------------------------


def test_the_review_page_shows_the_cover_as_metadata_and_the_email_does_not(
    logged_in: FlaskClient,
) -> None:
    issue_id = _issue_id(_upload(logged_in))
    review = logged_in.get(f"/issues/{issue_id}").get_data(as_text=True)
    textarea = review.split("data-cover-lines>", 1)[1].split("</textarea>", 1)[0]
    assert textarea.splitlines() == COVER
    assert "data-moved-to-cover" in review
    assert 'data-missing="0"' in review  # moved, not lost
    for mode in ("full", "excerpt"):
        email = logged_in.get(f"/issues/{issue_id}/preview.html?mode={mode}")
        body = email.get_data(as_text=True)
        assert "中国服务外包" in body
        assert all(line not in body for line in COVER)
    preview = logged_in.get(f"/issues/{issue_id}/preview").get_data(as_text=True)
    text_part = preview.split("data-text-part", 1)[1]
    assert all(line not in text_part for line in COVER)


def test_staff_edit_the_cover_lines_one_per_line(logged_in: FlaskClient, session: Session) -> None:
    issue_id = _issue_id(_upload(logged_in))
    token = csrf_token(logged_in, f"/issues/{issue_id}")
    resp = logged_in.post(
        f"/issues/{issue_id}/cover",
        data={"csrf_token": token, "cover_lines": "季刊\r\n\r\n大连市数字贸易协会秘书处 编印\r\n"},
    )
    assert resp.status_code == 302 and resp.headers["Location"].endswith("#cover")
    row = session.get(Issue, issue_id)
    assert row is not None
    session.refresh(row)
    assert row.structure["cover_lines"] == ["季刊", "大连市数字贸易协会秘书处 编印"]
    assert "内部资料" in row.structure["removed"]

    too_many = "\n".join(f"第 {n} 行" for n in range(30))
    resp = logged_in.post(
        f"/issues/{issue_id}/cover", data={"csrf_token": token, "cover_lines": too_many}
    )
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "封面信息最多 20 行。" in page and "第 29 行" in page  # what was typed stays


# ---- picking an issue --------------------------------------------------------------------------


def test_the_campaign_form_offers_issues_with_id_number_and_import_time(
    logged_in: FlaskClient, session: Session, settings: Settings
) -> None:
    first = _issue_id(_upload(logged_in))
    token = csrf_token(logged_in, "/issues/upload")
    match = re.search(r'name="pending" value="([^"]+)"', _upload(logged_in).get_data(as_text=True))
    assert match
    form = {"csrf_token": token, "pending": match.group(1)}
    second = _issue_id(logged_in.post("/issues/upload", data=form))
    page = logged_in.get("/campaigns/new").get_data(as_text=True)
    options = re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', page)
    labels = dict(options)
    for issue_id in (first, second):
        row = session.get(Issue, issue_id)
        assert row is not None
        at = row.created_at.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M")
        label = html.unescape(labels[str(issue_id)])
        assert label == f"#{issue_id} 大连数字贸易 2026 年第 1 期 (总第 14 期) · 导入于 {at}"
    listing = logged_in.get("/issues").get_data(as_text=True)
    assert f'data-issue="{first}"' in listing and f'data-issue="{second}"' in listing
