"""The grouped counts every report is made of, and the figures (DESIGN §7) they give.

A handful of aggregate queries (GROUP BY over the campaigns' deliveries and events, served
by the ``(campaign_id, …)`` indexes), never a walk over rows in Python, so a report stays
fast at 100,000 recipients and 500,000 events. Each takes many campaign ids at once: one
campaign's report (``queries``) and the overview across campaigns (``overview``) ask the
same queries. What each figure means: ``service.reports.queries``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import distinct, func, select, union
from sqlalchemy.orm import Session

from service.model import Consent, Delivery, DeliveryStatus, Engagement, Event
from service.model.delivery_states import LEFT as LEFT_STATUSES

UNSUBSCRIBE_ACTIONS = ("unsubscribe", "unsubscribe_all")


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def status_counts(session: Session, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """Deliveries per campaign and status (statuses a campaign has none of are absent)."""
    rows = session.execute(
        select(Delivery.campaign_id, Delivery.status, func.count())
        .where(Delivery.campaign_id.in_(campaign_ids))
        .group_by(Delivery.campaign_id, Delivery.status)
    )
    out: dict[int, dict[str, int]] = defaultdict(dict)
    for campaign_id, status, count in rows:
        out[campaign_id][status] = count
    return out


def event_counts(session: Session, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """Opens and clicks per campaign: unique and total, human and machine apart.

    Read from the `Engagement` rollup (one row per delivery, kind, machine flag and link),
    through its covering index: never a scan of the events themselves.
    """
    # Rows at link position -1 are one per delivery and kind (see `add_to_rollups`), so
    # "unique" is a plain count over the covering index: no DISTINCT, no event scan.
    rows = session.execute(
        select(
            Engagement.campaign_id,
            Engagement.type,
            Engagement.machine,
            func.count(),
            func.sum(Engagement.count),
        )
        .where(Engagement.campaign_id.in_(campaign_ids), Engagement.link_position == -1)
        .group_by(Engagement.campaign_id, Engagement.type, Engagement.machine)
    )
    out: dict[int, dict[str, int]] = defaultdict(dict)
    for campaign_id, kind, machine, unique, total in rows:
        prefix = "opens" if kind == "open" else "clicks"
        if machine:
            out[campaign_id][f"{prefix}_machine"] = int(total or 0)
            out[campaign_id][f"{prefix}_machine_unique"] = int(unique or 0)
        else:
            out[campaign_id][f"{prefix}_unique"] = int(unique or 0)
            out[campaign_id][f"{prefix}_total"] = int(total or 0)
    return out


def blocked_counts(session: Session, campaign_ids: list[int]) -> dict[int, int]:
    """Deliveries refused for sender-side (5.7.x policy) reasons: not delivered, not the
    recipient's fault, so they are reported apart and never suppress anyone."""
    rows = session.execute(
        select(Event.campaign_id, func.count(distinct(Event.delivery_id)))
        .where(Event.campaign_id.in_(campaign_ids), Event.type == "sender_alert")
        .group_by(Event.campaign_id)
    )
    return {int(cid): int(n) for cid, n in rows if cid is not None}


def unsubscribe_counts(session: Session, campaign_ids: list[int]) -> dict[int, int]:
    """Distinct subscribers per campaign who unsubscribed from it: consent rows naming it
    and provider ``unsubscribe`` events, each subscriber counted once."""
    from_consents = select(
        Consent.detail["campaign_id"].as_integer().label("campaign_id"),
        Consent.subscriber_id.label("subscriber_id"),
    ).where(
        Consent.action.in_(UNSUBSCRIBE_ACTIONS),
        Consent.detail["campaign_id"].as_integer().in_(campaign_ids),
    )
    from_events = select(
        Event.campaign_id.label("campaign_id"), Event.subscriber_id.label("subscriber_id")
    ).where(Event.type == "unsubscribe", Event.campaign_id.in_(campaign_ids))
    both = union(from_consents, from_events).subquery()
    rows = session.execute(
        select(both.c.campaign_id, func.count(distinct(both.c.subscriber_id))).group_by(
            both.c.campaign_id
        )
    )
    return {int(cid): int(n) for cid, n in rows if cid is not None}


def report_figures(
    statuses: dict[str, int], events: dict[str, int], unsubscribes: int
) -> dict[str, Any]:
    """The DESIGN §7 figures and their rates from the grouped counts."""
    sent = sum(statuses.get(s, 0) for s in LEFT_STATUSES)
    bounced_hard = statuses.get(DeliveryStatus.BOUNCED_HARD, 0)
    bounced_soft = statuses.get(DeliveryStatus.BOUNCED_SOFT, 0)
    figures: dict[str, Any] = {
        "recipients": sum(statuses.values()),
        "sent": sent,
        "failed": statuses.get(DeliveryStatus.FAILED, 0),
        "unknown": statuses.get(DeliveryStatus.UNKNOWN, 0),
        "bounced_hard": bounced_hard,
        "bounced_soft": bounced_soft,
        "complaints": statuses.get(DeliveryStatus.COMPLAINED, 0),
        "opens_unique": events.get("opens_unique", 0),
        "opens_total": events.get("opens_total", 0),
        "opens_machine": events.get("opens_machine", 0),
        "clicks_unique": events.get("clicks_unique", 0),
        "clicks_total": events.get("clicks_total", 0),
        "unsubscribes": unsubscribes,
        "blocked": events.get("blocked", 0),
    }
    delivered = max(0, sent - bounced_hard - bounced_soft - figures["blocked"])
    figures["rates"] = {
        "delivered": delivered,
        "bounce_rate": _rate(bounced_hard + bounced_soft, sent),
        "complaint_rate": _rate(figures["complaints"], sent),
        "open_rate": _rate(figures["opens_unique"], delivered),
        "click_rate": _rate(figures["clicks_unique"], delivered),
        "click_to_open_rate": _rate(figures["clicks_unique"], figures["opens_unique"]),
        "unsubscribe_rate": _rate(unsubscribes, delivered),
    }
    return figures
