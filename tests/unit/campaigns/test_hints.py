"""Queue hints that a restarted Redis lost are sent again at once (service.campaigns.hints)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from sqlalchemy.orm import Session

from service.campaigns import progress
from service.campaigns.hints import EPOCH_KEY, requeue_if_hints_lost
from service.config import Settings
from tests.unit.campaigns.test_campaign_states import dispatched, materialized


@pytest.fixture
def rclient(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.delete(EPOCH_KEY)
    yield client
    client.delete(EPOCH_KEY)


def test_queued_rows_go_back_to_pending_when_redis_is_not_the_server_that_took_their_hints(
    session: Session, settings: Settings, rclient: redis.Redis
) -> None:
    cid = materialized(session, settings)
    assert len(dispatched(session, cid, batch_size=1)) == 2
    assert progress.counts(session, cid)["queued"] == 2
    # No epoch: Redis restarted empty (or this is the first pass of a new version).
    assert requeue_if_hints_lost(session, rclient) == 2
    assert progress.counts(session, cid)["queued"] == 0
    assert len(dispatched(session, cid, batch_size=1)) == 2  # queued again, new hints


def test_while_the_same_redis_holds_the_hints_nothing_moves(
    session: Session, settings: Settings, rclient: redis.Redis
) -> None:
    cid = materialized(session, settings)
    requeue_if_hints_lost(session, rclient)  # the epoch is written
    dispatched(session, cid, batch_size=1)
    assert requeue_if_hints_lost(session, rclient) == 0
    assert progress.counts(session, cid)["queued"] == 2


def test_an_epoch_naming_another_server_counts_as_lost_hints(
    session: Session, settings: Settings, rclient: redis.Redis
) -> None:
    # Redis restarted from an older snapshot: the key is there, with the old run_id.
    cid = materialized(session, settings)
    dispatched(session, cid, batch_size=1)
    rclient.set(EPOCH_KEY, "a-server-that-is-gone")
    assert requeue_if_hints_lost(session, rclient) == 2
    assert rclient.get(EPOCH_KEY) == str(rclient.info("server")["run_id"]).encode()
