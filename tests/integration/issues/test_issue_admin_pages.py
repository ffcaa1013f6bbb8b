"""The issue admin over the real app and database: upload → review → edit → preview →
publish → public archive and Atom feed; bad uploads and bad layouts get a clear page."""

from __future__ import annotations

import io
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.model import Issue
from tests.conftest import csrf_token

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "demo" / "dldta-2026-q1.md"
ATOM = "{http://www.w3.org/2005/Atom}"


def _upload(client: FlaskClient, name: str, data: bytes) -> object:
    return client.post(
        "/issues/upload",
        data={
            "csrf_token": csrf_token(client, "/issues/upload"),
            "document": (io.BytesIO(data), name),
        },
        content_type="multipart/form-data",
    )


def _upload_demo(client: FlaskClient) -> int:
    resp = _upload(client, DEMO.name, DEMO.read_bytes())
    assert resp.status_code == 302, resp.get_data(as_text=True)  # type: ignore[attr-defined]
    match = re.search(r"/issues/(\d+)$", resp.headers["Location"])  # type: ignore[attr-defined]
    assert match
    return int(match.group(1))


def _post(client: FlaskClient, path: str, issue_id: int, **data: str) -> object:
    token = csrf_token(client, f"/issues/{issue_id}")
    return client.post(path, data={"csrf_token": token, **data})


def test_the_whole_path_from_upload_to_the_public_archive(
    logged_in: FlaskClient, session: Session
) -> None:
    issue_id = _upload_demo(logged_in)

    review = logged_in.get(f"/issues/{issue_id}").get_data(as_text=True)
    assert review.count('data-article="') == 12
    assert 'data-missing="0"' in review  # nothing of the original was lost
    assert "中国服务外包：构筑新优势 激发新动能" in review

    resp = _post(
        logged_in,
        f"/issues/{issue_id}/articles/a2",
        issue_id,
        title="光谷发布人工智能十大任务",
        body="改写后的正文。",
        source="中国新闻网",
    )
    assert resp.status_code == 302  # type: ignore[attr-defined]
    review = logged_in.get(f"/issues/{issue_id}").get_data(as_text=True)
    assert "光谷发布人工智能十大任务" in review
    assert 'data-missing="' in review and 'data-missing="0"' not in review  # old text now missing

    page = logged_in.get(f"/issues/{issue_id}/preview").get_data(as_text=True)
    assert 'data-frame="desktop"' in page and 'data-frame="phone"' in page
    assert "data-size-report" in page and 'data-mode-size="full"' in page
    assert "data-text-part" in page and "List-Unsubscribe" in page
    frame = logged_in.get(f"/issues/{issue_id}/preview.html?mode=excerpt")
    assert frame.status_code == 200
    assert "script-src 'none'" in frame.headers["Content-Security-Policy"]
    assert "光谷发布人工智能十大任务" in frame.get_data(as_text=True)

    slug = session.scalar(select(Issue.slug).where(Issue.id == issue_id))
    assert logged_in.get(f"/archive/{slug}").status_code == 404  # not yet published
    resp = _post(logged_in, f"/issues/{issue_id}/publish", issue_id, published="1")
    assert resp.status_code == 302  # type: ignore[attr-defined]

    listing = logged_in.get("/archive/").get_data(as_text=True)
    assert f'data-issue="{slug}"' in listing
    page = logged_in.get(f"/archive/{slug}").get_data(as_text=True)
    assert 'id="a2"' in page and 'href="#a12"' in page and "光谷发布人工智能十大任务" in page

    feed = logged_in.get("/archive/feed.xml")
    assert feed.mimetype == "application/atom+xml"
    root = ET.fromstring(feed.get_data())
    assert root.tag == f"{ATOM}feed"
    assert root.findtext(f"{ATOM}id") and root.findtext(f"{ATOM}updated")
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 1
    link = entries[0].find(f"{ATOM}link")
    assert link is not None and link.get("href") == f"http://localhost/archive/{slug}"
    assert entries[0].findtext(f"{ATOM}id") and entries[0].findtext(f"{ATOM}updated")

    resp = _post(logged_in, f"/issues/{issue_id}/publish", issue_id, published="0")
    assert logged_in.get(f"/archive/{slug}").status_code == 404
    assert ET.fromstring(logged_in.get("/archive/feed.xml").get_data()).find(f"{ATOM}entry") is None


