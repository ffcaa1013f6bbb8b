"""A campaign's progress, counted from its ledger rows: rows per status, those sent again,
and the counters, rate and ETA the CLI, the API and the live progress bar show.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.campaigns.attention import attention_json
from service.model import Campaign, Delivery, utcnow

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
