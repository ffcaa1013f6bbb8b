"""Queue hints that Redis lost, sent again within seconds of its restart.

The ledger is the truth and a Redis message only a hint (DESIGN §4): a ``queued`` row
whose message is gone waits for the stale sweep (``queued_stale_seconds``, 15 minutes by
default), and while it waits it holds a place in the campaign's batches in flight, so a
Redis that restarted empty stalled a quarter of an hour of sending with the shipped
settings (tests/integration/campaigns/test_crash_safety.py, the sweep at an hour).

So the service keeps an epoch in Redis: the ``run_id`` of the Redis server that holds its
hints. A pass (the settle beat job, every few seconds) that finds the key missing or naming
another server knows that the hints may be gone — Redis restarted, empty or from an older
snapshot, or was replaced — and moves every ``queued`` row back to ``pending``, where the
next dispatch queues it again with a new hint. A hint that did survive is harmless: the
claim takes only rows still queued, so one of the two hints finds nothing to send.
"""

from __future__ import annotations

import logging

import redis
from sqlalchemy.orm import Session

from service.model.delivery_states import SWEEP_QUEUED, moved

log = logging.getLogger(__name__)

EPOCH_KEY = "tidings:hints-epoch"


def requeue_if_hints_lost(session: Session, client: redis.Redis) -> int:
    """Move every ``queued`` row back to ``pending`` when Redis is not the server that took
    their hints (see the module docstring); commits. Returns the rows moved (0 when the
    epoch matches, or on the first pass of a fresh install, which has nothing queued)."""
    run_id = str(client.info("server")["run_id"])
    seen = client.get(EPOCH_KEY)
    if seen is not None and (seen.decode() if isinstance(seen, bytes) else seen) == run_id:
        return 0
    moved_rows = int(
        session.execute(moved(SWEEP_QUEUED, queued_at=None)).rowcount  # type: ignore[attr-defined]
        or 0
    )
    session.commit()
    # Only now: a pass that dies before this line leaves the epoch unset, and the next
    # pass moves the rows again (harmless), instead of never.
    client.set(EPOCH_KEY, run_id)
    if moved_rows:
        log.warning(
            "Redis is not the server that took the queue hints: %d rows queued again", moved_rows
        )
    return moved_rows
