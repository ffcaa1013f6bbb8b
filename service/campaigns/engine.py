"""Driving campaigns: start (compile + running), and the beat jobs that keep them moving.

The beat jobs are plain functions over a session; ``worker/tasks_send.py`` only wraps them.
Each is safe to run twice at once (every write is guarded), so a second beat or a manual
run never duplicates anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.campaigns import claims, healing, hints, ledger, recipients
from service.campaigns.archive_links import publish_for_sending
from service.campaigns.campaign_states import LIVE, START
from service.campaigns.content import compile_campaign
from service.campaigns.service import (
    TransitionError,
    mark_running,
    no_campaign,
    reason_values,
)
from service.config import Settings
from service.errors import Message, message_of
from service.mail.from_address import check_sendable
from service.mail.sending_config import get_sending_config, through_relay
from service.model import Campaign, CampaignStatus, utcnow

log = logging.getLogger(__name__)


def start(
    session: Session, settings: Settings, campaign_id: int, user_id: int | None = None
) -> None:
    """Compile the content, publish the issue's archive page (unless the issue is kept
    private), then draft|scheduled → running; commits.

    The audience is materialized afterwards (``materialize_running``, by a task right after
    and by every beat tick until done), so a web request never waits for a million rows.
    Raises ``TransitionError`` when the campaign cannot start, ``ContentError`` when its
    content cannot be rendered, ``UnsendableFrom`` when its From cannot go through the
    configured relay (nothing changes then).
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise no_campaign(campaign_id)
    if not START.allows(campaign.status):
        raise TransitionError(
            "campaign.cannot_start",
            "campaign %(campaign_id)s is %(status)s, cannot start",
            campaign_id=campaign_id,
            status=campaign.status,
        )
    check_sendable(campaign.from_addr, through_relay(settings, get_sending_config(session)))
    compile_campaign(session, settings, campaign)
    # The mail links to the archive page ("view in browser", "read more"): it
    # must answer from the first message on.
    publish_for_sending(session, campaign, user_id)
    mark_running(session, campaign_id)
    session.commit()


def start_and_prepare(
    session: Session,
    settings: Settings,
    campaign_id: int,
    enqueue: Callable[[int], object],
) -> str | None:
    """``start`` (commits), then ask a worker to materialize the audience right away.

    ``enqueue(campaign_id)`` queues the materialize task. The queue being unreachable is
    not an error: the beat job materializes every running campaign anyway, so this only
    returns why it could not be queued (None when it was). Raises what ``start`` raises.
    """
    start(session, settings, campaign_id)
    try:
        enqueue(campaign_id)
    except Exception as exc:  # noqa: BLE001 - no Redis now: the beat job prepares it later
        log.warning("campaign %s: materialize not queued (%s); beat will do it", campaign_id, exc)
        return str(exc) or type(exc).__name__
    return None


def start_due(session: Session, settings: Settings) -> list[int]:
    """Start every scheduled campaign whose time has come; commits. Returns their ids."""
    due = list(
        session.scalars(
            select(Campaign.id).where(
                Campaign.status == CampaignStatus.SCHEDULED, Campaign.scheduled_at <= utcnow()
            )
        )
    )
    started = []
    for campaign_id in due:
        try:
            start(session, settings, campaign_id)
            started.append(campaign_id)
        except (TransitionError, ValueError) as exc:
            session.rollback()
            reason = Message.of(
                "campaign.start_failed", "could not start: %(error)s", error=message_of(exc)
            )
            _note(session, campaign_id, reason)
    return started


def _note(session: Session, campaign_id: int, reason: Message) -> None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is not None:
        for column, value in reason_values(reason).items():
            setattr(campaign, column, value)
        session.commit()


def materialize_running(
    session: Session,
    may_run: Callable[[int], bool] = lambda _campaign_id: True,
    enqueue: ledger.Enqueue | None = None,
) -> list[int]:
    """Materialize every running campaign that is not yet; commits per chunk.

    ``may_run(campaign_id)`` lets the caller skip a campaign another process is already
    materializing (the tasks use a Redis lock); running twice is harmless, only wasteful.
    With ``enqueue``, each campaign's first rows are dispatched as soon as they exist.
    """
    ids = list(
        session.scalars(
            select(Campaign.id).where(
                Campaign.status.in_([str(s) for s in LIVE]),
                Campaign.materialized_at.is_(None),
            )
        )
    )
    session.commit()
    done = []
    for campaign_id in ids:
        if may_run(campaign_id):
            materialize(session, campaign_id, enqueue)
            done.append(campaign_id)
    return done


