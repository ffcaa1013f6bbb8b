"""Every report query, in one module (issue #6).

A campaign report is a handful of aggregate queries (GROUP BY over the campaign's
deliveries and events, served by the ``(campaign_id, …)`` indexes), never a walk over
rows in Python, so it stays fast at 100,000 recipients and 500,000 events. The keys of
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

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    case,
    cast,
    distinct,
    false,
    func,
    select,
    true,
    union,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from service.campaigns.attention import attention_json
from service.campaigns.progress import resent_counts
from service.issues.store import load_doc
from service.model import (
    Campaign,
    Consent,
    Delivery,
    DeliveryStatus,
    Engagement,
    Event,
    EventHour,
    Issue,
    Link,
    MailingList,
)
from service.model.delivery_states import LEFT as LEFT_STATUSES
from service.reports.coverage import Coverage, coverage
from service.reports.domains import domain_table
from service.reports.opens import machine_opens_by_reason

UNSUBSCRIBE_ACTIONS = ("unsubscribe", "unsubscribe_all")
# A subscription counts when it becomes active: confirmed (double opt-in), imported, or
# a single opt-in "subscribe" whose membership went straight to active.
SUBSCRIBE_ACTIONS = ("confirm", "import")
BOUNCE_EVENT_TYPES = ("bounce_hard", "bounce_soft", "complaint", "sender_alert")
MAX_LIST_ROWS = 500
SERIES_MAX_HOURS = 24 * 14  # the chart covers the first two weeks after sending
GROWTH_WEEKS = 12
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


def _day_bucket(session: Session, column: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%s", column), Integer) / 86400
    return cast(func.floor(func.extract("epoch", column) / 86400), Integer)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


# --------------------------------------------------------------------------- counts


def _status_counts(session: Session, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    rows = session.execute(
        select(Delivery.campaign_id, Delivery.status, func.count())
        .where(Delivery.campaign_id.in_(campaign_ids))
        .group_by(Delivery.campaign_id, Delivery.status)
    )
    out: dict[int, dict[str, int]] = defaultdict(dict)
    for campaign_id, status, count in rows:
        out[campaign_id][status] = count
    return out


def _event_counts(session: Session, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
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


def _blocked_counts(session: Session, campaign_ids: list[int]) -> dict[int, int]:
    """Deliveries refused for sender-side (5.7.x policy) reasons: not delivered, not the
    recipient's fault, so they are reported apart and never suppress anyone."""
    rows = session.execute(
        select(Event.campaign_id, func.count(distinct(Event.delivery_id)))
        .where(Event.campaign_id.in_(campaign_ids), Event.type == "sender_alert")
        .group_by(Event.campaign_id)
    )
    return {int(cid): int(n) for cid, n in rows if cid is not None}


def _unsubscribe_counts(session: Session, campaign_ids: list[int]) -> dict[int, int]:
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


def _figures(statuses: dict[str, int], events: dict[str, int], unsubscribes: int) -> dict[str, Any]:
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


# --------------------------------------------------------------------------- one campaign


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
    events = _event_counts(session, [campaign_id]).get(campaign_id, {})
    events["blocked"] = _blocked_counts(session, [campaign_id]).get(campaign_id, 0)
    figures = _figures(
        _status_counts(session, [campaign_id]).get(campaign_id, {}),
        events,
        _unsubscribe_counts(session, [campaign_id]).get(campaign_id, 0),
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


# --------------------------------------------------------------------------- across campaigns


def overview(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """One row per campaign that has deliveries, newest first, with the same rates."""
    campaigns = session.execute(
        select(Campaign.id, Campaign.subject, Campaign.status, Campaign.started_at)
        .where(Campaign.materialized_at.is_not(None) | Campaign.started_at.is_not(None))
        .order_by(Campaign.id.desc())
        .limit(limit)
    ).all()
    ids = [c.id for c in campaigns]
    if not ids:
        return []
    statuses = _status_counts(session, ids)
    events = _event_counts(session, ids)
    unsubscribes = _unsubscribe_counts(session, ids)
    for cid, blocked in _blocked_counts(session, ids).items():
        events[cid]["blocked"] = blocked
    return [
        {
            "campaign_id": c.id,
            "subject": c.subject,
            "status": c.status,
            "started_at": c.started_at,
            **_figures(statuses.get(c.id, {}), events.get(c.id, {}), unsubscribes.get(c.id, 0)),
        }
        for c in campaigns
    ]


def list_growth(session: Session, weeks: int = GROWTH_WEEKS) -> list[dict[str, Any]]:
    """Per list and ISO week: subscribes (confirmed) and unsubscribes, from ``consents``."""
    since = datetime.now(UTC) - timedelta(weeks=weeks)
    day = _day_bucket(session, Consent.at)
    rows = session.execute(
        select(Consent.list_id, day, Consent.action, func.count())
        .where(
            Consent.at >= since,
            Consent.list_id.is_not(None),
            Consent.action.in_((*SUBSCRIBE_ACTIONS, *UNSUBSCRIBE_ACTIONS))
            | and_(
                Consent.action == "subscribe",
                Consent.detail["status"].as_string() == "active",
            ),
        )
        .group_by(Consent.list_id, day, Consent.action)
    )
    names = dict(session.execute(select(MailingList.id, MailingList.name)).all())
    table: dict[tuple[int, date], dict[str, int]] = defaultdict(
        lambda: {"subscribes": 0, "unsubscribes": 0}
    )
    for list_id, days, action, count in rows:
        on = date(1970, 1, 1) + timedelta(days=int(days))
        week_start = on - timedelta(days=on.weekday())
        key = "unsubscribes" if action in UNSUBSCRIBE_ACTIONS else "subscribes"
        table[(list_id, week_start)][key] += int(count)
    return [
        {"list_id": lid, "list": names.get(lid, str(lid)), "week": week.isoformat(), **counts}
        for (lid, week), counts in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    ]


# --------------------------------------------------------------------------- export


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
