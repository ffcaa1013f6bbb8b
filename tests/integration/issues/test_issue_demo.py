"""`load_demo` imports the demo document as a structured, published issue, once."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.cli.demo import DEMO_FILE, DEMO_ISSUE_SLUG, load_demo
from service.issues.store import completeness, create_issue_from_document, load_doc
from service.model import Issue


def test_the_demo_issue_is_structured_published_and_loaded_only_once(
    session: Session, client: FlaskClient
) -> None:
    first = load_demo(session)
    session.commit()
    second = load_demo(session)
    session.commit()
    assert first.created and not second.created and first.issue_id == second.issue_id
    assert session.scalar(select(func.count(Issue.id))) == 1
    issue = session.get(Issue, first.issue_id)
    assert issue is not None and issue.slug == DEMO_ISSUE_SLUG
    assert issue.published_at is not None
    assert sum(1 for _ in load_doc(issue).articles()) == 12
    assert completeness(issue) == []
    page = client.get(f"/archive/{DEMO_ISSUE_SLUG}")
    assert page.status_code == 200 and 'id="a12"' in page.get_data(as_text=True)


def test_the_archive_page_of_the_demo_does_not_show_the_cover_as_text(
    session: Session, client: FlaskClient
) -> None:
    load_demo(session)
    session.commit()
    page = client.get(f"/archive/{DEMO_ISSUE_SLUG}").get_data(as_text=True)
    assert "中国服务外包" in page
    for line in ("季刊", "大连市数字贸易协会秘书处编", "内部资料"):
        assert line not in page


def test_the_demo_uploaded_under_another_name_is_reused_not_imported_again(
    session: Session,
) -> None:
    uploaded = create_issue_from_document(session, "会刊.md", DEMO_FILE.read_bytes())
    session.commit()
    result = load_demo(session)
    session.commit()
    assert not result.created and result.issue_id == uploaded.id
    assert session.scalar(select(func.count(Issue.id))) == 1
