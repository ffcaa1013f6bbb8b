"""Editing an issue in the admin (issue 16, item 3), as a logged-in editor over the real
app and database: title, number and date; section names and order; moving an article to
another section; an image uploaded into an article, served publicly and shown sized in
the email; deleting an article after a confirm page, with an undo that works once; and
the preview following every edit."""

from __future__ import annotations

import io
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from service.issues.images import MAX_IMAGE_BYTES
from service.model import Issue
from tests.conftest import csrf_token
from tests.integration.issues.test_issue_admin_pages import _upload_demo
from tests.unit.issues.test_logo import png

PASSWORD = "editor horse battery"


@pytest.fixture
def editor(client: FlaskClient, session: Session) -> FlaskClient:
    """A client logged in as an editor (not an admin)."""
    from service.accounts.users import create_user

    create_user(session, "editor@example.org", PASSWORD, "editor")
    session.commit()
    resp = client.post(
        "/login",
        data={
            "email": "editor@example.org",
            "password": PASSWORD,
            "csrf_token": csrf_token(client),
        },
    )
    assert resp.status_code == 302
    return client


@pytest.fixture
def issue_id(editor: FlaskClient) -> int:
    """The demo issue, uploaded by the editor."""
    return _upload_demo(editor)


def _post(client: FlaskClient, path: str, issue_id: int, **data: object) -> object:
    token = csrf_token(client, f"/issues/{issue_id}")
    return client.post(path, data={"csrf_token": token, **data})


def _page(client: FlaskClient, path: str) -> str:
    resp = client.get(path)
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def _structure(session: Session, issue_id: int) -> dict[str, object]:
    row = session.get(Issue, issue_id)
    assert row is not None
    session.refresh(row)
    return row.structure


def _anchors(session: Session, issue_id: int) -> list[list[str]]:
    sections = _structure(session, issue_id)["sections"]
    return [[a["anchor"] for a in s["articles"]] for s in sections]  # type: ignore[attr-defined,index]


def test_the_title_number_and_date_are_edited_and_the_preview_shows_them(
    editor: FlaskClient, issue_id: int, session: Session
) -> None:
    resp = _post(
        editor,
        f"/issues/{issue_id}/details",
        issue_id,
        title="大连数字贸易通讯",
        number="2026年第2期",
        date="2026-06-30",
    )
    assert resp.status_code == 302  # type: ignore[attr-defined]
    review = _page(editor, f"/issues/{issue_id}")
    assert "大连数字贸易通讯" in review and 'value="2026年第2期"' in review
    assert 'value="2026-06-30"' in review
    row = session.get(Issue, issue_id)
    assert row is not None
    session.refresh(row)
    assert (row.title, row.number, row.slug) == ("大连数字贸易通讯", "2026年第2期", "dldta-2026-q1")
    frame = _page(editor, f"/issues/{issue_id}/preview.html?mode=full")
    assert "大连数字贸易通讯" in frame and "2026年第2期" in frame and "2026-06-30" in frame


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"title": "", "number": "2026年第2期", "date": "2026-06-30"}, "期刊需要一个标题"),
        ({"title": "新刊名", "number": "2026年第2期", "date": "2026-02-30"}, "没有"),
        ({"title": "新刊名", "number": "2026年第2期", "date": "下周二"}, "2026-03-31"),
    ],
)
def test_bad_details_are_refused_keeping_what_was_typed(
    editor: FlaskClient, issue_id: int, session: Session, fields: dict[str, str], says: str
) -> None:
    resp = _post(editor, f"/issues/{issue_id}/details", issue_id, **fields)
    assert resp.status_code == 400  # type: ignore[attr-defined]
    page = resp.get_data(as_text=True)  # type: ignore[attr-defined]
    assert says in page and 'role="alert"' in page
    assert f'value="{fields["number"]}"' in page and f'value="{fields["date"]}"' in page
    row = session.get(Issue, issue_id)
    assert row is not None
    session.refresh(row)
    assert row.title == "大连数字贸易" and row.number == "2026 年第 1 期 (总第 14 期)"


