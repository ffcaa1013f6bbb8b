"""The delivery ledger (DESIGN §5): the database decides who gets a message, exactly once.

* ``materialize`` snapshots the audience: one ``deliveries`` row per recipient, inserted in
  keyset chunks (never the whole audience in memory), idempotent through
  UNIQUE(campaign, subscriber).
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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, exists, func, select, update
from sqlalchemy.orm import Session

from service.campaigns.attention import attention_json
from service.campaigns.campaign_states import LIVE
from service.campaigns.service import campaign_conditions, campaign_list_ids, finish
from service.db import insert_ignoring_duplicates, refresh_statistics
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
    CONFIRM_RESERVED,
    DISPATCH,
    DROP_RESERVED,
    MATERIALIZE,
    RESERVE,
    SKIP_UNWANTED,
    SWEEP_QUEUED,
    SWEEP_SENDING,
    moved,
    removed,
)
from service.subscribers.segments import audience
from service.subscribers.suppression import suppressed_reasons

# Subscribers read and rows inserted per materialize step (memory stays flat).
MATERIALIZE_CHUNK = 5000
# The first step is smaller and is dispatched at once (``materialize``'s ``started``):
# the first batches go out while the rest of the audience is still being made, instead
# of after it (at 10,000 members that wait was a tenth of the campaign; at a million,
# minutes). Enough for the batches a campaign keeps in flight by default.
FIRST_CHUNK = 1000
# Rows listed per dispatch query; batches are cut from these.
DISPATCH_SCAN = 2000
# Rows that still need work: a campaign with none of these is finished.
OPEN_STATES = (
    DeliveryStatus.PENDING,
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENDING,
    DeliveryStatus.RETRY_DUE,
)
ALL_COUNTERS = (
    "pending",
    "queued",
    "sending",
    "sent",
    "failed",
    "retry_due",
    "unknown",
    "skipped",
    "bounced_soft",
    "bounced_hard",
    "complained",
)
# Delivered to the relay: sent plus what events changed it into afterwards.
DELIVERED_STATES = ("sent", "bounced_soft", "bounced_hard", "complained")
# Window over which the progress rate is measured.
RATE_WINDOW_SECONDS = 60

Enqueue = Callable[[int, list[int]], None]


# ------------------------------------------------------------------ materialize


Conditions = Sequence[Mapping[str, Any]]


def _audience(list_ids: Sequence[int], conditions: Conditions = ()) -> Select[int, str]:
    """Enabled subscribers with an active membership in any of the lists who match the
    segment's ``conditions`` (before suppression), as ``(id, email)``."""
    return select(Subscriber.id, Subscriber.email).where(audience(list_ids, conditions))


def _audience_chunk(
    session: Session, list_ids: Sequence[int], conditions: Conditions, after: int, limit: int
) -> list[tuple[int, str]]:
    rows = session.execute(
        _audience(list_ids, conditions)
        .where(Subscriber.id > after)
        .order_by(Subscriber.id)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows]


class NotARecipient(LookupError):
    """The subscriber is not (or no longer) in the campaign's audience: it would be sent
    nothing, so there is nothing to render."""


def reserve(session: Session, campaign_id: int, subscriber_id: int) -> int:
    """The id of the subscriber's delivery row: the existing one, or one made now as
    ``reserved`` (for a campaign not yet materialized) when the subscriber is in its
    audience. Its message's Message-ID and tokens derive from this id, so what
    ``campaign render`` writes is what is later sent. Raises ``NotARecipient``."""
    existing = session.scalar(
        select(Delivery.id).where(
            Delivery.campaign_id == campaign_id, Delivery.subscriber_id == subscriber_id
        )
    )
    if existing is not None:
        return int(existing)
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.materialized_at is not None:
        raise NotARecipient(f"subscriber {subscriber_id} is not a recipient of this campaign")
    row = session.execute(
        _audience(
            campaign_list_ids(session, campaign_id), campaign_conditions(session, campaign_id)
        ).where(Subscriber.id == subscriber_id)
    ).first()
    if row is None or _suppressed(session, [row[1]]):
        raise NotARecipient(
            f"subscriber {subscriber_id} is not in the audience of campaign {campaign_id} "
            "(no active membership of its lists, outside its segment, disabled, or suppressed)"
        )
    delivery = Delivery(
        campaign_id=campaign_id,
        subscriber_id=subscriber_id,
        email=row[1],
        status=RESERVE.target,
        attempts=0,
    )
    session.add(delivery)
    session.flush()
    return delivery.id


