"""The same document imported twice, deleting an unused issue, editing the printed cover."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.issues import edits, store
from service.model import AuditEntry, Campaign, Issue
from tests.documents import DEMO_PATH, HARBOUR_PATH

DEMO, HARBOUR = DEMO_PATH, HARBOUR_PATH


def _issue_count(db: Session) -> int:
    return db.scalar(select(func.count(Issue.id))) or 0


def _campaign(db: Session, issue: Issue, subject: str) -> Campaign:
    campaign = Campaign(issue_id=issue.id, subject=subject, from_addr="news@example.org")
    db.add(campaign)
    db.flush()
    return campaign


# ---- the same document twice -------------------------------------------------------------


def test_an_import_stores_the_sha256_of_the_original_bytes(demo: Issue) -> None:
    assert demo.content_sha256 == hashlib.sha256(DEMO.read_bytes()).hexdigest()
    assert demo.content_sha256 == store.content_sha256(DEMO.read_bytes())


def test_importing_the_same_document_again_is_refused_naming_the_first_issue(
    db: Session, demo: Issue
) -> None:
    with pytest.raises(store.DuplicateIssue) as caught:
        store.create_issue_from_document(db, "another-name.md", DEMO.read_bytes())
    error = caught.value
    assert error.code == "issue.duplicate"
    assert error.duplicate_of == demo.id
    assert error.params["title"] == demo.title and error.params["number"] == demo.number
    assert f"issue {demo.id}" in str(error) and "UTC" in str(error)
    assert _issue_count(db) == 1


def test_a_duplicate_is_imported_when_asked_for_and_the_audit_says_so(
    db: Session, demo: Issue
) -> None:
    again = store.create_issue_from_document(db, DEMO.name, DEMO.read_bytes(), allow_duplicate=True)
    assert again.id != demo.id and again.content_sha256 == demo.content_sha256
    entry = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None and entry.detail["duplicate_of"] == demo.id


def test_a_different_document_is_not_a_duplicate(db: Session, demo: Issue) -> None:
    other = store.create_issue_from_document(db, HARBOUR.name, HARBOUR.read_bytes())
    assert other.content_sha256 != demo.content_sha256
    assert store.find_duplicate(db, HARBOUR.read_bytes()) == other


# ---- deleting ------------------------------------------------------------------------------


def test_an_issue_no_campaign_used_is_deleted_and_audited(db: Session, demo: Issue) -> None:
    issue_id = demo.id
    store.delete_issue(db, demo, user_id=None, ip="192.0.2.1")
    assert db.get(Issue, issue_id) is None
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "issue.delete")).one()
    assert (entry.target_id, entry.ip) == (str(issue_id), "192.0.2.1")
    assert entry.detail["title"] == "大连数字贸易"
    # With the issue gone, the same document imports again without a warning.
    store.create_issue_from_document(db, DEMO.name, DEMO.read_bytes())


def test_an_issue_a_campaign_used_cannot_be_deleted_and_the_error_names_the_campaigns(
    db: Session, demo: Issue
) -> None:
    first = _campaign(db, demo, "第一期通讯")
    second = _campaign(db, demo, "再发一次")
    with pytest.raises(store.IssueInUse) as caught:
        store.delete_issue(db, demo)
    assert caught.value.code == "issue.in_use"
    assert caught.value.params["campaign_ids"] == [first.id, second.id]
    assert f"#{first.id} “第一期通讯”" in str(caught.value)
    assert db.get(Issue, demo.id) is not None


# ---- the printed cover -----------------------------------------------------------------------


def test_the_cover_lines_are_replaced_one_per_line_and_blank_lines_dropped(
    db: Session, demo: Issue
) -> None:
    lines = edits.update_cover_lines(db, demo, "季刊\r\n\r\n  大连市数字贸易协会   秘书处编 \n")
    assert lines == ["季刊", "大连市数字贸易协会 秘书处编"]
    doc = store.load_doc(demo)
    assert doc.cover_lines == lines
    # The lines taken out are removed on purpose, not lost.
    assert "内部资料" in doc.removed and "大连市数字贸易协会秘书处编" in doc.removed
    assert store.completeness(demo) == []
    assert db.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == "issue.cover.edit"


def test_a_cover_that_is_really_pasted_text_is_refused(db: Session, demo: Issue) -> None:
    with pytest.raises(store.IssueEditError, match="20 lines"):
        edits.update_cover_lines(db, demo, "\n".join(f"第 {n} 行" for n in range(21)))
    with pytest.raises(store.IssueEditError, match="200 characters"):
        edits.update_cover_lines(db, demo, "长" * 201)
    assert store.load_doc(demo).cover_lines == ["季刊", "大连市数字贸易协会秘书处编", "内部资料"]
