"""Guards found in review: resending unknown rows, materializing after a cancel, starting
and preparing in one call, and reading RFC 3463 enhanced status codes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.campaigns import progress, recipients
from service.campaigns.engine import start, start_and_prepare
from service.campaigns.service import (
    PAUSED_BY_STAFF,
    TransitionError,
    cancel,
    finish,
    pause,
    resend_unknown,
    resume,
)
from service.config import Settings
from service.events.policy import smtp_refusal_kind
from service.mail.backends import PermanentSendError, TransientSendError, classify_reply
from service.model import Campaign, Delivery
from tests.unit.campaigns.test_campaign_states import new_campaign, reloaded, seed


def _started_with_unknown_rows(session: Session, settings: Settings) -> int:
    seed(session)
    cid = new_campaign(session, settings)
    start(session, settings, cid)
    recipients.materialize(session, cid)
    session.execute(update(Delivery).values(status="unknown"))
    session.commit()
    return cid


def _status(session: Session, cid: int) -> str:
    return reloaded(session, cid).status


def test_resending_unknown_rows_of_a_cancelled_campaign_is_refused_and_changes_nothing(
    session: Session, settings: Settings
) -> None:
    cid = _started_with_unknown_rows(session, settings)
    cancel(session, cid)
    session.commit()
    with pytest.raises(TransitionError, match="cancelled"):
        resend_unknown(session, cid)
    session.rollback()
    assert _status(session, cid) == "cancelled"
    assert progress.counts(session, cid)["unknown"] == 2


def test_resending_unknown_rows_of_a_paused_campaign_keeps_it_paused(
    session: Session, settings: Settings
) -> None:
    cid = _started_with_unknown_rows(session, settings)
    pause(session, cid, PAUSED_BY_STAFF)
    session.commit()
    assert resend_unknown(session, cid) == 2
    session.commit()
    assert _status(session, cid) == "paused"
    assert progress.counts(session, cid)["pending"] == 2
    campaign = session.get(Campaign, cid)
    assert campaign is not None and campaign.status_code == "campaign.paused_by_staff"


def test_resending_unknown_rows_of_a_finished_campaign_notes_why_it_runs_again(
    session: Session, settings: Settings
) -> None:
    cid = _started_with_unknown_rows(session, settings)
    pause(session, cid, PAUSED_BY_STAFF)
    resume(session, cid)
    finish(session, cid)
    session.commit()
    assert resend_unknown(session, cid) == 2
    session.commit()
    assert _status(session, cid) == "running"
    campaign = session.get(Campaign, cid)
    assert campaign is not None
    assert (campaign.status_code, campaign.status_params) == ("campaign.resending_unknown", None)
    assert campaign.status_reason == "resending rows whose outcome was unknown"


def test_materialize_stops_when_the_campaign_is_cancelled_between_chunks(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(session)
    cid = new_campaign(session, settings)
    start(session, settings, cid)
    real_chunk = recipients._audience_chunk
    calls: list[int] = []

    def cancel_after_first_chunk(s: Session, *args: object) -> list[tuple[int, str]]:
        calls.append(1)
        if len(calls) == 2:  # staff cancel in another session, between two chunks
            with Session(bind=s.get_bind()) as other:
                cancel(other, cid)
                other.commit()
        return real_chunk(s, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(recipients, "_audience_chunk", cancel_after_first_chunk)
    recipients.materialize(session, cid, chunk=1)
    statuses = session.scalars(select(Delivery.status).where(Delivery.campaign_id == cid)).all()
    assert "pending" not in statuses  # nothing is left waiting for a send that never comes
    assert statuses == ["skipped"]  # the first chunk, skipped by the cancel
    campaign = session.get(Campaign, cid)
    assert campaign is not None and campaign.materialized_at is None


def test_start_and_prepare_starts_then_queues_the_audience(
    session: Session, settings: Settings
) -> None:
    seed(session)
    cid = new_campaign(session, settings)
    queued: list[tuple[int, str]] = []

    def enqueue(campaign_id: int) -> None:
        # Queued only after the start was committed: the worker must see a running campaign.
        with Session(bind=session.get_bind()) as other:
            status = other.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
        queued.append((campaign_id, str(status)))

    assert start_and_prepare(session, settings, cid, enqueue) is None
    assert queued == [(cid, "running")]


def test_start_and_prepare_still_starts_when_the_queue_is_unreachable(
    session: Session, settings: Settings
) -> None:
    seed(session)
    cid = new_campaign(session, settings)

    def no_queue(_campaign_id: int) -> None:
        raise ConnectionError("redis is down")

    assert start_and_prepare(session, settings, cid, no_queue) == "redis is down"
    assert _status(session, cid) == "running"
    with pytest.raises(TransitionError):
        start_and_prepare(session, settings, cid, no_queue)
    count = session.scalar(select(func.count(Delivery.id)).where(Delivery.campaign_id == cid))
    assert count == 0  # the beat job materializes it later


@pytest.mark.parametrize(
    ("code", "text", "enhanced", "kind"),
    [
        (550, "5.7.26 Unauthenticated email from example.org is not accepted", "5.7.26", "policy"),
        (550, "5.7.515 Access denied, sending domain does not meet the level", "5.7.515", "policy"),
        (550, "5.1.1 The email account that you tried to reach does not exist", "5.1.1", "hard"),
        (550, "5.2.1 mailbox disabled", "5.2.1", "hard"),
        (552, "5.2.2 mailbox full", "5.2.2", None),
        (550, "no such user here", None, "hard"),
        (554, "transaction failed", None, None),
    ],
)
def test_the_enhanced_status_code_decides_what_a_refusal_means(
    code: int, text: str, enhanced: str | None, kind: str | None
) -> None:
    error = classify_reply(code, text.encode())
    assert error.code == code and error.enhanced == enhanced
    assert str(error) == f"{code} {text}"
    assert smtp_refusal_kind(error.code, error.enhanced) == kind


def test_552_stays_transient_and_a_version_number_is_not_an_enhanced_code() -> None:
    assert isinstance(classify_reply(552, b"5.2.2 full"), TransientSendError)
    assert isinstance(classify_reply(550, b"5.1.1 gone"), PermanentSendError)
    assert classify_reply(550, b"rejected by filter 1.2.3.4").enhanced is None
    assert classify_reply(451, b"4.7.1 greylisted").enhanced == "4.7.1"
