"""Opens and clicks: record fast into Redis, write to the database in batches.

The pixel and the click redirect only append a compact record to a Redis list (one
RPUSH); a worker moves records to the ``events`` table in batches. The flush is
reliable: records are first moved (LMOVE, atomic per record) to a processing list, the
batch is inserted and committed, and only then is the processing list deleted. A crash
between commit and delete replays the batch on the next flush, and the per-record id
(UNIQUE provider + provider_event_id) makes the replay insert nothing twice. While the
worker is down, records simply wait in Redis.

Machine opens (Apple Mail Privacy Protection's proxy, Gmail's and Yahoo's image proxies,
Gmail's prefetch, opens seconds after the message left) and scanner clicks (security
gateways) are stored with ``machine = true`` and their reason code in
``detail.machine_reason`` (the patterns: ``service.events.machine_opens``), and reported
apart (STANDARDS §4).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import case, delete, select, tuple_
from sqlalchemy.orm import Session

from service.db import (
    Database,
    insert_ignoring_duplicates,
    insert_on_conflict,
    refresh_statistics,
)
from service.events.machine_opens import SECONDS_AFTER_SENDING, agent_rule
from service.model import Delivery, Engagement, Event, EventHour, Link

log = logging.getLogger(__name__)

PENDING_KEY = "tidings:track:pending"
PROCESSING_KEY = "tidings:track:processing"
FLUSH_LOCK_KEY = "tidings:track:flush-lock"
FLUSH_LOCK_SECONDS = 120
FLUSH_BATCH = 2000
FLUSH_TIME_BUDGET_SECONDS = 20.0
REBUILD_CHUNK = 5000
PROVIDER = "tidings"
MAX_USER_AGENT = 300
# An open or click this soon after the message left is a machine (prefetch, scanner).
MACHINE_OPEN_SECONDS = 10
SCANNER_CLICK_SECONDS = 10

# A transparent 1×1 GIF (43 bytes).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

_clients: dict[str, redis.Redis] = {}


def redis_for(url: str) -> redis.Redis:
    """One pooled client per Redis URL in this process (short timeouts: never hang a pixel)."""
    client = _clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        _clients[url] = client
    return client


@dataclass(frozen=True)
class Hit:
    """One open or click, as recorded at request time."""

    kind: str  # "open" | "click"
    record_id: str
    delivery_id: int
    position: int | None
    at: float  # unix time
    user_agent: str

    def encode(self) -> bytes:
        """The compact record pushed to Redis."""
        return json.dumps(
            [self.kind, self.record_id, self.delivery_id, self.position, self.at, self.user_agent],
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Hit | None:
        """A record back from Redis; None for garbage (dropped, logged)."""
        try:
            kind, record_id, delivery_id, position, at, agent = json.loads(raw)
            return cls(str(kind), str(record_id), int(delivery_id), position, float(at), str(agent))
        except (ValueError, TypeError):
            log.warning("tracking: dropped an unreadable record %r", raw[:100])
            return None


def new_hit(kind: str, delivery_id: int, position: int | None, user_agent: str) -> Hit:
    """A hit stamped now, with a fresh id (the replay-proof key)."""
    return Hit(
        kind,
        secrets.token_hex(8),
        delivery_id,
        position,
        time.time(),
        (user_agent or "")[:MAX_USER_AGENT],
    )


def push_hit(client: redis.Redis, hit: Hit) -> None:
    """Append a hit to the pending list (one round trip)."""
    client.rpush(PENDING_KEY, hit.encode())


def click_target(session: Session, delivery_id: int, position: int) -> str | None:
    """The URL stored at render time for this delivery's campaign and link position."""
    url = session.scalar(
        select(Link.url)
        .join(Delivery, Delivery.campaign_id == Link.campaign_id)
        .where(Delivery.id == delivery_id, Link.position == position)
    )
    return str(url) if url is not None else None


# --------------------------------------------------------------------------- classification


def machine_reason(
    kind: str, user_agent: str, at: datetime, sent_at: datetime | None
) -> str | None:
    """Why a hit looks automated (a reason code of `machine_opens.REASONS`), or None for
    a likely human: its User-Agent matches a rule of `machine_opens.RULES`, or it came
    seconds after the message left."""
    rule = agent_rule(kind, user_agent)
    if rule is not None:
        return rule.reason
    window = MACHINE_OPEN_SECONDS if kind == "open" else SCANNER_CLICK_SECONDS
    if sent_at is not None and timedelta(0) <= at - sent_at < timedelta(seconds=window):
        return SECONDS_AFTER_SENDING
    return None


