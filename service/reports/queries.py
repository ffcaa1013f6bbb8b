"""One campaign's report (issue #6): its figures, and the tables of its report page (links,
the hourly series, bounces, failures).

The figures come from the grouped counts of ``counts`` (never a walk over rows in Python,
so the report stays fast at 100,000 recipients and 500,000 events). The keys of
`campaign_report` are a contract (DESIGN §7).

Definitions (the report page explains them too):

- ``sent``: deliveries that left (sent, and those that later bounced or complained);
- ``blocked``: deliveries refused for sender-side policy reasons (5.7.x: SPF/DKIM/DMARC,
  reputation); they raise a dashboard alert and never suppress the recipient;
- ``delivered`` (rates only): sent minus hard and soft bounces and blocked;
- ``opens_unique`` / ``opens_total``: likely-human opens; ``opens_machine``: machine
  opens (Apple MPP, image proxies, seconds after sending), counted apart;
  ``machine_opens_by_reason``: ``{reason: opens}`` of those, most first
  (``service.reports.opens``; the reasons: ``service.events.machine_opens``);
- ``clicks_unique`` / ``clicks_total``: clicks not flagged as scanners;
- ``unsubscribes``: distinct subscribers who unsubscribed from this campaign (consent
  rows naming it in ``detail.campaign_id``, and provider ``unsubscribe`` events);
- ``resent``: deliveries staff sent again by "resend unknown" (counted in ``sent`` too
  when the resend went out); ``resent_sent``: those of them that left on the resend, each
  of which may have reached its recipient twice (with the same Message-ID);
- ``needs_attention``: ``{unknown, what_to_do}`` while rows are ``unknown``, else null
  (``service.campaigns.attention``);
- ``organisations``: ``{total, reached, unreached: [{name, reason}]}``, the member
  organisations the campaign reached and why the others were not
  (``service.reports.coverage``, where "reached" is defined);
- ``domains``: ``[{domain, provider, recipients, sent, deferred, bounced_hard,
  bounced_soft, complaints, opens}]``, most recipients first (``service.reports.domains``,
  where "deferred" is defined; ``service.mail.providers`` names the providers).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from service.campaigns.attention import attention_json
from service.campaigns.progress import resent_counts
from service.issues.store import load_doc
from service.model import (
    Campaign,
    Delivery,
    DeliveryStatus,
    Engagement,
    Event,
    EventHour,
    Issue,
    Link,
)
from service.model.delivery_states import LEFT as LEFT_STATUSES
from service.reports.counts import (
    blocked_counts,
    event_counts,
    report_figures,
    status_counts,
    unsubscribe_counts,
)
from service.reports.coverage import Coverage, coverage
from service.reports.domains import domain_table
from service.reports.opens import machine_opens_by_reason

BOUNCE_EVENT_TYPES = ("bounce_hard", "bounce_soft", "complaint", "sender_alert")
MAX_LIST_ROWS = 500
SERIES_MAX_HOURS = 24 * 14  # the chart covers the first two weeks after sending


def campaign_report(
    session: Session,
    campaign_id: int,
    organisations: Coverage | None = None,
    domains: list[dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """The figures of one campaign (DESIGN §7 keys + ``rates``), or None if unknown.

    ``organisations``, ``domains``: the campaign's coverage and domain table when the
    caller has them already."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return None
    events = event_counts(session, [campaign_id]).get(campaign_id, {})
    events["blocked"] = blocked_counts(session, [campaign_id]).get(campaign_id, 0)
    figures = report_figures(
        status_counts(session, [campaign_id]).get(campaign_id, {}),
        events,
        unsubscribe_counts(session, [campaign_id]).get(campaign_id, 0),
    )
    figures.update(_resent_counts(session, campaign_id))
    figures["machine_opens_by_reason"] = machine_opens_by_reason(session, campaign_id)
    figures["needs_attention"] = attention_json(campaign.status, figures["unknown"])
    figures["links"] = link_table(session, campaign_id)
    figures["organisations"] = (organisations or coverage(session, campaign_id)).as_json()
    figures["domains"] = domains if domains is not None else domain_table(session, campaign_id)
    return {"campaign_id": campaign_id, "subject": campaign.subject, **figures}


def _resent_counts(session: Session, campaign_id: int) -> dict[str, int]:
    """Rows resent by "resend unknown", and those of them that left on the resend."""
    by_status = resent_counts(session, campaign_id)
    return {
        "resent": sum(by_status.values()),
        "resent_sent": sum(by_status.get(s, 0) for s in LEFT_STATUSES),
    }