def test_sections_are_renamed_and_reordered_and_the_preview_follows(
    editor: FlaskClient, issue_id: int, session: Session
) -> None:
    resp = _post(
        editor, f"/issues/{issue_id}/sections/1", issue_id, title="国内动态", was="国内资讯"
    )
    assert resp.status_code == 302  # type: ignore[attr-defined]
    _post(editor, f"/issues/{issue_id}/sections/1/move", issue_id, direction="up", was="国内动态")
    sections = _structure(session, issue_id)["sections"]
    assert [s["title"] for s in sections][:2] == ["国内动态", "专家观点"]  # type: ignore[attr-defined,index]
    frame = _page(editor, f"/issues/{issue_id}/preview.html?mode=full")
    assert frame.index("国内动态") < frame.index("专家观点")

    empty = _post(editor, f"/issues/{issue_id}/sections/0", issue_id, title=" ", was="国内动态")
    assert empty.status_code == 400  # type: ignore[attr-defined]
    assert "栏目需要一个名称" in empty.get_data(as_text=True)  # type: ignore[attr-defined]
    stale = _post(editor, f"/issues/{issue_id}/sections/0", issue_id, title="X", was="专家观点")
    assert stale.status_code == 400  # type: ignore[attr-defined]


def test_an_article_moves_to_the_end_of_a_chosen_section(
    editor: FlaskClient, issue_id: int, session: Session
) -> None:
    review = _page(editor, f"/issues/{issue_id}")
    assert review.count("data-move-to-section") == 12
    resp = _post(editor, f"/issues/{issue_id}/articles/a1/section", issue_id, section="4")
    assert resp.status_code == 302  # type: ignore[attr-defined]
    anchors = _anchors(session, issue_id)
    assert anchors[4][-1] == "a1" and "a1" not in anchors[0]
    gone = _post(editor, f"/issues/{issue_id}/articles/a1/section", issue_id, section="99")
    assert gone.status_code == 302  # type: ignore[attr-defined]
    assert _anchors(session, issue_id)[4][-1] == "a1"


def test_deleting_an_article_asks_first_then_offers_an_undo_that_works_once(
    editor: FlaskClient, issue_id: int, session: Session
) -> None:
    before = _anchors(session, issue_id)
    review = _page(editor, f"/issues/{issue_id}")
    assert f'href="/issues/{issue_id}/articles/a5/delete"' in review
    confirm = _page(editor, f"/issues/{issue_id}/articles/a5/delete")
    assert 'data-confirm-article="a5"' in confirm and "data-confirm-delete" in confirm
    assert _anchors(session, issue_id) == before  # asking deletes nothing

    resp = _post(editor, f"/issues/{issue_id}/articles/a5/delete", issue_id)
    assert resp.status_code == 302  # type: ignore[attr-defined]
    location = resp.headers["Location"]  # type: ignore[attr-defined]
    assert "a5" not in sum(_anchors(session, issue_id), [])
    page = _page(editor, location)
    assert "data-undo-button" in page
    key = re.search(r'name="undo" value="([^"]+)"', page)
    assert key

    undone = _post(editor, f"/issues/{issue_id}/articles/undo", issue_id, undo=key.group(1))
    assert undone.status_code == 302  # type: ignore[attr-defined]
    assert _anchors(session, issue_id) == before
    assert "data-undo-button" not in _page(editor, location)  # nothing left to undo

    again = _post(editor, f"/issues/{issue_id}/articles/undo", issue_id, undo=key.group(1))
    assert again.status_code == 302  # type: ignore[attr-defined]
    assert "没有可以撤销的" in _page(editor, f"/issues/{issue_id}")
    assert _anchors(session, issue_id) == before


def test_a_confirm_page_for_an_article_gone_is_a_message_not_a_500(
    editor: FlaskClient, issue_id: int
) -> None:
    resp = editor.get(f"/issues/{issue_id}/articles/a99/delete")
    assert resp.status_code == 302
    assert "这篇文章已不存在" in _page(editor, resp.headers["Location"])


def _upload_image(
    client: FlaskClient, issue_id: int, data: bytes, alt: str, body: str = "正文。"
) -> object:
    return client.post(
        f"/issues/{issue_id}/articles/a2",
        data={
            "csrf_token": csrf_token(client, f"/issues/{issue_id}"),
            "title": "光谷发布人工智能十大任务",
            "body": body,
            "source": "中国新闻网",
            "alt": alt,
            "action": "image",
            "image": (io.BytesIO(data), "光谷 Optics Valley.png"),
        },
        content_type="multipart/form-data",
    )