def test_article_snippets_on_the_review_page_show_words_not_markdown(
    logged_in: FlaskClient,
) -> None:
    issue_id = _upload_demo(logged_in)
    _post(
        logged_in,
        f"/issues/{issue_id}/articles/a2",
        issue_id,
        title="小标题测试",
        body="### 一、总体要求\n\n**加粗**的正文，见[商务部](https://example.org/)。",
        source="",
    )
    review = logged_in.get(f"/issues/{issue_id}").get_data(as_text=True)
    snippet = review.split("一、总体要求", 1)[1].split("</p>", 1)[0]
    assert "加粗的正文，见商务部。" in snippet
    assert "**" not in snippet and "](" not in snippet
    before = review.split("一、总体要求", 1)[0].rsplit('class="snippet"', 1)[1]
    assert "###" not in before


def test_the_list_shows_state_and_size_and_the_original_downloads(
    logged_in: FlaskClient,
) -> None:
    issue_id = _upload_demo(logged_in)
    page = logged_in.get("/issues").get_data(as_text=True)
    assert "大连数字贸易" in page and "badge off" in page  # a draft
    original = logged_in.get(f"/issues/{issue_id}/source")
    assert original.get_data() == DEMO.read_bytes()
    assert "dldta-2026-q1.md" in original.headers["Content-Disposition"]


def test_articles_can_be_moved_deleted_and_added_from_the_review_page(
    logged_in: FlaskClient, session: Session
) -> None:
    issue_id = _upload_demo(logged_in)
    _post(logged_in, f"/issues/{issue_id}/articles/a3/move", issue_id, direction="up")
    _post(logged_in, f"/issues/{issue_id}/articles/a5/delete", issue_id)
    _post(
        logged_in,
        f"/issues/{issue_id}/articles",
        issue_id,
        section="4",
        title="新增文章",
        body="新增正文。",
        source="",
    )
    row = session.get(Issue, issue_id)
    assert row is not None
    session.refresh(row)
    anchors = [a["anchor"] for s in row.structure["sections"] for a in s["articles"]]
    assert anchors[1:4] == ["a3", "a2", "a4"]
    assert "a5" not in anchors and anchors[-1] == "a13"


def test_an_edit_without_a_title_keeps_what_was_typed_and_says_why(
    logged_in: FlaskClient,
) -> None:
    issue_id = _upload_demo(logged_in)
    resp = _post(
        logged_in,
        f"/issues/{issue_id}/articles/a2",
        issue_id,
        title="",
        body="我刚写好的一段话。",
        source="",
    )
    assert resp.status_code == 400  # type: ignore[attr-defined]
    page = resp.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "我刚写好的一段话。" in page and 'class="field-error"' in page


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        # Issue 7: the reason is in the staff's language (Chinese by default).
        ("empty.md", b"", "文档是空的。"),
        ("blob.md", bytes(range(256)) * 4, "这是二进制文件，不是 Markdown 文本文件。"),
        ("issue.pdf", b"%PDF-1.7\n", "不支持的文件类型“.pdf”"),
    ],
)
def test_a_bad_upload_gets_a_clear_message_not_a_500(
    logged_in: FlaskClient, session: Session, name: str, data: bytes, reason: str
) -> None:
    resp = _upload(logged_in, name, data)
    assert resp.status_code == 400  # type: ignore[attr-defined]
    page = resp.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "data-upload-error" in page and name in page and reason in page
    assert session.scalar(select(Issue.id)) is None


def test_an_upload_without_a_file_asks_for_one(logged_in: FlaskClient) -> None:
    resp = logged_in.post(
        "/issues/upload", data={"csrf_token": csrf_token(logged_in, "/issues/upload")}
    )
    assert resp.status_code == 400
    assert "data-upload-error" in resp.get_data(as_text=True)


