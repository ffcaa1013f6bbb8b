"""The suppression list as staff see it: search, pages, add by hand, remove with a reason.

The rules themselves (``is_suppressed``, ``suppress``, ``unsuppress``) live in
``suppression.py``; this module adds the admin's view and the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from service.accounts.audit import audit
from service.errors import DomainError
from service.mail.addresses import email_hash, normalise
from service.model import Suppression, SuppressionReason
from service.subscribers.suppression import suppress

PAGE_SIZE = 50
REASON_MIN = 3
NOTE_MAX = 1000


class SuppressionError(DomainError, ValueError):
    """The change to the suppression list cannot be made as asked."""


@dataclass
class SuppressionPage:
    """A page of suppressions (newest first) and the id to continue after."""

    rows: list[Suppression]
    next_before: int | None
    total: int


def search(
    session: Session, q: str = "", before: int | None = None, size: int = PAGE_SIZE
) -> SuppressionPage:
    """Suppressions matching ``q`` (part of an address, or an exact address whose row
    keeps only the hash), newest first, keyset-paged on id."""
    conds = []
    text = q.strip()
    if text:
        conds.append(
            or_(
                Suppression.email.icontains(text, autoescape=True),
                Suppression.email_hash == email_hash(text),
            )
        )
    query = select(Suppression).where(*conds)
    if before:
        query = query.where(Suppression.id < before)
    rows = list(session.scalars(query.order_by(Suppression.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    total = int(session.scalar(select(func.count(Suppression.id)).where(*conds)) or 0)
    return SuppressionPage(rows, rows[-1].id if more and rows else None, total)


def add_manual(
    session: Session, raw: str, note: str, user_id: int | None, ip: str | None = None
) -> Suppression:
    """Suppress an address by hand (reason ``manual``); ``InvalidAddress`` for a bad one."""
    address = normalise(raw)
    row = suppress(
        session, address.email, SuppressionReason.MANUAL, source="admin", note=note[:NOTE_MAX]
    )
    audit(session, user_id, "suppression.add", "suppression", row.id, ip, email=address.email)
    return row


def remove(
    session: Session, suppression_id: int, reason: str, user_id: int | None, ip: str | None = None
) -> Suppression:
    """Take a row off the list. The reason is required and kept in the audit log with
    what the row said (an erased person's row has only its hash)."""
    reason = " ".join((reason or "").split())
    if len(reason) < REASON_MIN:
        raise SuppressionError("suppression.no_reason", "say why this address may be mailed again")
    row = session.get(Suppression, suppression_id)
    if row is None:
        raise SuppressionError("suppression.gone", "that suppression no longer exists")
    audit(
        session,
        user_id,
        "suppression.remove",
        "suppression",
        row.id,
        ip,
        reason=reason,
        email=row.email,
        suppression_reason=row.reason,
        source=row.source,
        created_at=row.created_at.isoformat(),
    )
    session.delete(row)
    session.flush()
    return row