def test_an_uploaded_image_is_served_publicly_and_shown_sized_in_the_email(
    editor: FlaskClient, issue_id: int, client: FlaskClient
) -> None:
    resp = _upload_image(editor, issue_id, png(1088, 600), "光谷夜景")
    assert resp.status_code == 302, resp.get_data(as_text=True)  # type: ignore[attr-defined]
    review = _page(editor, f"/issues/{issue_id}")
    found = re.search(r"!\[光谷夜景\]\((http://localhost(/images/[^)]+))\)", review)
    assert found, "the image is not in the article's Markdown"
    url, path = found.groups()
    assert path.endswith("/1088x600/optics-valley.png")

    editor.post("/logout", data={"csrf_token": csrf_token(editor, f"/issues/{issue_id}")})
    served = client.get(path)  # a mail reader: no session
    assert served.status_code == 200
    assert served.data == png(1088, 600) and served.mimetype == "image/png"
    assert "max-age=31536000" in served.headers["Cache-Control"]
    assert client.get(path.replace(path.split("/")[2], "nosuchtoken0")).status_code == 404


def test_the_preview_shows_an_uploaded_image_at_the_content_width(
    editor: FlaskClient, issue_id: int
) -> None:
    _upload_image(editor, issue_id, png(1088, 600), "光谷夜景")
    frame = _page(editor, f"/issues/{issue_id}/preview.html?mode=full")
    tag = re.search(r'<img src="http://localhost/images/[^"]+"[^>]*>', frame)
    assert tag, "no image in the preview"
    assert 'alt="光谷夜景"' in tag.group(0) and 'width="544" height="300"' in tag.group(0)
    assert "max-width:100%" in tag.group(0)
    preview = _page(editor, f"/issues/{issue_id}/preview?mode=full")
    assert "[图片：光谷夜景]" in preview  # the text part


@pytest.mark.parametrize(
    ("data", "alt", "says"),
    [
        (png(10, 10), "", "用几个字描述"),
        (b"%PDF-1.7 not an image", "光谷", "不是图片"),
        (png(10, 10) + bytes(MAX_IMAGE_BYTES), "光谷", "KB"),
    ],
)
def test_a_bad_image_upload_is_refused_keeping_the_typed_text(
    editor: FlaskClient, issue_id: int, session: Session, data: bytes, alt: str, says: str
) -> None:
    resp = _upload_image(editor, issue_id, data, alt, body="刚写好、还没保存的正文。")
    assert resp.status_code == 400  # type: ignore[attr-defined]
    page = resp.get_data(as_text=True)  # type: ignore[attr-defined]
    assert says in page and "刚写好、还没保存的正文。" in page
    bodies = [a["body"] for s in _structure(session, issue_id)["sections"] for a in s["articles"]]  # type: ignore[attr-defined,index]
    assert "刚写好、还没保存的正文。" not in bodies  # nothing half-saved


def test_an_article_edit_shows_in_the_preview(editor: FlaskClient, issue_id: int) -> None:
    _post(
        editor,
        f"/issues/{issue_id}/articles/a2",
        issue_id,
        title="预览跟随编辑",
        body="这是编辑后的正文。",
        source="",
    )
    frame = _page(editor, f"/issues/{issue_id}/preview.html?mode=full")
    assert "预览跟随编辑" in frame and "这是编辑后的正文。" in frame


def test_deleting_an_issue_deletes_its_images(
    editor: FlaskClient, issue_id: int, session: Session
) -> None:
    from sqlalchemy import func, select

    from service.model import IssueImage

    _upload_image(editor, issue_id, png(20, 10), "光谷")
    assert session.scalar(select(func.count(IssueImage.id))) == 1
    resp = _post(editor, f"/issues/{issue_id}/delete", issue_id)
    assert resp.status_code == 302  # type: ignore[attr-defined]
    session.expire_all()
    assert session.get(Issue, issue_id) is None
    assert session.scalar(select(func.count(IssueImage.id))) == 0