def link_table(session: Session, campaign_id: int) -> list[dict[str, Any]]:
    """Per link: clicks unique/total (scanners excluded) and the article it sits in."""
    clicks = (
        select(
            Engagement.link_position,
            func.count().label("unique"),
            func.sum(Engagement.count).label("total"),
        )
        .where(
            Engagement.campaign_id == campaign_id,
            Engagement.type == "click",
            Engagement.machine == false(),
            Engagement.link_position >= 0,
        )
        .group_by(Engagement.link_position)
        .subquery()
    )
    rows = session.execute(
        select(Link.url, Link.position, Link.article_anchor, clicks.c.unique, clicks.c.total)
        .outerjoin(clicks, clicks.c.link_position == Link.position)
        .where(Link.campaign_id == campaign_id)
        .order_by(Link.position)
    )
    return [
        {
            "url": url,
            "clicks_unique": int(unique or 0),
            "clicks_total": int(total or 0),
            "position": position,
            "article_anchor": anchor,
        }
        for url, position, anchor, unique, total in rows
    ]


def article_titles(session: Session, campaign_id: int) -> dict[str, str]:
    """Article anchor → title in the campaign's issue, so the link table names articles
    (empty for a campaign with a plain HTML body)."""
    issue_id = session.scalar(select(Campaign.issue_id).where(Campaign.id == campaign_id))
    issue = session.get(Issue, issue_id) if issue_id else None
    if issue is None:
        return {}
    return {article.anchor: article.title for _, article in load_doc(issue).articles()}


def time_series(session: Session, campaign_id: int) -> dict[str, Any]:
    """Hourly human opens and clicks since the campaign started (the `EventHour` rollup)."""
    rows = session.execute(
        select(EventHour.hour, EventHour.type, EventHour.count).where(
            EventHour.campaign_id == campaign_id, EventHour.machine == false()
        )
    ).all()
    campaign = session.get(Campaign, campaign_id)
    started = campaign.started_at if campaign else None
    if not rows:
        return {"hours": [], "opens": [], "clicks": []}
    first = int(started.timestamp()) // 3600 if started else min(r.hour for r in rows)
    counts = {(hour, kind): n for hour, kind, n in rows if first <= hour < first + SERIES_MAX_HOURS}
    last = max([first, *(h for h, _ in counts)])
    hours = list(range(first, last + 1))
    return {
        "hours": [datetime.fromtimestamp(h * 3600, UTC).isoformat() for h in hours],
        "opens": [counts.get((h, "open"), 0) for h in hours],
        "clicks": [counts.get((h, "click"), 0) for h in hours],
    }


def bounce_list(
    session: Session, campaign_id: int, limit: int = MAX_LIST_ROWS
) -> list[dict[str, Any]]:
    """Bounces, complaints and sender alerts of the campaign with their reasons (newest first)."""
    # The newest ids come from the (campaign, type, at) index alone; only those rows are read.
    newest = (
        select(Event.id)
        .where(Event.campaign_id == campaign_id, Event.type.in_(BOUNCE_EVENT_TYPES))
        .order_by(Event.at.desc(), Event.id.desc())
        .limit(limit)
        .subquery()
    )
    rows = session.execute(
        select(Event.at, Event.type, Event.detail, Event.provider, Delivery.email)
        .join(newest, newest.c.id == Event.id)
        .outerjoin(Delivery, Delivery.id == Event.delivery_id)
        .order_by(Event.at.desc(), Event.id.desc())
    )
    return [
        {
            "at": at,
            "type": kind,
            "email": email or "",
            "status": (detail or {}).get("status", ""),
            "reason": (detail or {}).get("diagnostic", ""),
            "provider": provider or "",
        }
        for at, kind, detail, provider, email in rows
    ]


def failure_list(
    session: Session, campaign_id: int, limit: int = MAX_LIST_ROWS
) -> list[dict[str, Any]]:
    """Deliveries that failed at send time or whose outcome is unknown."""
    rows = session.execute(
        select(Delivery.email, Delivery.status, Delivery.attempts, Delivery.last_error)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status.in_((DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN)),
        )
        .order_by(Delivery.id)
        .limit(limit)
    )
    return [
        {"email": e, "status": s, "attempts": a, "last_error": err or ""} for e, s, a, err in rows
    ]