def test_the_layout_is_validated_and_used_by_the_preview(logged_in: FlaskClient) -> None:
    page = logged_in.get("/issues/layout").get_data(as_text=True)
    assert "0411-84766033" in page  # defaults from the demo association
    form = {
        "csrf_token": csrf_token(logged_in, "/issues/layout"),
        "journal_name": "",
        "primary_color": "#003366",
        "accent_color": "nope",
        "logo_url": "",
        "org_name": "大连市数字贸易协会",
        "address": "",
        "phone": "",
        "email": "",
        "website": "",
        "language": "zh-CN",
    }
    bad = logged_in.post("/issues/layout", data=form)
    assert bad.status_code == 400 and 'data-error="accent_color"' in bad.get_data(as_text=True)
    assert "#003366" in bad.get_data(as_text=True)  # what was typed is still there
    good = logged_in.post("/issues/layout", data={**form, "accent_color": "#aa0000"})
    assert good.status_code == 302
    issue_id = _upload_demo(logged_in)
    html = logged_in.get(f"/issues/{issue_id}/preview.html").get_data(as_text=True)
    assert "#003366" in html


def test_an_unpublished_or_unknown_archive_page_is_a_friendly_404(client: FlaskClient) -> None:
    resp = client.get("/archive/no-such-issue")
    assert resp.status_code == 404
    assert "未找到" in resp.get_data(as_text=True)
    assert client.get("/archive/").status_code == 200


def test_a_viewer_reads_reports_only_and_cannot_touch_issues(
    client: FlaskClient, session: Session
) -> None:
    from service.accounts.users import create_user

    create_user(session, "viewer@example.org", "correct horse battery", "viewer")
    session.commit()
    login = {"email": "viewer@example.org", "password": "correct horse battery"}
    client.post("/login", data={**login, "csrf_token": csrf_token(client)})
    # Issue 7: viewers get the dashboard and the reports; issues are for editors.
    assert client.get("/issues").status_code == 403
    assert client.get("/issues/layout").status_code == 403
    token = csrf_token(client, "/account")
    assert client.get("/issues/upload").status_code == 403
    assert client.post("/issues/layout", data={"csrf_token": token}).status_code == 403


def test_unpublishing_an_issue_whose_links_are_in_sent_mail_says_what_breaks_and_asks(
    logged_in: FlaskClient, session: Session
) -> None:
    from sqlalchemy import insert

    from service.model import Campaign, Delivery, Subscriber

    issue_id = _upload_demo(logged_in)
    _post(logged_in, f"/issues/{issue_id}/publish", issue_id, published="1")
    campaign = Campaign(
        issue_id=issue_id, name="s", subject="第 1 期", from_name="", from_addr="a@example.org"
    )
    reader = Subscriber(email="r@example.org", email_ascii="r@example.org", name="")
    session.add_all([campaign, reader])
    session.flush()
    session.execute(
        insert(Delivery).values(
            campaign_id=campaign.id, subscriber_id=reader.id, email=reader.email, status="sent"
        )
    )
    session.commit()

    asked = _post(logged_in, f"/issues/{issue_id}/publish", issue_id, published="0")
    page = asked.get_data(as_text=True)  # type: ignore[attr-defined]
    assert asked.status_code == 200 and 'data-live-links="1"' in page  # type: ignore[attr-defined]
    session.expire_all()
    assert session.get(Issue, issue_id).published_at is not None  # type: ignore[union-attr]

    _post(logged_in, f"/issues/{issue_id}/publish", issue_id, published="0", confirmed="1")
    session.expire_all()
    assert session.get(Issue, issue_id).published_at is None  # type: ignore[union-attr]


def test_an_issue_kept_private_is_not_published_when_sent(
    logged_in: FlaskClient, session: Session
) -> None:
    issue_id = _upload_demo(logged_in)
    _post(logged_in, f"/issues/{issue_id}/publish", issue_id, published="private")
    session.expire_all()
    row = session.get(Issue, issue_id)
    assert row is not None and row.keep_private and row.published_at is None
    page = logged_in.get(f"/issues/{issue_id}").get_data(as_text=True)
    assert "data-private" in page
