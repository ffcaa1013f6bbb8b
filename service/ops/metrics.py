"""The figures behind ``GET /metrics`` and the dashboard's queue and error panels.

Where they come from, and why that is cheap enough to run on every scrape:

- Deliveries by status and failures by reason come from the ledger (the database is the
  source of truth; counters kept by the sender would drift from it after a crash or a
  manual fix). They are grouped by ``campaign_id, status`` so PostgreSQL answers from
  the ``(campaign_id, status, id)`` index alone, in index order, without a sort.
- The send rate counts rows sent in the last minutes, only in campaigns that are running
  or finished in that window (the same index narrows each campaign to its sent rows).
- Event intake reads the newest events by primary key and stops at ``EVENT_SCAN_LIMIT``
  rows, so its cost is bounded however large the events table grows.
- Queue depth and workers alive are single Redis calls (LLEN, HLEN, SCAN of heartbeats).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import redis
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from service.model import Campaign, CampaignStatus, Delivery, DeliveryStatus, Event, utcnow
from service.ops.health import WORKER_KEY_PREFIX, redis_client

CELERY_QUEUES = ("send", "events", "default")
# Kombu's Redis transport keeps messages taken but not yet acknowledged in this hash.
UNACKED_KEY = "unacked"
RATE_WINDOWS = {"1m": timedelta(minutes=1), "5m": timedelta(minutes=5)}
EVENT_WINDOW = timedelta(minutes=5)
EVENT_SCAN_LIMIT = 50_000
EVENT_FETCH_CHUNK = 500
LAST_ERRORS = 10
RECENT_CAMPAIGNS_FOR_ERRORS = 20
# Statuses a message reaches only after the relay accepted it (events move sent rows on).
DELIVERED = (
    DeliveryStatus.SENT,
    DeliveryStatus.BOUNCED_SOFT,
    DeliveryStatus.BOUNCED_HARD,
    DeliveryStatus.COMPLAINED,
)
ERROR_STATUSES = (DeliveryStatus.FAILED, DeliveryStatus.RETRY_DUE, DeliveryStatus.UNKNOWN)


@dataclass(frozen=True)
class QueueState:
    """What Redis says about the Celery queues and the workers."""

    reachable: bool
    depth: dict[str, int] = field(default_factory=dict)
    unacked: int = 0
    workers: int = 0


def deliveries_by_status(session: Session) -> dict[str, int]:
    """Rows in each delivery state, over all campaigns."""
    query = select(Delivery.campaign_id, Delivery.status, func.count()).group_by(
        Delivery.campaign_id, Delivery.status
    )
    totals: Counter[str] = Counter()
    for _campaign_id, status, count in session.execute(query):
        totals[status] += count
    return dict(totals)


def failure_reasons(session: Session) -> dict[str, int]:
    """Failed rows by reason: the SMTP reply code their error starts with, else ``other``.

    Codes keep the label set small and meaningful (550 unknown user, 554 refused, ...);
    free-text errors (build problems, SMTPUTF8) are counted together.
    """
    code = func.substr(Delivery.last_error, 1, 3)
    query = (
        select(code, func.count()).where(Delivery.status == DeliveryStatus.FAILED).group_by(code)
    )
    reasons: Counter[str] = Counter()
    for prefix, count in session.execute(query):
        reasons[prefix if prefix and prefix.isdigit() else "other"] += count
    return dict(reasons)


def sent_recently(session: Session) -> dict[str, int]:
    """Messages handed to the relay in each window of ``RATE_WINDOWS``."""
    now = utcnow()
    widest = now - max(RATE_WINDOWS.values())
    active = select(Campaign.id).where(
        or_(Campaign.status == CampaignStatus.RUNNING, Campaign.finished_at >= widest)
    )
    query = select(Delivery.sent_at).where(
        Delivery.campaign_id.in_(active),
        Delivery.status.in_(DELIVERED),
        Delivery.sent_at >= widest,
    )
    times = list(session.scalars(query))
    return {
        name: sum(1 for t in times if t is not None and t >= now - span)
        for name, span in RATE_WINDOWS.items()
    }


def events_recently(session: Session) -> dict[str, int]:
    """Events recorded in the last ``EVENT_WINDOW`` by type (newest ids first, bounded)."""
    since = utcnow() - EVENT_WINDOW
    query = (
        select(Event.type, Event.at)
        .order_by(Event.id.desc())
        .limit(EVENT_SCAN_LIMIT)
        # Streamed in small chunks, so the loop's ``break`` really stops reading.
        .execution_options(yield_per=EVENT_FETCH_CHUNK)
    )
    counts: Counter[str] = Counter()
    for kind, at in session.execute(query):
        if at < since:
            break
        counts[kind] += 1
    return dict(counts)


def queue_state(redis_url: str, queues: tuple[str, ...] = CELERY_QUEUES) -> QueueState:
    """Queue depth per Celery queue, messages in flight, and live workers."""
    try:
        client = redis_client(redis_url)
        pipe = client.pipeline()
        for name in queues:
            pipe.llen(name)
        pipe.hlen(UNACKED_KEY)
        *depths, unacked = pipe.execute()
        workers = sum(1 for _key in client.scan_iter(f"{WORKER_KEY_PREFIX}*"))
    except (redis.RedisError, OSError):
        return QueueState(reachable=False)
    return QueueState(
        reachable=True,
        depth=dict(zip(queues, (int(d) for d in depths), strict=True)),
        unacked=int(unacked),
        workers=workers,
    )


def last_errors(session: Session, limit: int = LAST_ERRORS) -> list[Delivery]:
    """The newest deliveries with an error (failed, waiting to retry, unknown).

    Looked for in the most recent campaigns only, through the (campaign, status) index.
    """
    recent = select(Campaign.id).order_by(Campaign.id.desc()).limit(RECENT_CAMPAIGNS_FOR_ERRORS)
    query = (
        select(Delivery)
        .where(
            Delivery.campaign_id.in_(recent.scalar_subquery()),
            Delivery.status.in_(ERROR_STATUSES),
            Delivery.last_error.is_not(None),
        )
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(
    name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")
    return lines


def exposition(session: Session, redis_url: str) -> str:
    """Every metric in the Prometheus text format (version 0.0.4)."""
    statuses = deliveries_by_status(session)
    queues = queue_state(redis_url)
    sent = sent_recently(session)
    lines: list[str] = []
    lines += _family(
        "tidings_deliveries",
        "gauge",
        "Delivery rows by status, over all campaigns.",
        [({"status": s}, float(statuses.get(s, 0))) for s in DeliveryStatus],
    )
    lines += _family(
        "tidings_deliveries_failed",
        "gauge",
        "Failed deliveries by reason (SMTP reply code, or other).",
        [({"reason": r}, float(n)) for r, n in sorted(failure_reasons(session).items())],
    )
    lines += _family(
        "tidings_messages_sent_recent",
        "gauge",
        "Messages accepted by the relay in the last window.",
        [({"window": w}, float(n)) for w, n in sent.items()],
    )
    lines += _family(
        "tidings_send_rate_per_second",
        "gauge",
        "Messages sent per second, averaged over the window.",
        [({"window": w}, round(n / RATE_WINDOWS[w].total_seconds(), 3)) for w, n in sent.items()],
    )
    lines += _family(
        "tidings_events_recent",
        "gauge",
        f"Events recorded in the last {int(EVENT_WINDOW.total_seconds() // 60)} minutes by type.",
        [({"type": t}, float(n)) for t, n in sorted(events_recently(session).items())],
    )
    lines += _family(
        "tidings_redis_up", "gauge", "1 when Redis answered.", [({}, float(queues.reachable))]
    )
    lines += _family(
        "tidings_queue_depth",
        "gauge",
        "Messages waiting in each Celery queue.",
        [({"queue": q}, float(n)) for q, n in queues.depth.items()],
    )
    lines += _family(
        "tidings_queue_unacked",
        "gauge",
        "Messages taken by a worker and not yet acknowledged.",
        [({}, float(queues.unacked))],
    )
    lines += _family(
        "tidings_workers_alive",
        "gauge",
        "Workers whose heartbeat is fresh.",
        [({}, float(queues.workers))],
    )
    return "\n".join(lines) + "\n"
