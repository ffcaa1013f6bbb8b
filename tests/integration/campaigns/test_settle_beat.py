"""The beat job that settles dead workers' claims, run by a real worker (issue 14)."""

from __future__ import annotations

import subprocess
import time

import redis
from sqlalchemy.orm import Session

from service.campaigns.claims import Marks
from service.config import Settings
from service.model import Delivery, SendClaim
from tests.unit.campaigns.test_claims import age_claim, claimed_rows

WAIT_SECONDS = 30.0


def test_the_beat_job_settles_a_dead_claim_in_a_real_worker_and_runs_every_few_seconds(
    session: Session,
    settings: Settings,
    redis_url: str,
    celery_worker: subprocess.Popen[bytes],
) -> None:
    from worker.app import celery
    from worker.tasks_send import BEAT

    client = redis.Redis.from_url(redis_url)
    held, ids = claimed_rows(session, settings, client)
    assert Marks(client, held).begin(ids[0])  # on the wire when its worker died
    age_claim(session, held.id, 120)  # longer than the default grace (20 s)

    celery.send_task(BEAT["send-settle"]["task"])

    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline and session.get(SendClaim, held.id) is not None:
        time.sleep(0.3)
        session.expire_all()
        session.commit()
    log = celery_worker.log_path.read_text()[-3000:]  # type: ignore[attr-defined]
    statuses = [session.get(Delivery, i).status for i in ids]  # type: ignore[union-attr]
    assert statuses == ["unknown", "pending", "pending", "pending"], log
    # Noticed in seconds: the period is well under the grace a claim gets.
    assert BEAT["send-settle"]["schedule"] <= 10
