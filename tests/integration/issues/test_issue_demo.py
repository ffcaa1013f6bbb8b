"""`load_demo` imports the demo document as a structured, published issue, once."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.demo import DEMO_ISSUE_SLUG, load_demo
from service.issues.models import Issue
from service.issues.store import completeness, load_doc


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
