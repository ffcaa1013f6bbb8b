"""Publishing an issue in the public web archive, and the archive's addresses.

The archive URL of an issue is also where excerpt-mode links point; an issue not published
yet is opened by a signed preview token (the links of a test send must answer too).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from service.accounts.audit import audit
from service.config import Settings
from service.issues.store import IssueEditError, load_doc
from service.model import Issue, utcnow

__all__ = [
    "archive_url",
    "latest_published",
    "preview_archive_url",
    "preview_token",
    "publish",
    "read_preview_token",
    "unpublish",
]


def publish(session: Session, issue: Issue, user_id: int | None = None) -> None:
    """Show the issue in the public web archive (keeps the first publication time)."""
    if not any(True for _ in load_doc(issue).articles()):
        raise IssueEditError(
            "issue.publish_empty", "An issue without articles cannot be published."
        )
    if issue.published_at is None:
        issue.published_at = utcnow()
    issue.keep_private = False
    session.flush()
    audit(session, user_id, "issue.publish", "issue", issue.id)


def unpublish(
    session: Session, issue: Issue, user_id: int | None = None, *, keep_private: bool = False
) -> None:
    """Take the issue out of the public web archive; ``keep_private`` also keeps it out
    when a campaign of it starts (its mail then goes out in full, with no archive links)."""
    issue.published_at = None
    issue.keep_private = keep_private
    session.flush()
    audit(
        session,
        user_id,
        "issue.keep_private" if keep_private else "issue.unpublish",
        "issue",
        issue.id,
    )


def latest_published(session: Session) -> Issue | None:
    """The newest issue in the public web archive (the archive's first entry), or None."""
    return session.scalar(
        select(Issue)
        .options(defer(Issue.source_data))
        .where(Issue.published_at.is_not(None))
        .order_by(Issue.published_at.desc(), Issue.id.desc())
        .limit(1)
    )


def archive_url(settings: Settings, slug: str) -> str:
    """The public web-archive page of an issue (also the excerpt links' target)."""
    return f"{settings.base_url.rstrip('/')}/archive/{slug}"


_PREVIEW_SALT = "tidings-archive-preview"


def preview_token(secret: str, slug: str) -> str:
    """A token that opens the archive page of an issue not published yet: the links of a
    test send, which goes out before the campaign publishes the issue, must answer too."""
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(secret, salt=_PREVIEW_SALT).dumps(slug)


def read_preview_token(secret: str, token: str) -> str | None:
    """The slug a preview token opens, or None for a forged or mangled one."""
    from itsdangerous import BadData, URLSafeSerializer

    try:
        value = URLSafeSerializer(secret, salt=_PREVIEW_SALT).loads(token)
    except (BadData, UnicodeError, ValueError):
        return None
    return value if isinstance(value, str) else None


def preview_archive_url(settings: Settings, issue: Issue) -> str:
    """The archive URL a test send links to: the public one once published, else one
    carrying a preview token."""
    url = archive_url(settings, issue.slug)
    if issue.published_at is not None:
        return url
    return f"{url}?preview={preview_token(settings.secret_key, issue.slug)}"