# --------------------------------------------------------------------------- writing


def insert_hits(session: Session, hits: Iterable[Hit]) -> int:
    """Insert hits as events (a replayed id inserts nothing); return how many were new."""
    hits = list(hits)
    if not hits:
        return 0
    deliveries = {
        row.id: row
        for row in session.execute(
            select(
                Delivery.id, Delivery.campaign_id, Delivery.subscriber_id, Delivery.sent_at
            ).where(Delivery.id.in_({h.delivery_id for h in hits}))
        )
    }
    links = _link_ids(session, hits, deliveries)
    rows: list[dict[str, Any]] = []
    for hit in hits:
        delivery = deliveries.get(hit.delivery_id)
        if delivery is None:
            continue  # the delivery was deleted (campaign removed): nothing to attach to
        at = datetime.fromtimestamp(hit.at, UTC)
        reason = machine_reason(hit.kind, hit.user_agent, at, delivery.sent_at)
        detail: dict[str, Any] = {"ua": hit.user_agent}
        if reason:
            detail["machine_reason"] = reason
        rows.append(
            {
                "delivery_id": hit.delivery_id,
                "campaign_id": delivery.campaign_id,
                "subscriber_id": delivery.subscriber_id,
                "type": hit.kind,
                "at": at,
                "link_id": links.get((delivery.campaign_id, hit.position)),
                "machine": reason is not None,
                "detail": detail,
                "provider": PROVIDER,
                "provider_event_id": hit.record_id,
            }
        )
    if not rows:
        return 0
    # RETURNING names only the rows really inserted (a replayed id returns nothing), the
    # same way on SQLite and PostgreSQL; only those feed the rollups.
    stmt = insert_ignoring_duplicates(session, Event, ["provider", "provider_event_id"])
    inserted = {
        r[0] for r in session.connection().execute(stmt.returning(Event.provider_event_id), rows)
    }
    positions = {h.record_id: h.position for h in hits}
    new_rows = [r for r in rows if r["provider_event_id"] in inserted]
    for row in new_rows:
        position = positions.get(row["provider_event_id"])
        row["link_position"] = position if row["type"] == "click" and position is not None else -1
    add_to_rollups(session, new_rows)
    return len(new_rows)


