"""「误操作？重新订阅」: undoing an unsubscribe from the page that confirms it.

The unsubscribed page offers one button; its POST carries the same signed unsubscribe
token, which is stateless and never expires, so what it may undo is kept in
``unsubscribe_undos`` (keyed by the token's SHA-256): the lists that were active until
that unsubscribe, and whether it left everything. The undo is single-use. The reader
comes back without a new double opt-in: the link reached their mailbox, which is what
the confirmation proved. Only a suppression the unsubscribe itself made is lifted; a
bounce or a complaint since then refuses the undo.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.mail.addresses import email_hash
from service.model import (
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    UnsubscribeUndo,
    utcnow,
)
from service.subscribers.consent import record_consent
from service.subscribers.suppression import unsuppress
from service.subscribers.unsubscribing import UnsubscribeResult

UNDO_SOURCE = "undo"


class UndoOutcome(enum.StrEnum):
    """What pressing 「重新订阅」 did."""

    UNDONE = "undone"
    ALREADY_USED = "already_used"
    NOTHING = "nothing"  # this link unsubscribed nothing that can be undone
    REFUSED = "refused"  # suppressed since for another reason (bounce, complaint, staff)


@dataclass(frozen=True)
class UndoResult:
    """The outcome of ``undo_unsubscribe`` and the lists it put the reader back on."""

    outcome: UndoOutcome
    lists: tuple[int, ...] = ()


def _token_hash(token: str) -> str:
    # Tokens are read in either case (clients change it), so one case is hashed.
    return hashlib.sha256(token.lower().encode()).hexdigest()


def _find(session: Session, token: str) -> UnsubscribeUndo | None:
    return session.scalar(
        select(UnsubscribeUndo).where(UnsubscribeUndo.token_hash == _token_hash(token))
    )


def remember_for_undo(
    session: Session, token: str, subscriber_id: int, result: UnsubscribeResult, everything: bool
) -> bool:
    """Keep what the page's unsubscribe with ``token`` left, so its page can offer the
    undo; return whether it offers one (not once the undo of this link was used)."""
    row = _find(session, token)
    if row is not None and row.used_at is not None:
        return False
    left_something = bool(result.were_active) or (everything and result.changed)
    if row is None and not left_something:
        return False
    if row is None:
        row = UnsubscribeUndo(
            token_hash=_token_hash(token), subscriber_id=subscriber_id, list_ids=[]
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # the same button pressed twice at once: use the other row
            return _find(session, token) is not None
    # A second press of "unsubscribe" (say from everything, after one list) adds to it.
    row.list_ids = sorted(set(row.list_ids) | set(result.were_active))
    row.everything = bool(row.everything) or everything
    session.flush()
    return True


def undo_available(session: Session, token: str) -> bool:
    """Whether ``token`` has an unused undo (the unsubscribed page shows the button)."""
    row = _find(session, token)
    return row is not None and row.used_at is None


def undo_unsubscribe(
    session: Session,
    token: str,
    subscriber_id: int,
    ip: str | None = None,
    user_agent: str | None = None,
) -> UndoResult:
    """Put the reader back on the lists the page's unsubscribe with ``token`` left.

    Single use (a guarded UPDATE, so two presses in flight undo once). The caller has
    checked the token's signature and commits.
    """
    row = _find(session, token)
    subscriber = session.get(Subscriber, subscriber_id)
    if row is None or row.subscriber_id != subscriber_id or subscriber is None:
        return UndoResult(UndoOutcome.NOTHING)
    if subscriber.status == SubscriberStatus.ERASED:
        return UndoResult(UndoOutcome.NOTHING)
    if row.used_at is not None:
        return UndoResult(UndoOutcome.ALREADY_USED)
    suppression = session.scalar(
        select(Suppression).where(Suppression.email_hash == email_hash(subscriber.email))
    )
    if suppression is not None and not _made_by(row, suppression):
        return UndoResult(UndoOutcome.REFUSED)
    claimed = session.execute(
        update(UnsubscribeUndo)
        .where(UnsubscribeUndo.id == row.id, UnsubscribeUndo.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return UndoResult(UndoOutcome.ALREADY_USED)
    if suppression is not None:
        unsuppress(session, subscriber.email)
    back = _rejoin(session, subscriber, row.list_ids)
    for list_id in back or (None,):
        record_consent(
            session,
            subscriber_id=subscriber_id,
            list_id=list_id,
            action="subscribe",
            source=UNDO_SOURCE,
            ip=ip,
            user_agent=user_agent,
            detail={"status": "active", "undo_of": row.id, "everything": row.everything},
        )
    return UndoResult(UndoOutcome.UNDONE, back)


def _made_by(row: UnsubscribeUndo, suppression: Suppression) -> bool:
    # "Leave everything" suppresses the address with reason "unsubscribed"; anything
    # else (a bounce, a complaint, staff) came from elsewhere and stays.
    return row.everything and suppression.reason == SuppressionReason.UNSUBSCRIBED


def _rejoin(session: Session, subscriber: Subscriber, list_ids: list[int]) -> tuple[int, ...]:
    """Make the memberships left by the unsubscribe active again; the ones changed since
    (joined again through the preferences page) stay as they are."""
    rows = session.scalars(
        select(Membership).where(
            Membership.subscriber_id == subscriber.id,
            Membership.list_id.in_(list_ids),
            Membership.status == MembershipStatus.UNSUBSCRIBED,
        )
    )
    back = []
    for membership in rows:
        membership.status = MembershipStatus.ACTIVE
        membership.unsubscribed_at = None
        back.append(membership.list_id)
    subscriber.status = SubscriberStatus.ENABLED
    session.flush()
    return tuple(sorted(back))
