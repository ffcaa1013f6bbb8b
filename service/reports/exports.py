"""The export of a campaign's report: one row per recipient with its outcome, streamed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import and_, case, false, func, select, true
from sqlalchemy.orm import Session

from service.model import Delivery, Engagement, Event
from service.reports.queries import BOUNCE_EVENT_TYPES

EXPORT_CHUNK = 2000
EXPORT_COLUMNS = (
    "email",
    "status",
    "sent_at",
    "opens",
    "machine_opens",
    "clicks",
    "bounce",
    "last_error",
)


def recipient_outcomes(session: Session, campaign_id: int) -> Iterator[tuple[Any, ...]]:
    """Per-recipient outcome rows (``EXPORT_COLUMNS``), streamed in id-keyset chunks."""
    last_id = 0
    while True:
        deliveries = session.execute(
            select(
                Delivery.id, Delivery.email, Delivery.status, Delivery.sent_at, Delivery.last_error
            )
            .where(Delivery.campaign_id == campaign_id, Delivery.id > last_id)
            .order_by(Delivery.id)
            .limit(EXPORT_CHUNK)
        ).all()
        if not deliveries:
            return
        last_id = deliveries[-1].id
        stats = _outcome_stats(session, [d.id for d in deliveries])
        for d in deliveries:
            s = stats.get(d.id, {})
            yield (
                d.email,
                d.status,
                d.sent_at.isoformat() if d.sent_at else "",
                s.get("opens", 0),
                s.get("machine_opens", 0),
                s.get("clicks", 0),
                s.get("bounce", ""),
                d.last_error or "",
            )


def _outcome_stats(session: Session, delivery_ids: list[int]) -> dict[int, dict[str, Any]]:
    stats: dict[int, dict[str, Any]] = defaultdict(dict)
    engaged = session.execute(
        select(
            Engagement.delivery_id,
            func.sum(
                case(
                    (
                        and_(Engagement.type == "open", Engagement.machine == false()),
                        Engagement.count,
                    ),
                    else_=0,
                )
            ),
            func.sum(
                case(
                    (
                        and_(Engagement.type == "open", Engagement.machine == true()),
                        Engagement.count,
                    ),
                    else_=0,
                )
            ),
            func.sum(
                case(
                    (
                        and_(Engagement.type == "click", Engagement.machine == false()),
                        Engagement.count,
                    ),
                    else_=0,
                )
            ),
        )
        .where(Engagement.delivery_id.in_(delivery_ids), Engagement.link_position == -1)
        .group_by(Engagement.delivery_id)
    )
    for did, opens, machine_opens, clicks in engaged:
        stats[did].update(
            opens=int(opens or 0), machine_opens=int(machine_opens or 0), clicks=int(clicks or 0)
        )
    bounces = session.execute(
        select(Event.delivery_id, func.max(Event.type))
        .where(Event.delivery_id.in_(delivery_ids), Event.type.in_(BOUNCE_EVENT_TYPES))
        .group_by(Event.delivery_id)
    )
    for did, kind in bounces:
        if did is not None:
            stats[did]["bounce"] = kind
    return stats