def add_to_rollups(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add new open/click events to `Engagement` and `EventHour` (upserts, one per key).

    ``rows`` carry delivery_id, campaign_id, type, machine, at and link_position.
    """
    engagement: dict[tuple[int, str, bool, int], dict[str, Any]] = {}
    hours: dict[tuple[int, int, str, bool], int] = defaultdict(int)
    for row in rows:
        # Every hit counts under link position -1 (the delivery's total for its kind); a
        # click also counts under its link. Reports then count rows, never DISTINCT.
        positions = {-1, row["link_position"]}
        for position in positions:
            _add_engagement(engagement, row, position)
        hour = int(row["at"].timestamp()) // 3600
        hours[(row["campaign_id"], hour, row["type"], row["machine"])] += 1
    if not engagement:
        return
    upsert = insert_on_conflict(session, Engagement)
    excluded = upsert.excluded
    session.connection().execute(
        upsert.on_conflict_do_update(
            index_elements=["delivery_id", "type", "machine", "link_position"],
            set_={
                "count": Engagement.count + excluded.count,
                "first_at": case(
                    (excluded.first_at < Engagement.first_at, excluded.first_at),
                    else_=Engagement.first_at,
                ),
                "last_at": case(
                    (excluded.last_at > Engagement.last_at, excluded.last_at),
                    else_=Engagement.last_at,
                ),
            },
        ),
        list(engagement.values()),
    )
    hour_upsert = insert_on_conflict(session, EventHour)
    session.connection().execute(
        hour_upsert.on_conflict_do_update(
            index_elements=["campaign_id", "hour", "type", "machine"],
            set_={"count": EventHour.count + hour_upsert.excluded.count},
        ),
        [
            {"campaign_id": c, "hour": h, "type": t, "machine": m, "count": n}
            for (c, h, t, m), n in hours.items()
        ],
    )


def _add_engagement(
    engagement: dict[tuple[int, str, bool, int], dict[str, Any]], row: dict[str, Any], position: int
) -> None:
    key = (row["delivery_id"], row["type"], row["machine"], position)
    item = engagement.setdefault(
        key,
        {
            "campaign_id": row["campaign_id"],
            "delivery_id": key[0],
            "type": key[1],
            "machine": key[2],
            "link_position": position,
            "count": 0,
            "first_at": row["at"],
            "last_at": row["at"],
        },
    )
    item["count"] += 1
    item["first_at"] = min(item["first_at"], row["at"])
    item["last_at"] = max(item["last_at"], row["at"])


def rebuild_rollups(session: Session, campaign_id: int) -> int:
    """Recompute a campaign's rollups from its events (backfill or repair); return rows read.

    Reads the campaign's open/click events once in id order; fine as an occasional
    maintenance step, never on a page view.
    """
    session.execute(delete(Engagement).where(Engagement.campaign_id == campaign_id))
    session.execute(delete(EventHour).where(EventHour.campaign_id == campaign_id))
    positions = dict(
        session.execute(select(Link.id, Link.position).where(Link.campaign_id == campaign_id)).all()
    )
    result = session.execute(
        select(
            Event.delivery_id, Event.campaign_id, Event.type, Event.machine, Event.at, Event.link_id
        )
        .where(
            Event.campaign_id == campaign_id,
            Event.type.in_(("open", "click")),
            Event.delivery_id.is_not(None),
        )
        .order_by(Event.id)
        .execution_options(yield_per=REBUILD_CHUNK)
    )
    total = 0
    for chunk in result.partitions(REBUILD_CHUNK):
        rows = [
            {
                "delivery_id": r.delivery_id,
                "campaign_id": r.campaign_id,
                "type": r.type,
                "machine": bool(r.machine),
                "at": r.at,
                "link_position": positions.get(r.link_id, -1) if r.type == "click" else -1,
            }
            for r in chunk
        ]
        add_to_rollups(session, rows)
        total += len(rows)
    return total


def _link_ids(
    session: Session, hits: list[Hit], deliveries: dict[int, Any]
) -> dict[tuple[int, int | None], int]:
    wanted = {
        (deliveries[h.delivery_id].campaign_id, h.position)
        for h in hits
        if h.position is not None and h.delivery_id in deliveries
    }
    if not wanted:
        return {}
    found = session.execute(
        select(Link.id, Link.campaign_id, Link.position).where(
            tuple_(Link.campaign_id, Link.position).in_(list(wanted))
        )
    )
    return {(row.campaign_id, row.position): row.id for row in found}


def flush_hits(
    db: Database,
    client: redis.Redis,
    batch: int = FLUSH_BATCH,
    budget: float = FLUSH_TIME_BUDGET_SECONDS,
) -> int:
    """Move pending hits from Redis into the database; return how many were inserted.

    Only one flusher runs at a time (a Redis lock), so the processing list is never
    shared. A batch left in the processing list by a crash is replayed first.
    """
    token = secrets.token_hex(8)
    if not client.set(FLUSH_LOCK_KEY, token, nx=True, ex=FLUSH_LOCK_SECONDS):
        return 0
    inserted = 0
    deadline = time.monotonic() + budget
    try:
        while time.monotonic() < deadline:
            raw = _claim_batch(client, batch)
            if not raw:
                break
            hits = [h for h in (Hit.decode(r) for r in raw) if h is not None]
            with db.transaction() as session:
                inserted += insert_hits(session, hits)
            client.delete(PROCESSING_KEY)  # only after the commit: a crash replays
        if inserted:
            with db.session() as session:
                after_intake(session)
    finally:
        if client.get(FLUSH_LOCK_KEY) == token.encode():
            client.delete(FLUSH_LOCK_KEY)
    return inserted


INTAKE_TABLES = ("events", "engagements", "event_hours")


def after_intake(session: Session) -> list[str]:
    """Refresh the planner's statistics of the event tables once they changed a lot.

    Opens and clicks pour in right after a send, which is when staff open the report:
    with the statistics of an hour ago its rollup queries took 500 ms instead of 150
    (100,000 recipients, 500,000 events; bench/events.py).
    """
    return refresh_statistics(session, INTAKE_TABLES, if_stale=True)


def _claim_batch(client: redis.Redis, batch: int) -> list[bytes]:
    """The processing list, refilled from pending when empty (LMOVE, record by record)."""
    leftover: list[bytes] = client.lrange(PROCESSING_KEY, 0, -1)
    if leftover:
        return leftover
    waiting = int(client.llen(PENDING_KEY))
    pipe = client.pipeline(transaction=False)
    for _ in range(min(batch, waiting)):
        pipe.lmove(PENDING_KEY, PROCESSING_KEY, "LEFT", "RIGHT")
    return [r for r in pipe.execute() if r is not None]


def pending_count(client: redis.Redis) -> int:
    """Hits waiting in Redis (pending + processing), for the dashboard and the benchmark."""
    return int(client.llen(PENDING_KEY)) + int(client.llen(PROCESSING_KEY))