def _suppressed(session: Session, emails: Sequence[str]) -> set[str]:
    """Which of ``emails`` are on the suppression list (one query per chunk)."""
    return set(suppressed_reasons(session, emails))


def materialize(
    session: Session,
    campaign_id: int,
    chunk: int = MATERIALIZE_CHUNK,
    started: Callable[[], object] | None = None,
) -> int:
    """Insert one ``pending`` row per recipient; commits after every chunk.

    ``started()`` is called once, after the first (smaller) chunk is committed, so the
    caller can dispatch those rows while the rest are made; finishing still waits for the
    whole audience (``finalize`` needs ``materialized_at``).

    Recipients: enabled subscribers with an active membership in any of the campaign's
    lists who match its segment (judged now, chunk by chunk), minus suppressed addresses.
    Safe to run again (or concurrently): existing rows
    are left alone. Sets ``materialized_at`` and ``recipients_total`` at the end and
    returns the total. Each chunk re-checks the campaign: once it is no longer running or
    paused (cancelled meanwhile), the chunk is dropped and 0 is returned.
    """
    list_ids = campaign_list_ids(session, campaign_id)
    conditions = campaign_conditions(session, campaign_id)
    reserved = _has_reserved(session, campaign_id)
    # Right after an import the statistics still say "empty table"; the planner then
    # joins members by a nested loop without the index (measured: 2.2 s per 5,000-row
    # chunk at 10,000 members, quadratic beyond).
    refresh_statistics(session, ["subscribers", "memberships"])
    after = 0
    step = min(chunk, FIRST_CHUNK) if started is not None else chunk
    while True:
        people = _audience_chunk(session, list_ids, conditions, after, step)
        if not people:
            break
        after = people[-1][0]
        blocked = _suppressed(session, [email for _, email in people])
        rows = [
            {
                "campaign_id": campaign_id,
                "subscriber_id": sid,
                "email": email,
                "status": MATERIALIZE.target,
                "attempts": 0,
            }
            for sid, email in people
            if email not in blocked
        ]
        if rows:
            stmt = insert_ignoring_duplicates(session, Delivery, ["campaign_id", "subscriber_id"])
            session.execute(stmt, rows)
            if reserved:
                _confirm_reserved(
                    session, campaign_id, [sid for sid, email in people if email not in blocked]
                )
        if not _still_sendable(session, campaign_id):
            # Cancelled (or gone) meanwhile: cancel skipped the rows it could see; rows of
            # this chunk would stay `pending` forever, so they are not kept, and we stop.
            session.rollback()
            return 0
        session.commit()
        if started is not None:
            started()  # once: the first rows go out while the rest are made
            started, step = None, chunk
    if reserved:
        # Rendered for someone who has left the audience since: they get nothing.
        session.execute(removed(DROP_RESERVED, Delivery.campaign_id == campaign_id))
    total = session.scalar(
        select(func.count(Delivery.id)).where(Delivery.campaign_id == campaign_id)
    )
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(materialized_at=utcnow(), recipients_total=total or 0)
    )
    session.commit()
    # Without fresh statistics the planner picks sequential scans for every claim and
    # dispatch of this campaign.
    refresh_statistics(session, ["deliveries"])
    return int(total or 0)


def _has_reserved(session: Session, campaign_id: int) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    Delivery.campaign_id == campaign_id,
                    Delivery.status == DeliveryStatus.RESERVED,
                )
            )
        )
    )


def _confirm_reserved(session: Session, campaign_id: int, subscriber_ids: list[int]) -> None:
    """Rows reserved by ``campaign render`` for subscribers still in the audience become
    ``pending`` (the insert above left them alone: they existed)."""
    session.execute(
        moved(
            CONFIRM_RESERVED,
            Delivery.campaign_id == campaign_id,
            Delivery.subscriber_id.in_(subscriber_ids),
        )
    )


def _still_sendable(session: Session, campaign_id: int) -> bool:
    """Whether the campaign is still running or paused, read AFTER this chunk's insert.

    ``FOR UPDATE`` (PostgreSQL) holds the campaign row until our commit, so a cancel
    either came first (we see it and roll back) or waits and then skips our rows too.
    SQLite has one writer at a time: our insert already excludes a concurrent cancel.
    """
    status = session.scalar(
        select(Campaign.status).where(Campaign.id == campaign_id).with_for_update()
    )
    return status in LIVE


