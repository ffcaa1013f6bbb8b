"""Claims of dead workers (issue 14): the reconciliation of a batch from its begun marks,
against a real Redis and the test database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from service.campaigns import claims
from service.campaigns.claims import Marks, open_claim, settle, settle_dead_claims
from service.config import Settings
from service.model import Delivery, SendClaim, utcnow
from tests.unit.campaigns.test_campaign_states import new_campaign, seed

WHEN = datetime(2026, 12, 11, 10, 0, 0, tzinfo=UTC)
GRACE = timedelta(seconds=20)


@pytest.fixture
def rclient(redis_url: str) -> Iterator[redis.Redis]:
    """The shared test Redis, without marks left by another test."""
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(claims.MARKS_PREFIX + "*"):
        client.delete(key)
    yield client


def _sent_mark(row: int, message_id: str = "<m@x>") -> str:
    return f"s{row} {WHEN.timestamp():.6f} {message_id}"


def test_rows_never_begun_go_back_and_only_the_one_on_the_wire_is_unknown() -> None:
    marks = ["c", "b1", _sent_mark(1, "<one@x>"), "b2", "n2", "b3", _sent_mark(3), "b4"]
    plan = settle(marks, [1, 2, 3, 4, 5, 6], trusted=True)
    assert plan.sent == {1: (WHEN, "<one@x>"), 3: (WHEN, "<m@x>")}
    assert plan.unknown == [4]
    assert plan.unbegun == [2, 5, 6]


def test_marks_of_rows_already_recorded_do_not_matter() -> None:
    # Rows 1 and 2 were committed by the worker: the sweep only asks about 3.
    plan = settle(["c", "b1", _sent_mark(1), "b2", _sent_mark(2), "b3"], [3], trusted=True)
    assert plan.unknown == [3] and not plan.sent and not plan.unbegun


@pytest.mark.parametrize(
    ("marks", "trusted"),
    [
        (None, True),  # no list: Redis lost it, or was unreachable at the claim
        (["b1"], True),  # the head is missing: the list was made again after a loss
        (["c", "b1"], False),  # Redis restarted since the claim (another run_id)
    ],
)
def test_marks_that_cannot_be_trusted_make_every_row_unknown_never_resent(
    marks: list[str] | None, trusted: bool
) -> None:
    plan = settle(marks, [1, 2, 3], trusted=trusted)
    assert plan.unknown == [1, 2, 3] and not plan.unbegun and not plan.sent


def claimed_rows(session: Session, settings: Settings, client: redis.Redis, n: int = 4) -> tuple:
    """A claim holding ``n`` rows ``sending``; returns (claim, row ids)."""
    seed(session)
    cid = new_campaign(session, settings)
    held = open_claim(session, client, cid)
    session.execute(
        insert(Delivery),
        [
            {
                "campaign_id": cid,
                "email": f"r{i}@example.org",
                "status": "sending",
                "attempts": 0,
                "claim_id": held.id,
                "claimed_at": utcnow(),
            }
            for i in range(n)
        ],
    )
    session.commit()
    ids = list(session.scalars(select(Delivery.id).where(Delivery.campaign_id == cid)))
    return held, sorted(ids)


def age_claim(session: Session, claim_id: int, seconds: float) -> None:
    session.execute(
        update(SendClaim)
        .where(SendClaim.id == claim_id)
        .values(beat_at=utcnow() - timedelta(seconds=seconds))
    )
    session.commit()


def _statuses(session: Session, ids: list[int]) -> list[str]:
    session.expire_all()
    return [session.get(Delivery, i).status for i in ids]  # type: ignore[union-attr]


def test_a_dead_claim_is_settled_from_its_marks_and_then_forgotten(
    session: Session, settings: Settings, rclient: redis.Redis
) -> None:
    held, ids = claimed_rows(session, settings, rclient)
    marks = Marks(rclient, held)
    assert marks.begin(ids[0])
    marks.sent(ids[0], WHEN, "<first@x>")
    assert marks.begin(ids[1])  # on the wire when the worker died
    age_claim(session, held.id, 60)
    result = settle_dead_claims(session, rclient, GRACE)
    assert (result.claims, result.sent, result.unknown, result.requeued) == (1, 1, 1, 2)
    assert _statuses(session, ids) == ["sent", "unknown", "pending", "pending"]
    first = session.get(Delivery, ids[0])
    assert first is not None and first.message_id == "<first@x>" and first.attempts == 1
    assert first.sent_at == WHEN
    assert session.get(SendClaim, held.id) is None
    assert not rclient.exists(claims.marks_key(held.token))


def test_a_claim_that_still_beats_is_left_alone_however_long_its_batch_takes(
    session: Session, settings: Settings, rclient: redis.Redis
) -> None:
    held, ids = claimed_rows(session, settings, rclient)
    age_claim(session, held.id, 5)
    assert settle_dead_claims(session, rclient, GRACE).claims == 0
    assert _statuses(session, ids) == ["sending"] * 4
    assert rclient.exists(claims.marks_key(held.token))


def test_a_worker_thought_dead_cannot_send_another_message_after_the_sweep(
    session: Session, settings: Settings, rclient: redis.Redis
) -> None:
    held, ids = claimed_rows(session, settings, rclient)
    marks = Marks(rclient, held)
    assert marks.begin(ids[0])
    age_claim(session, held.id, 60)
    settle_dead_claims(session, rclient, GRACE)
    # It wakes up: its next mark is refused, so it does not send a row now pending.
    assert not marks.begin(ids[1])
    assert _statuses(session, ids) == ["unknown", "pending", "pending", "pending"]


def test_after_a_redis_restart_every_row_of_a_dead_claim_is_unknown(
    session: Session, settings: Settings, rclient: redis.Redis
) -> None:
    held, ids = claimed_rows(session, settings, rclient)
    session.execute(
        update(SendClaim).where(SendClaim.id == held.id).values(redis_run_id="an-older-run")
    )
    session.commit()
    age_claim(session, held.id, 60)
    result = settle_dead_claims(session, rclient, GRACE)
    assert result.unknown == 4 and result.requeued == 0
    assert _statuses(session, ids) == ["unknown"] * 4


def test_a_claim_made_without_redis_sends_unmarked_and_settles_as_unknown(
    session: Session, settings: Settings, rclient: redis.Redis
) -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    held, ids = claimed_rows(session, settings, dead)
    assert not held.marked and Marks(dead, held).begin(ids[0])
    age_claim(session, held.id, 60)
    assert settle_dead_claims(session, rclient, GRACE).unknown == 4


def test_a_beating_claim_is_not_settled_although_it_was_stale_before(
    session: Session, settings: Settings, rclient: redis.Redis
) -> None:
    held, ids = claimed_rows(session, settings, rclient)
    age_claim(session, held.id, 60)
    engine = session.get_bind()
    with claims.Heartbeat(engine, held.id, every=0.05):  # type: ignore[arg-type]
        deadline = time.monotonic() + 10
        while not _fresh(session, held.id):
            assert time.monotonic() < deadline, "the heartbeat never beat"
            time.sleep(0.05)
        assert settle_dead_claims(session, rclient, GRACE).claims == 0
    assert _statuses(session, ids) == ["sending"] * 4


def _fresh(session: Session, claim_id: int) -> bool:
    session.expire_all()
    beat = session.scalar(select(SendClaim.beat_at).where(SendClaim.id == claim_id))
    session.commit()
    return beat is not None and beat > utcnow() - GRACE


def test_a_mark_sent_ahead_is_confirmed_before_the_next_and_all_are_kept(
    session: Session, settings: Settings, rclient: redis.Redis
) -> None:
    held, ids = claimed_rows(session, settings, rclient)
    marks = Marks(rclient, held)
    marks.announce(ids[0])
    marks.sent(ids[0], WHEN, "<a@x>")
    marks.announce(ids[1])  # reads the first answer itself
    assert marks.confirm()
    marks.close()
    kept = [e.decode() for e in rclient.lrange(claims.marks_key(held.token), 0, -1)]
    assert kept == ["c", f"b{ids[0]}", _sent_mark(ids[0], "<a@x>"), f"b{ids[1]}"]


def test_a_mark_not_announced_is_never_confirmed(
    session: Session, settings: Settings, rclient: redis.Redis
) -> None:
    held, _ids = claimed_rows(session, settings, rclient)
    assert not Marks(rclient, held).confirm()


def test_outcomes_not_yet_in_the_ledger_are_written_when_the_batch_stops(
    session: Session, settings: Settings, rclient: redis.Redis
) -> None:
    held, ids = claimed_rows(session, settings, rclient)
    marks = Marks(rclient, held)
    assert marks.begin(ids[0])
    marks.sent(ids[0], WHEN, "<last@x>")
    marks.close()  # e.g. the database went away before the last group commit
    age_claim(session, held.id, 60)
    settle_dead_claims(session, rclient, GRACE)
    assert _statuses(session, ids) == ["sent", "pending", "pending", "pending"]
