"""Tasks of the sending engine (queue `send`) and its beat jobs.

Thin: ids in, a plain service function out. These tasks manage their own session instead
of using ``AppTask``'s single transaction, because the send core commits as it goes (claim,
then result groups) and dispatch must commit BEFORE it enqueues.
"""

from __future__ import annotations

from typing import Any

import redis

from worker.app import celery, settings, work_session

# Beat periods (seconds). Dispatch also runs after every batch, so the beat one is only
# the fallback that restarts the flow after a lost message or a worker restart.
DUE_EVERY = 15.0
DISPATCH_EVERY = 5.0
SWEEP_EVERY = 60.0
# Dead workers' claims are settled this often: with the default heartbeat (5 s) and grace
# (20 s), a dead worker's unbegun rows are pending again within ~25 s of its death.
SETTLE_EVERY = 5.0
FINALIZE_EVERY = 10.0
# Probes of the relay for campaigns the error brake paused are due 15 s apart at the
# least (``healing``); looking every 5 s keeps each one at most 5 s late.
PROBE_EVERY = 5.0

# A campaign being materialized is locked this long (a million rows take a few minutes),
# so the beat does not start a second, redundant materialization meanwhile.
MATERIALIZE_LOCK_SECONDS = 900

_redis: redis.Redis | None = None


def redis_client() -> redis.Redis:
    """This process's Redis client (throttle and error brake)."""
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    return _redis


def materialize_lock(campaign_id: int) -> bool:
    """Take the campaign's materialize lock; True when this process may go ahead."""
    try:
        key = f"tidings:materialize:{campaign_id}"
        return bool(redis_client().set(key, "1", nx=True, ex=MATERIALIZE_LOCK_SECONDS))
    except redis.RedisError:
        return True  # no Redis: materializing twice is safe, only slower


def materialize_unlock(campaign_id: int) -> None:
    """Release the lock (its expiry covers a worker that died holding it)."""
    try:
        redis_client().delete(f"tidings:materialize:{campaign_id}")
    except redis.RedisError:
        pass


def enqueue_batch(campaign_id: int, delivery_ids: list[int]) -> None:
    """Hand one batch to the `send` queue (called only after the rows were committed)."""
    send_batch.apply_async(args=[campaign_id, delivery_ids])


@celery.task(name="tidings.send.batch", ignore_result=True)
def send_batch(campaign_id: int, delivery_ids: list[int]) -> None:
    """Claim and send one batch, then top up the campaign's queue (or finish it)."""
    from service.campaigns.engine import after_batch
    from service.campaigns.sender import send_batch as send

    with work_session() as session:
        send(session, settings, redis_client(), campaign_id, delivery_ids)
        after_batch(session, campaign_id, enqueue_batch)


@celery.task(name="tidings.send.materialize", ignore_result=True)
def materialize(campaign_id: int) -> None:
    """Make the delivery rows of a started campaign; its first batches are dispatched as
    soon as the first chunk of rows exists (``engine.materialize``)."""
    from service.campaigns.engine import dispatch_one
    from service.campaigns.engine import materialize as make_rows

    with work_session() as session:
        if materialize_lock(campaign_id):
            try:
                make_rows(session, campaign_id, enqueue_batch)
            finally:
                materialize_unlock(campaign_id)
        dispatch_one(session, campaign_id, enqueue_batch)


@celery.task(name="tidings.send.due", ignore_result=True)
def start_due() -> None:
    """Start scheduled campaigns whose time has come and materialize started ones."""
    from service.campaigns.engine import materialize_running, start_due

    with work_session() as session:
        start_due(session, settings)
        for campaign_id in materialize_running(session, materialize_lock, enqueue_batch):
            materialize_unlock(campaign_id)


@celery.task(name="tidings.send.dispatch", ignore_result=True)
def dispatch() -> None:
    """Queue due rows of every running campaign (the fallback pump)."""
    from service.campaigns.engine import dispatch_all

    with work_session() as session:
        dispatch_all(session, enqueue_batch)


@celery.task(name="tidings.send.sweep", ignore_result=True)
def sweep() -> None:
    """Stale `queued` rows back to pending; stale `sending` rows to `unknown`."""
    import logging

    from service.campaigns.engine import sweep as sweep_rows

    with work_session() as session:
        result = sweep_rows(session)
    if result.unknown:
        logging.getLogger(__name__).warning(
            "%d deliveries became unknown (their worker stopped mid-batch)", result.unknown
        )


@celery.task(name="tidings.send.settle", ignore_result=True)
def settle() -> None:
    """Queue again what a restarted Redis lost, then settle the batches of workers that
    stopped beating (unbegun rows go out again)."""
    from service.campaigns.engine import settle_dead_claims
    from service.campaigns.hints import requeue_if_hints_lost

    with work_session() as session:
        requeue_if_hints_lost(session, redis_client())
        settle_dead_claims(session, redis_client())


@celery.task(name="tidings.send.finalize", ignore_result=True)
def finalize() -> None:
    """Finish running campaigns whose ledger has no open rows."""
    from service.campaigns.ledger import finalize as finish_done

    with work_session() as session:
        finish_done(session)


@celery.task(name="tidings.send.probe", ignore_result=True)
def probe() -> None:
    """Probe the relay for campaigns the error brake paused; resume those it answers."""
    from service.campaigns.healing import probe_due

    with work_session() as session:
        probe_due(session, settings)


# Periodic jobs of this module, merged into the beat schedule by worker.app.
BEAT: dict[str, dict[str, Any]] = {
    "send-due": {"task": "tidings.send.due", "schedule": DUE_EVERY},
    "send-dispatch": {"task": "tidings.send.dispatch", "schedule": DISPATCH_EVERY},
    "send-sweep": {"task": "tidings.send.sweep", "schedule": SWEEP_EVERY},
    "send-settle": {"task": "tidings.send.settle", "schedule": SETTLE_EVERY},
    "send-finalize": {"task": "tidings.send.finalize", "schedule": FINALIZE_EVERY},
    "send-probe": {"task": "tidings.send.probe", "schedule": PROBE_EVERY},
}
