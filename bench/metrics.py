"""How long one ``/metrics`` scrape takes over a large ledger (the database part).

    .venv/bin/python bench/metrics.py [--deliveries 500000] [--campaigns 50] [--events 300000]
                                      [--database-url postgresql+psycopg://...]

Fills a fresh database (SQLite in a temporary folder unless ``--database-url`` is given;
that database must be empty) and prints the median time of each metric query and of the
whole exposition. Redis is pointed at a closed port, so the queue part measures only the
fast "unreachable" path; with Redis the queue part is three LLEN/HLEN calls and one SCAN.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from service.db import Database
from service.migrate import upgrade  # noqa: E402
from service.model import (  # noqa: E402
    Campaign,
    Delivery,
    DeliveryStatus,
    Event,  # noqa: E402
    utcnow,  # noqa: E402
)
from service.ops import metrics  # noqa: E402

RUNS = 7
CHUNK = 20_000
CLOSED_REDIS = "redis://127.0.0.1:9/0"
STATUS_WEIGHTS = {
    DeliveryStatus.SENT: 90,
    DeliveryStatus.FAILED: 3,
    DeliveryStatus.BOUNCED_HARD: 2,
    DeliveryStatus.PENDING: 4,
    DeliveryStatus.RETRY_DUE: 1,
}
ERRORS = ("550 5.1.1 user unknown", "554 5.7.1 refused", "421 try later", "cannot build")


def _fill(db: Database, deliveries: int, campaigns: int, events: int) -> None:
    now = utcnow()
    rng = random.Random(7)
    statuses, weights = zip(*STATUS_WEIGHTS.items(), strict=True)
    with db.transaction() as session:
        for i in range(campaigns):
            running = i == campaigns - 1
            session.add(
                Campaign(
                    subject=f"c{i}",
                    from_name="F",
                    from_addr="f@example.org",
                    status="running" if running else "finished",
                    finished_at=None if running else now - timedelta(days=campaigns - i),
                )
            )
    for start in range(0, deliveries, CHUNK):
        rows = []
        for n in range(start, min(start + CHUNK, deliveries)):
            status = rng.choices(statuses, weights)[0]
            rows.append(
                {
                    "campaign_id": 1 + n % campaigns,
                    "email": f"r{n}@example.org",
                    "status": status,
                    "sent_at": now - timedelta(seconds=rng.randint(0, 86_400)),
                    "last_error": rng.choice(ERRORS) if status != DeliveryStatus.SENT else None,
                }
            )
        with db.transaction() as session:
            session.execute(insert(Delivery), rows)
    for start in range(0, events, CHUNK):
        rows = [
            {
                "campaign_id": 1 + n % campaigns,
                "type": rng.choice(("open", "click", "bounce")),
                "at": now - timedelta(seconds=(events - n) // 10),
                "detail": {},
            }
            for n in range(start, min(start + CHUNK, events))
        ]
        with db.transaction() as session:
            session.execute(insert(Event), rows)


def _median_ms(db: Database, fn: Callable[..., object]) -> float:
    times = []
    for _ in range(RUNS):
        with db.session() as session:
            started = time.perf_counter()
            fn(session)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    """Fill, then time each part and the whole scrape."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=500_000)
    parser.add_argument("--campaigns", type=int, default=50)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        db = Database(url)
        started = time.perf_counter()
        _fill(db, args.deliveries, args.campaigns, args.events)
        print(
            f"{db.engine.dialect.name}: {args.deliveries:,} deliveries in {args.campaigns} "
            f"campaigns, {args.events:,} events (filled in {time.perf_counter() - started:.0f} s)"
        )
        parts: dict[str, Callable[..., object]] = {
            "deliveries_by_status": metrics.deliveries_by_status,
            "failure_reasons": metrics.failure_reasons,
            "sent_recently": metrics.sent_recently,
            "events_recently": metrics.events_recently,
            "last_errors (dashboard)": metrics.last_errors,
            "whole exposition": lambda s: metrics.exposition(s, CLOSED_REDIS),
        }
        for name, fn in parts.items():
            print(f"  {name:<26} {_median_ms(db, fn):8.1f} ms (median of {RUNS})")
        db.dispose()


if __name__ == "__main__":
    main()
