"""Reports across campaigns and lists: the overview (one row of figures per campaign) and
the lists' growth per week.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from service.model import Campaign, Consent, MailingList
from service.reports.counts import (
    UNSUBSCRIBE_ACTIONS,
    blocked_counts,
    event_counts,
    report_figures,
    status_counts,
    unsubscribe_counts,
)

# A subscription counts when it becomes active: confirmed (double opt-in), imported, or
# a single opt-in "subscribe" whose membership went straight to active.
SUBSCRIBE_ACTIONS = ("confirm", "import")
GROWTH_WEEKS = 12


def _day_bucket(session: Session, column: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%s", column), Integer) / 86400
    return cast(func.floor(func.extract("epoch", column) / 86400), Integer)


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
    statuses = status_counts(session, ids)
    events = event_counts(session, ids)
    unsubscribes = unsubscribe_counts(session, ids)
    for cid, blocked in blocked_counts(session, ids).items():
        events[cid]["blocked"] = blocked
    return [
        {
            "campaign_id": c.id,
            "subject": c.subject,
            "status": c.status,
            "started_at": c.started_at,
            **report_figures(
                statuses.get(c.id, {}), events.get(c.id, {}), unsubscribes.get(c.id, 0)
            ),
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
