"""A reader leaves: one list or all of them, from the unsubscribe link, the one-click POST
(RFC 8058) or the staff side. Idempotent: a repeated one-click POST does no harm; every
action appends a consent row naming the campaign the reader came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.model import (
    Delivery,
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberStatus,
    SuppressionReason,
    utcnow,
)
from service.subscribers.consent import record_consent
from service.subscribers.suppression import is_suppressed, suppress


@dataclass(frozen=True)
class UnsubscribeResult:
    """The outcome of ``unsubscribe``; ``changed`` is False for a repeat (idempotent)."""

    found: bool
    changed: bool
    lists: tuple[int, ...] = ()
    # Of ``lists``, those that were active (not waiting for confirmation) until now.
    were_active: tuple[int, ...] = ()


def unsubscribe(
    session: Session,
    subscriber_id: int,
    list_ids: int | Sequence[int] | None,
    source: str,
    ip: str | None = None,
    user_agent: str | None = None,
    everything: bool = False,
    campaign_id: int | None = None,
) -> UnsubscribeResult:
    """Leave the given lists, or everything (``everything=True``: all lists, status
    ``unsubscribed`` and a suppression with reason ``unsubscribed``). Idempotent.

    ``campaign_id`` is the campaign whose link was used, for the report; without it the
    newest campaign that reached this person is credited. Safe to call in the request
    that receives an RFC 8058 one-click POST: it only writes to the database (the caller
    commits before answering).
    """
    wanted = (list_ids,) if isinstance(list_ids, int) else tuple(list_ids or ())
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.status == SubscriberStatus.ERASED:
        # Nothing to do: an erased person is already suppressed by the hash of the address.
        return UnsubscribeResult(found=False, changed=False)
    now = utcnow()
    query = select(Membership).where(
        Membership.subscriber_id == subscriber_id,
        Membership.status != MembershipStatus.UNSUBSCRIBED,
    )
    if not everything:
        query = query.where(Membership.list_id.in_(wanted))
    left = list(session.scalars(query))
    were_active = tuple(sorted(m.list_id for m in left if m.status == MembershipStatus.ACTIVE))
    for membership in left:
        membership.status = MembershipStatus.UNSUBSCRIBED
        membership.unsubscribed_at = now
    changed = bool(left)
    if everything:
        if subscriber.status != SubscriberStatus.UNSUBSCRIBED:
            subscriber.status = SubscriberStatus.UNSUBSCRIBED
            changed = True
        if not is_suppressed(session, subscriber.email):
            suppress(session, subscriber.email, SuppressionReason.UNSUBSCRIBED, source)
            changed = True
    session.flush()
    left_ids = tuple(sorted(m.list_id for m in left))
    detail = {
        "changed": changed,
        "lists": list(left_ids),
        "requested": list(wanted),
        "campaign_id": campaign_id or _latest_campaign(session, subscriber_id),
    }
    # One row per list left, so each list's growth chart counts it; a repeat (nothing
    # left) is still logged, under no list, so it is never counted twice.
    for list_id in left_ids or (None,):
        record_consent(
            session,
            subscriber_id=subscriber_id,
            list_id=list_id,
            action="unsubscribe_all" if everything else "unsubscribe",
            source=source,
            ip=ip,
            user_agent=user_agent,
            detail=detail,
        )
    return UnsubscribeResult(found=True, changed=changed, lists=left_ids, were_active=were_active)


def _latest_campaign(session: Session, subscriber_id: int) -> int | None:
    # A link from before campaign-bound unsubscribe tokens carries no campaign, so the
    # report credits the newest campaign that reached this person: almost always the one
    # whose link or List-Unsubscribe header was used.
    return session.scalar(
        select(Delivery.campaign_id)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.sent_at.is_not(None))
        .order_by(Delivery.sent_at.desc())
        .limit(1)
    )