def audience_count(session: Session, list_ids: Sequence[int], conditions: Conditions = ()) -> int:
    """How many distinct enabled, active subscribers the lists reach who match the
    segment's ``conditions`` (before suppression)."""
    if not list_ids:
        return 0
    where = audience(list_ids, conditions)
    return int(session.scalar(select(func.count(Subscriber.id)).where(where)) or 0)


@dataclass(frozen=True)
class AudienceSummary:
    """Who a campaign's lists reach: recipients (suppressed addresses left out), the
    suppressed addresses left out, and the first recipient's address (None: nobody)."""

    recipients: int
    suppressed: int
    first: str | None


def audience_summary(
    session: Session,
    list_ids: Sequence[int],
    conditions: Conditions = (),
    chunk: int = MATERIALIZE_CHUNK,
) -> AudienceSummary:
    """What ``materialize`` would make of the lists (and segment ``conditions``) now,
    counted without writing rows."""
    recipients = suppressed = after = 0
    first: str | None = None
    while list_ids and (people := _audience_chunk(session, list_ids, conditions, after, chunk)):
        after = people[-1][0]
        blocked = _suppressed(session, [email for _, email in people])
        suppressed += len(blocked)
        recipients += len(people) - len(blocked)
        if first is None:
            first = next((email for _, email in people if email not in blocked), None)
    return AudienceSummary(recipients, suppressed, first)


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
    blocked = _suppressed(session, [r.email for r in rows])
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


# ------------------------------------------------------------------ progress


def counts(session: Session, campaign_id: int) -> dict[str, int]:
    """Rows per status (every status present, zeros included)."""
    result = dict.fromkeys(ALL_COUNTERS, 0)
    for status, n in session.execute(
        select(Delivery.status, func.count(Delivery.id))
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status)
    ):
        result[str(status)] = int(n)
    return result


def resent_counts(session: Session, campaign_id: int) -> dict[str, int]:
    """Rows sent again by "resend unknown", per status they are in now (absent: none)."""
    rows = session.execute(
        select(Delivery.status, func.count(Delivery.id))
        .where(Delivery.campaign_id == campaign_id, Delivery.resends > 0)
        .group_by(Delivery.status)
    )
    return {str(status): int(n) for status, n in rows}


def progress(session: Session, campaign_id: int) -> dict[str, object]:
    """Status and counters for the CLI, the API and the live progress bar.

    ``rate_per_minute`` is measured over the last minute; ``eta_seconds`` is the open
    rows at that rate (None when nothing is moving). ``needs_attention`` says how many
    rows are ``unknown`` and what to do about them (None when none are: see
    ``attention``); ``resent`` is the rows staff sent again by "resend unknown".
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"there is no campaign {campaign_id}")
    numbers = counts(session, campaign_id)
    total = sum(numbers.values())
    since = utcnow() - timedelta(seconds=RATE_WINDOW_SECONDS)
    recent = session.scalar(
        select(func.count(Delivery.id)).where(
            Delivery.campaign_id == campaign_id, Delivery.sent_at >= since
        )
    )
    rate = float(recent or 0) * 60.0 / RATE_WINDOW_SECONDS
    remaining = sum(numbers[s] for s in ("pending", "queued", "sending", "retry_due"))
    delivered = sum(numbers[s] for s in DELIVERED_STATES)
    done = total - remaining
    return {
        "id": campaign.id,
        "status": campaign.status,
        "status_reason": campaign.status_reason,
        "subject": campaign.subject,
        "total": total,
        **numbers,
        "delivered": delivered,
        "done": done,
        "percent": round(100.0 * done / total, 1) if total else 0.0,
        "rate_per_minute": round(rate, 1),
        "eta_seconds": round(remaining / (rate / 60.0)) if rate > 0 and remaining else None,
        "materialized": campaign.materialized_at is not None,
        "started_at": campaign.started_at.isoformat() if campaign.started_at else None,
        "finished_at": campaign.finished_at.isoformat() if campaign.finished_at else None,
        "scheduled_at": campaign.scheduled_at.isoformat() if campaign.scheduled_at else None,
        "resent": sum(resent_counts(session, campaign_id).values()),
        "needs_attention": attention_json(campaign.status, numbers["unknown"]),
    }
