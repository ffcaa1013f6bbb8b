"""The demo: the association's real journal issue, a member list and a few subscribers,
so a newcomer's first ``tidings up`` shows something real."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.issues.publishing import publish
from service.issues.store import create_issue_from_document, find_duplicate
from service.model import (
    Consent,
    Issue,
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    utcnow,
)

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo" / "dldta-2026-q1.md"
DEMO_ISSUE_SLUG = "dldta-2026-q1"
DEMO_LIST_SLUG = "members"
DEMO_LIST_NAME = "会员单位"
# Migration 0010 recognises the demo list by its slug and this text (keep them in step).
DEMO_LIST_DESCRIPTION = "大连市数字贸易协会会员单位联系人（演示数据）"
DEMO_SUBSCRIBERS = [
    ("wang.li@example.org", "王立", "大连金慧融智科技股份有限公司"),
    ("zhang.min@example.org", "张敏", "信华信技术股份有限公司"),
    ("liu.yang@example.org", "刘洋", "大连远东数码有限公司"),
    ("chen.jing@example.org", "陈静", "中软国际科技服务（大连）有限公司"),
    ("zhao.lei@example.org", "赵磊", "聚思鸿信息技术服务（大连）有限公司"),
    ("secretariat@example.org", "协会秘书处", "大连市数字贸易协会"),
]


@dataclass(frozen=True)
class DemoResult:
    """What ``load_demo`` created (zeros when the demo was already there)."""

    issue_id: int
    list_id: int
    subscribers_added: int
    created: bool


def load_demo(session: Session) -> DemoResult:
    """Load the demo issue, list and subscribers; running it twice changes nothing."""
    issue = session.scalar(select(Issue).where(Issue.slug == DEMO_ISSUE_SLUG))
    if issue is None:
        # Staff may have uploaded the demo file under another name: use that issue rather
        # than import an identical second one.
        issue = find_duplicate(session, DEMO_FILE.read_bytes())
    created = issue is None
    if issue is None:
        issue = _demo_issue(session)
    mailing_list = session.scalar(select(MailingList).where(MailingList.slug == DEMO_LIST_SLUG))
    if mailing_list is None:
        mailing_list = MailingList(
            slug=DEMO_LIST_SLUG,
            name=DEMO_LIST_NAME,
            description=DEMO_LIST_DESCRIPTION,
            # Public and double opt-in, so the demo's sign-up page works as a real one.
            public=True,
            double_opt_in=True,
        )
        session.add(mailing_list)
    session.flush()
    added = 0
    for email, name, org in DEMO_SUBSCRIBERS:
        if session.scalar(select(Subscriber.id).where(Subscriber.email == email)) is not None:
            continue
        sub = Subscriber(email=email, email_ascii=email, name=name, organisation=org)
        session.add(sub)
        session.flush()
        session.add(
            Membership(
                subscriber_id=sub.id,
                list_id=mailing_list.id,
                status=MembershipStatus.ACTIVE,
                confirmed_at=utcnow(),
            )
        )
        session.add(
            Consent(
                subscriber_id=sub.id,
                list_id=mailing_list.id,
                action="subscribe",
                source="demo",
                detail={"note": "demo data"},
            )
        )
        added += 1
    session.flush()
    return DemoResult(
        issue_id=issue.id, list_id=mailing_list.id, subscribers_added=added, created=created
    )


def _demo_issue(session: Session) -> Issue:
    """Import the demo document as a structured issue and publish it to the web archive."""
    # The slug comes from the file name (dldta-2026-q1), which load_demo looks for next time.
    issue = create_issue_from_document(session, DEMO_FILE.name, DEMO_FILE.read_bytes())
    publish(session, issue)
    return issue
