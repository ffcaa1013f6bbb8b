"""The campaign state machine and the ledger's guards, on the test database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from service.campaigns import ledger, progress, recipients
from service.campaigns.drafts import create_campaign
from service.campaigns.engine import start, tick
from service.campaigns.service import (
    PAUSED_BY_STAFF,
    CampaignError,
    TransitionError,
    cancel,
    parse_local_time,
    pause,
    resend_unknown,
    resume,
    schedule,
)
from service.config import Settings
from service.model import Campaign, Delivery, Link, MailingList, Membership, Subscriber, utcnow
from service.subscribers.suppression import suppress

BODY = '<p>Hi <a href="https://example.org/x">x</a> and <a href="https://example.org/y">y</a></p>'


def seed(session: Session) -> None:
    """Two lists: a@ on both, b@ on one, c@ suppressed, d@ unsubscribed, e@ disabled."""
    one = MailingList(slug="one", name="One")
    two = MailingList(slug="two", name="Two")
    session.add_all([one, two])
    session.flush()
    people = ["a@example.org", "b@example.org", "c@example.org", "d@example.org", "e@example.org"]
    session.execute(
        insert(Subscriber),
        [
            {"email": e, "email_ascii": e, "status": "disabled" if e[0] == "e" else "enabled"}
            for e in people
        ],
    )
    ids = dict(session.execute(select(Subscriber.email, Subscriber.id)).all())
    rows = [
        (ids["a@example.org"], one.id, "active"),
        (ids["a@example.org"], two.id, "active"),
        (ids["b@example.org"], two.id, "active"),
        (ids["c@example.org"], one.id, "active"),
        (ids["d@example.org"], one.id, "unsubscribed"),
        (ids["e@example.org"], one.id, "active"),
    ]
    session.execute(
        insert(Membership),
        [{"subscriber_id": s, "list_id": li, "status": st} for s, li, st in rows],
    )
    suppress(session, "C@example.org", "hard_bounce", source="test")
    session.commit()


def new_campaign(session: Session, settings: Settings) -> int:
    c = create_campaign(session, settings, lists=["one", "two"], body_html=BODY, subject="S")
    session.commit()
    return c.id


def reloaded(session: Session, campaign_id: int) -> Campaign:
    """The campaign as the database has it now (nothing cached by the session)."""
    session.expire_all()
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    return campaign


def materialized(session: Session, settings: Settings) -> int:
    """A started campaign (see ``seed``) with its delivery rows written."""
    seed(session)
    cid = new_campaign(session, settings)
    start(session, settings, cid)
    recipients.materialize(session, cid)
    return cid


def dispatched(
    session: Session, cid: int, batch_size: int = 10, max_batches_in_flight: int = 2
) -> list[list[int]]:
    """Queue the campaign's due rows; return the batches a task would have received."""
    batches: list[list[int]] = []
    ledger.dispatch(
        session,
        cid,
        lambda _c, ids: batches.append(ids),
        batch_size=batch_size,
        max_batches_in_flight=max_batches_in_flight,
    )
    return batches


def test_a_subscriber_on_two_lists_gets_one_row_and_the_suppressed_none(
    session: Session, settings: Settings
) -> None:
    seed(session)
    cid = new_campaign(session, settings)
    start(session, settings, cid)
    assert recipients.materialize(session, cid, chunk=1) == 2
    assert recipients.materialize(session, cid) == 2  # idempotent
    emails = session.scalars(select(Delivery.email).where(Delivery.campaign_id == cid)).all()
    assert sorted(emails) == ["a@example.org", "b@example.org"]


def test_starting_compiles_once_and_stores_the_links(session: Session, settings: Settings) -> None:
    seed(session)
    cid = new_campaign(session, settings)
    start(session, settings, cid)
    campaign = session.get(Campaign, cid)
    assert campaign is not None and campaign.status == "running" and campaign.compiled
    urls = session.scalars(select(Link.url).where(Link.campaign_id == cid).order_by(Link.position))
    assert list(urls) == ["https://example.org/x", "https://example.org/y"]


def test_each_transition_happens_only_from_its_expected_state(
    session: Session, settings: Settings
) -> None:
    seed(session)
    cid = new_campaign(session, settings)
    with pytest.raises(TransitionError, match="draft"):
        pause(session, cid)
    with pytest.raises(TransitionError):
        resume(session, cid)
    start(session, settings, cid)
    with pytest.raises(TransitionError, match="running"):
        start(session, settings, cid)
    pause(session, cid, PAUSED_BY_STAFF)
    with pytest.raises(TransitionError):
        pause(session, cid)
    resume(session, cid)
    cancel(session, cid)
    session.commit()
    for action in (pause, resume, cancel):
        with pytest.raises(TransitionError, match="cancelled"):
            action(session, cid)


