"""Reading the audit log: newest first, filtered by user and action, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.model import AuditEntry, User

PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditPage:
    """One page of entries (with the actor's address) and the cursor of the next one."""

    rows: list[tuple[AuditEntry, str | None]]
    next_before: int | None


def search(
    session: Session,
    user_id: int | None = None,
    action: str = "",
    before: int | None = None,
    page_size: int = PAGE_SIZE,
) -> AuditPage:
    """Entries newest first (keyset on id: stable while new entries arrive).

    ``action`` matches a whole action or a prefix ending at a dot (``campaign`` finds
    ``campaign.start`` and ``campaign.pause``).
    """
    query = (
        select(AuditEntry, User.email)
        .outerjoin(User, User.id == AuditEntry.user_id)
        .order_by(AuditEntry.id.desc())
        .limit(page_size + 1)
    )
    if user_id is not None:
        query = query.where(AuditEntry.user_id == user_id)
    if action:
        query = query.where(
            (AuditEntry.action == action) | AuditEntry.action.startswith(action.rstrip(".") + ".")
        )
    if before is not None:
        query = query.where(AuditEntry.id < before)
    rows: list[tuple[AuditEntry, str | None]] = [(e, m) for e, m in session.execute(query)]
    more = len(rows) > page_size
    rows = rows[:page_size]
    return AuditPage(rows=rows, next_before=rows[-1][0].id if more and rows else None)


def known_actions(session: Session) -> list[str]:
    """Distinct actions seen, for the filter's choices."""
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def staff_choices(session: Session) -> list[tuple[int, str]]:
    """Every staff member (id, address), for the filter's choices."""
    return [
        (uid, email)
        for uid, email in session.execute(select(User.id, User.email).order_by(User.email))
    ]