def materialize(session: Session, campaign_id: int, enqueue: ledger.Enqueue | None) -> int:
    """Make the campaign's rows (commits per chunk); with ``enqueue``, its first batches
    are queued right after the first chunk, so sending starts before the audience is
    whole. Returns the rows made."""
    started = (lambda: dispatch_one(session, campaign_id, enqueue)) if enqueue else None
    return recipients.materialize(session, campaign_id, started=started)


def dispatch_all(session: Session, enqueue: ledger.Enqueue) -> int:
    """Dispatch every running campaign (enqueue after commit). Returns rows queued."""
    config = get_sending_config(session)
    ids = list(
        session.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.RUNNING))
    )
    session.commit()
    return sum(
        ledger.dispatch(
            session,
            campaign_id,
            enqueue,
            batch_size=config.batch_size,
            max_batches_in_flight=config.max_batches_in_flight,
        )
        for campaign_id in ids
    )


def dispatch_one(session: Session, campaign_id: int, enqueue: ledger.Enqueue) -> int:
    """Top up one campaign's queue (a finished batch calls this to keep workers busy)."""
    config = get_sending_config(session)
    return ledger.dispatch(
        session,
        campaign_id,
        enqueue,
        batch_size=config.batch_size,
        max_batches_in_flight=config.max_batches_in_flight,
    )


def after_batch(session: Session, campaign_id: int, enqueue: ledger.Enqueue) -> bool:
    """What a worker does after each batch: top up the campaign's queue and, when nothing
    was left to queue, finish the campaign if its last row is recorded — at once, not at
    the beat's next finalize (up to ``FINALIZE_EVERY`` later). True when it finished."""
    if dispatch_one(session, campaign_id, enqueue):
        return False
    return bool(ledger.finalize(session, campaign_id))


def sweep(session: Session) -> ledger.SweepResult:
    """The stale-row sweep with the configured thresholds."""
    config = get_sending_config(session)
    session.commit()
    return ledger.sweep(
        session,
        queued_after=timedelta(seconds=config.queued_stale_seconds),
        sending_after=timedelta(seconds=config.sending_stale_seconds),
    )


def settle_dead_claims(session: Session, client: redis.Redis) -> claims.SettleResult:
    """Settle the claims of workers that stopped beating, with the configured grace."""
    config = get_sending_config(session)
    session.commit()
    return claims.settle_dead_claims(session, client, timedelta(seconds=config.worker_dead_seconds))


@dataclass
class TickResult:
    """What one beat tick did."""

    started: list[int] = field(default_factory=list)
    materialized: list[int] = field(default_factory=list)
    queued: int = 0
    requeued: int = 0
    unknown: int = 0
    settled: claims.SettleResult = field(default_factory=claims.SettleResult)
    finished: list[int] = field(default_factory=list)
    probed: list[int] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)
    rehinted: int = 0


def tick(session: Session, settings: Settings, enqueue: ledger.Enqueue) -> TickResult:
    """One pass of every beat job, in order: due → probe → queue hints Redis lost →
    materialize (its first rows dispatched at once) → settle dead claims → sweep →
    dispatch → finalize."""
    result = TickResult()
    result.started = start_due(session, settings)
    probes = healing.probe_due(session, settings)
    result.probed = [p.campaign_id for p in probes]
    result.resumed = [p.campaign_id for p in probes if p.resumed]
    # Hints before materializing: the first rows are queued as soon as they exist, and a
    # first pass (no epoch yet) would take their fresh hints for lost ones.
    result.rehinted = hints.requeue_if_hints_lost(session, claims.redis_for(settings.redis_url))
    early: list[int] = []  # rows dispatched right after a campaign's first chunk

    def counted(campaign_id: int, ids: list[int]) -> None:
        early.append(len(ids))
        enqueue(campaign_id, ids)

    result.materialized = materialize_running(session, enqueue=counted)
    result.settled = settle_dead_claims(session, claims.redis_for(settings.redis_url))
    swept = sweep(session)
    result.requeued, result.unknown = swept.requeued, swept.unknown
    result.queued = sum(early) + dispatch_all(session, enqueue)
    result.finished = ledger.finalize(session)
    return result