def test_a_stale_status_read_cannot_win_a_transition(session: Session, settings: Settings) -> None:
    seed(session)
    cid = new_campaign(session, settings)
    start(session, settings, cid)
    pause(session, cid)
    session.commit()
    # Someone else resumed meanwhile; our pause must fail, not "succeed twice".
    resume(session, cid)
    session.commit()
    pause(session, cid)
    with pytest.raises(TransitionError):
        pause(session, cid)


def test_scheduling_reads_local_time_and_refuses_the_past(
    session: Session, settings: Settings
) -> None:
    seed(session)
    cid = new_campaign(session, settings)
    at = parse_local_time("2099-12-01T09:00", settings.zone)
    assert at.utcoffset() == timedelta(hours=8)  # Asia/Shanghai by default
    schedule(session, cid, at)
    session.commit()
    campaign = session.get(Campaign, cid)
    assert campaign is not None and campaign.status == "scheduled"
    assert campaign.scheduled_at is not None and campaign.scheduled_at.hour == 1  # UTC
    with pytest.raises(CampaignError, match="past"):
        schedule(session, cid, parse_local_time("2001-01-01T00:00", settings.zone))


def test_a_due_scheduled_campaign_is_started_and_materialized_by_the_beat(
    session: Session, settings: Settings
) -> None:
    seed(session)
    cid = new_campaign(session, settings)
    schedule(session, cid, utcnow() + timedelta(hours=1))
    session.execute(
        update(Campaign).where(Campaign.id == cid).values(scheduled_at=utcnow() - timedelta(1))
    )
    session.commit()
    batches: list[tuple[int, list[int]]] = []
    result = tick(session, settings, lambda c, ids: batches.append((c, ids)))
    assert result.started == [cid] and result.materialized == [cid]
    assert result.queued == 2 and batches == [(cid, sorted(i for _, ids in batches for i in ids))]


def test_claim_takes_only_queued_rows_of_a_running_campaign_and_only_once(
    session: Session, settings: Settings
) -> None:
    cid = materialized(session, settings)
    batches = dispatched(session, cid)
    ids = batches[0]
    assert ledger.claim(session, cid, ids) == ids
    assert ledger.claim(session, cid, ids) == []  # a duplicate task message gets nothing
    statuses = session.scalars(select(Delivery.status).where(Delivery.id.in_(ids))).all()
    assert set(statuses) == {"sending"}


def test_a_paused_campaign_claims_nothing(session: Session, settings: Settings) -> None:
    cid = materialized(session, settings)
    batches = dispatched(session, cid)
    pause(session, cid)
    session.commit()
    assert ledger.claim(session, cid, batches[0]) == []


def test_an_unsubscribe_after_materializing_is_skipped_at_claim(
    session: Session, settings: Settings
) -> None:
    cid = materialized(session, settings)
    session.execute(update(Membership).values(status="unsubscribed"))
    session.commit()
    batches = dispatched(session, cid)
    assert ledger.claim(session, cid, batches[0]) == []
    rows = session.scalars(select(Delivery).where(Delivery.campaign_id == cid)).all()
    assert {r.status for r in rows} == {"skipped"}
    assert all("unsubscribed" in (r.last_error or "") for r in rows)


def test_cancel_skips_unsent_rows_and_the_sweep_reports_stale_sending_rows_as_unknown(
    session: Session, settings: Settings
) -> None:
    cid = materialized(session, settings)
    batches = dispatched(session, cid, batch_size=1, max_batches_in_flight=5)
    ledger.claim(session, cid, batches[0])
    swept = ledger.sweep(session, queued_after=timedelta(0), sending_after=timedelta(0))
    assert swept == ledger.SweepResult(requeued=1, unknown=1)
    assert cancel(session, cid) == 1
    session.commit()
    counts = progress.counts(session, cid)
    assert counts["unknown"] == 1 and counts["skipped"] == 1


def test_resending_unknown_rows_runs_a_finished_campaign_again(
    session: Session, settings: Settings
) -> None:
    cid = materialized(session, settings)
    session.execute(update(Delivery).values(status="unknown"))
    session.commit()
    assert ledger.finalize(session) == [cid]
    assert resend_unknown(session, cid) == 2
    session.commit()
    campaign = session.get(Campaign, cid)
    assert campaign is not None and campaign.status == "running"
    assert progress.counts(session, cid)["pending"] == 2


def test_bad_input_gets_a_clear_error(session: Session, settings: Settings) -> None:
    seed(session)
    with pytest.raises(CampaignError, match="no list"):
        create_campaign(session, settings, lists=["nope"], body_html="x", subject="S")
    with pytest.raises(CampaignError, match="either"):
        create_campaign(session, settings, lists=["one"], subject="S")
    with pytest.raises(CampaignError, match="Reply-To"):
        create_campaign(
            session, settings, lists=["one"], body_html="x", subject="S", reply_to="not an address"
        )
