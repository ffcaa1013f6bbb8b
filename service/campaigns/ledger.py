"""The delivery ledger (DESIGN §5): the database decides who gets a message, exactly once.

The rows are made by ``recipients`` (one per recipient, when the campaign starts) and
counted by ``progress``; here they move:

* ``dispatch`` marks a chunk of ``pending`` / due ``retry_due`` rows ``queued`` with one
  guarded UPDATE, COMMITS, and only then hands ``(campaign_id, ids)`` batches to the
  queue. A lost hint leaves rows ``queued``; ``sweep`` returns them to ``pending``.
* ``claim`` is the only way to ``sending``: one guarded UPDATE that also requires the
  campaign to be running. A duplicate task message claims nothing.
* ``sweep`` handles what crashes leave behind; ``finalize`` finishes campaigns from the
  ledger's counts (never chords).

Every status a row takes is a named move of ``service.model.delivery_states`` (one guarded
UPDATE each); nothing here writes ``Delivery.status`` by hand.

Functions here that say "commits" end their own transactions; give them a plain session,
not one inside ``session.begin()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from service.campaigns.drafts import campaign_list_ids
from service.campaigns.recipients import suppressed_among
from service.campaigns.service import finish
from service.model import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from service.model.delivery_states import (
    CLAIM,
    DISPATCH,
    SKIP_UNWANTED,
    SWEEP_QUEUED,
    SWEEP_SENDING,
    moved,
)

# Rows listed per dispatch query; batches are cut from these.
DISPATCH_SCAN = 2000
# Rows that still need work: a campaign with none of these is finished.
OPEN_STATES = (
    DeliveryStatus.PENDING,
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENDING,
    DeliveryStatus.RETRY_DUE,
)

Enqueue = Callable[[int, list[int]], None]


# ------------------------------------------------------------------ dispatch and claim


def dispatch(
    session: Session,
    campaign_id: int,
    enqueue: Enqueue,
    *,
    batch_size: int,
    max_batches_in_flight: int,
) -> int:
    """Queue due rows of a running campaign and enqueue them AFTER the commit; commits.

    Keeps at most ``max_batches_in_flight`` batches queued per campaign. Returns the
    number of rows queued (0 when the campaign is not running).
    """
    running = session.scalar(
        select(Campaign.id).where(
            Campaign.id == campaign_id, Campaign.status == CampaignStatus.RUNNING
        )
    )
    if running is None:
        session.rollback()
        return 0
    queued_now = session.scalar(
        select(func.count(Delivery.id)).where(
            Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.QUEUED
        )
    )
    room = max_batches_in_flight * batch_size - int(queued_now or 0)
    if room < batch_size:
        session.rollback()
        return 0
    now = utcnow()
    candidates = list(
        session.scalars(
            select(Delivery.id)
            .where(Delivery.campaign_id == campaign_id, DISPATCH.guard(now))
            .order_by(Delivery.id)
            .limit(min(room, DISPATCH_SCAN))
        )
    )
    if not candidates:
        session.rollback()
        return 0
    # The guard repeats the condition: a row another dispatcher queued meanwhile is not
    # queued twice, and only the ids this UPDATE returns are enqueued.
    queued = sorted(
        session.scalars(
            moved(DISPATCH, Delivery.id.in_(candidates), now=now, queued_at=now).returning(
                Delivery.id
            )
        )
    )
    session.commit()
    for start in range(0, len(queued), batch_size):
        enqueue(campaign_id, queued[start : start + batch_size])
    return len(queued)


def claim(
    session: Session,
    campaign_id: int,
    delivery_ids: Sequence[int],
    claim_id: int | None = None,
) -> list[int]:
    """Take rows for sending: ONE guarded UPDATE, then the suppression re-check; commits.

    Only rows still ``queued`` (or ``retry_due`` and due) of a campaign that is running
    are taken; a duplicate or stale task message gets nothing. Claimed rows whose
    subscriber has since unsubscribed, been disabled or suppressed become ``skipped``.
    ``claim_id`` names the batch's ``send_claims`` row on the rows (``claims``). Returns
    the ids to send.
    """
    if not delivery_ids:
        return []
    now = utcnow()
    is_running = exists().where(
        Campaign.id == campaign_id, Campaign.status == CampaignStatus.RUNNING
    )
    claimed = list(
        session.scalars(
            moved(
                CLAIM,
                Delivery.id.in_(list(delivery_ids)),
                Delivery.campaign_id == campaign_id,
                is_running,
                now=now,
                claimed_at=now,
                claim_id=claim_id,
            ).returning(Delivery.id)
        )
    )
    skipped = _no_longer_wanted(session, campaign_id, claimed)
    for reason, ids in skipped.items():
        session.execute(moved(SKIP_UNWANTED, Delivery.id.in_(ids), last_error=reason))
    session.commit()
    gone = {i for ids in skipped.values() for i in ids}
    return sorted(i for i in claimed if i not in gone)


def _no_longer_wanted(
    session: Session, campaign_id: int, ids: Sequence[int]
) -> dict[str, list[int]]:
    """Claimed rows that must not be sent, grouped by the reason stored on them."""
    if not ids:
        return {}
    list_ids = campaign_list_ids(session, campaign_id)
    active = exists().where(
        Membership.subscriber_id == Delivery.subscriber_id,
        Membership.list_id.in_(list_ids),
        Membership.status == MembershipStatus.ACTIVE,
    )
    rows = session.execute(
        select(Delivery.id, Delivery.email, Subscriber.status, active)
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.id.in_(list(ids)))
    ).all()
    reasons: dict[str, list[int]] = {}
    blocked = suppressed_among(session, [r.email for r in rows])
    for row in rows:
        reason = None
        if row.status is None:
            reason = "subscriber deleted"
        elif row.status != SubscriberStatus.ENABLED:
            reason = f"subscriber {row.status}"
        elif row.email in blocked:
            reason = "suppressed"
        elif not row[3]:
            reason = "unsubscribed from the campaign's lists"
        if reason:
            reasons.setdefault(reason, []).append(row.id)
    return reasons


# ------------------------------------------------------------------ sweep and finalize


@dataclass(frozen=True)
class SweepResult:
    """What one sweep changed."""

    requeued: int
    unknown: int


def sweep(session: Session, *, queued_after: timedelta, sending_after: timedelta) -> SweepResult:
    """Repair what crashes leave; commits.

    ``queued`` rows older than ``queued_after`` lost their queue message (Redis restart,
    a worker killed holding it): back to ``pending``. ``sending`` rows older than
    ``sending_after`` belonged to a worker that died mid-batch: ``unknown`` — the message
    may or may not have left, so it is reported and never re-sent by itself.
    """
    now = utcnow()
    requeued = session.execute(
        moved(SWEEP_QUEUED, Delivery.queued_at < now - queued_after, queued_at=None)
    ).rowcount  # type: ignore[attr-defined]
    unknown = session.execute(
        moved(
            SWEEP_SENDING,
            Delivery.claimed_at < now - sending_after,
            last_error="the worker stopped while sending; the message may or may not have left",
        )
    ).rowcount  # type: ignore[attr-defined]
    session.commit()
    return SweepResult(int(requeued or 0), int(unknown or 0))


def finalize(session: Session, campaign_id: int | None = None) -> list[int]:
    """Finish every running, materialized campaign with no open rows (or only
    ``campaign_id``: the worker of a campaign's last batch finishes it at once); commits.

    Returns the ids finished. ``unknown`` rows do not hold a campaign open: they are
    reported on its page, where staff may resend them.
    """
    open_rows = exists().where(
        Delivery.campaign_id == Campaign.id,
        Delivery.status.in_([str(s) for s in OPEN_STATES]),
    )
    done_campaigns = select(Campaign.id).where(
        Campaign.status == CampaignStatus.RUNNING,
        Campaign.materialized_at.is_not(None),
        ~open_rows,
    )
    if campaign_id is not None:
        done_campaigns = done_campaigns.where(Campaign.id == campaign_id)
    ids = list(session.scalars(done_campaigns))
    done = []
    for done_id in ids:
        try:
            finish(session, done_id)
            done.append(done_id)
        except RuntimeError:
            session.rollback()
            continue
    session.commit()
    return done
