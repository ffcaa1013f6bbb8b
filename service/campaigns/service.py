"""Campaigns: the state machine of DESIGN §4 (a draft is made and changed in ``drafts``).

Every transition is ONE guarded UPDATE (``WHERE status IN (:expected)``): two staff
members clicking at once, or a click racing the beat job, can never both win. Which
states each one may start from is written once, in ``campaign_states``. A function
returns normally when its transition happened and raises ``TransitionError`` (saying what
the state is now) when it did not. The delivery rows a transition moves with it (resume,
cancel, resend unknown) move by the named moves of ``service.model.delivery_states``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from service.campaigns.campaign_states import (
    CANCEL,
    FINISH,
    PAUSE,
    RESEND_UNKNOWN,
    RESUME,
    SCHEDULE,
    START,
    UNSCHEDULE,
    CampaignTransition,
)
from service.errors import DomainError, Message
from service.model import Campaign, Delivery, utcnow
from service.model import delivery_states as deliveries

# status_reason is shown in a box on the campaign page; a relay's answer can be long.
MAX_REASON_CHARS = 1000
RESEND_REASON = Message.of("campaign.resending_unknown", "resending rows whose outcome was unknown")
# Who paused a campaign, as its page says it.
PAUSED_BY_STAFF = Message.of("campaign.paused_by_staff", "paused by a staff member")
PAUSED_THROUGH_API = Message.of("campaign.paused_through_api", "paused through the API")
PAUSED_FROM_CLI = Message.of("campaign.paused_from_cli", "paused from the command line")


class CampaignError(DomainError, ValueError):
    """Bad input for a campaign; the message says what to fix."""


class TransitionError(DomainError, RuntimeError):
    """The campaign was not in a state that allows this action (someone was quicker)."""


def no_campaign(campaign_id: int) -> TransitionError:
    """The error for a campaign id that does not exist (any more)."""
    return TransitionError(
        "campaign.missing", "there is no campaign %(campaign_id)s", campaign_id=campaign_id
    )


def reason_values(reason: Message | None) -> dict[str, Any]:
    """The columns that store why a campaign is in its state (nothing: empty reason).

    The English text goes to ``status_reason`` (what the API and the command line show),
    the code and parameters let the admin say it in the reader's language.
    """
    if reason is None:
        return {"status_reason": "", "status_code": "", "status_params": None}
    dumped = reason.dump()
    return {
        "status_reason": reason.text[:MAX_REASON_CHARS],
        "status_code": reason.code,
        "status_params": dumped["params"] or None,
    }


# ------------------------------------------------------------------ transitions


def _transition(
    session: Session,
    campaign_id: int,
    transition: CampaignTransition,
    *where: ColumnElement[bool],
    **values: object,
) -> None:
    """One guarded UPDATE; raise ``TransitionError`` when the row was not in one of the
    transition's sources (or does not match ``where``, an extra guard).

    Every transition ends a wait for the next probe of the relay (``healing``) unless it
    schedules one itself: a person's resume, pause or cancel always wins over a probe.
    """
    new = transition.target
    values.setdefault("probe_due_at", None)
    result = session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status.in_(status_values(transition.sources)),
            *where,
        )
        .values(status=str(new), updated_at=utcnow(), **values)
        .returning(Campaign.id)
    )
    if result.first() is None:
        current = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
        if current is None:
            raise no_campaign(campaign_id)
        raise TransitionError(
            "campaign.bad_transition",
            "campaign %(campaign_id)s is %(status)s, cannot become %(new_status)s",
            campaign_id=campaign_id,
            status=current,
            new_status=str(new),
        )
    session.expire_all()


def status_values(states: Sequence[str]) -> list[str]:
    """The states as the status column holds them (for ``Campaign.status.in_``)."""
    return [str(s) for s in states]


def parse_local_time(text: str, zone: ZoneInfo) -> datetime:
    """An ISO time as staff type it; without an offset it is in the configured zone."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise CampaignError(
            "campaign.bad_time", "%(text)r is not a time like 2026-12-01T09:00", text=text
        ) from exc
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def schedule(session: Session, campaign_id: int, at: datetime) -> None:
    """draft|scheduled → scheduled at ``at`` (timezone-aware; must be in the future)."""
    if at.tzinfo is None:
        raise time_without_zone()
    if at <= utcnow():
        raise CampaignError(
            "campaign.time_in_past", "the scheduled time is in the past; use start to send now"
        )
    _transition(session, campaign_id, SCHEDULE, scheduled_at=at, **reason_values(None))


def set_schedule(session: Session, campaign_id: int, at: datetime | None) -> bool:
    """The schedule as the edit form gives it: a time schedules (or moves) the campaign by
    ``schedule``; no time takes a scheduled campaign back to draft by ``unschedule``; the
    time it already has changes nothing. Returns whether anything changed."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise no_campaign(campaign_id)
    if at is None:
        if not UNSCHEDULE.allows(campaign.status):
            return False
        unschedule(session, campaign_id)
        return True
    if UNSCHEDULE.allows(campaign.status) and campaign.scheduled_at == at:
        return False
    schedule(session, campaign_id, at)
    return True


def time_without_zone() -> CampaignError:
    """The error for a time given without a zone offset."""
    return CampaignError("campaign.time_without_zone", "the time needs a zone")


def unschedule(session: Session, campaign_id: int) -> None:
    """scheduled → draft."""
    _transition(session, campaign_id, UNSCHEDULE, scheduled_at=None)


def mark_running(session: Session, campaign_id: int) -> None:
    """draft|scheduled → running (the content must be compiled first: see ``start``)."""
    _transition(session, campaign_id, START, started_at=utcnow(), **reason_values(None))


def pause(
    session: Session,
    campaign_id: int,
    reason: Message | None = None,
    probe_due_at: datetime | None = None,
) -> None:
    """running → paused, noting ``reason`` (who paused, or why the sender did). Workers stop
    claiming at once; a batch in flight stops at its next commit group and gives its
    untouched rows back. ``probe_due_at``: the error brake paused for a transient fault
    and the relay is to be probed then (see ``healing``)."""
    _transition(
        session,
        campaign_id,
        PAUSE,
        probe_due_at=probe_due_at,
        probe_attempts=0,
        **reason_values(reason),
    )


def resume(
    session: Session,
    campaign_id: int,
    *where: ColumnElement[bool],
    reason: Message | None = None,
) -> None:
    """paused → running; dispatch picks up the pending rows again. ``where``: an extra
    guard, ``reason``: a note (a probe resumes only a campaign the brake still holds, and
    says so: see ``healing``).

    Rows still ``queued`` had their queue messages claim nothing while paused: they go
    back to ``pending`` now rather than waiting for the sweep. A message still in the
    queue for one of them is harmless — the guarded claim lets only one send happen.
    """
    _transition(session, campaign_id, RESUME, *where, **reason_values(reason))
    session.execute(
        deliveries.moved(deliveries.RESUME, Delivery.campaign_id == campaign_id, queued_at=None)
    )


def cancel(session: Session, campaign_id: int) -> int:
    """draft|scheduled|running|paused → cancelled; rows not yet sent become ``skipped``.

    Returns the number of rows skipped. Rows already claimed by a worker (``sending``) are
    finished by that worker or become ``unknown``; they are never sent twice.
    """
    _transition(session, campaign_id, CANCEL, finished_at=utcnow())
    result = session.execute(
        deliveries.moved(
            deliveries.CANCEL,
            Delivery.campaign_id == campaign_id,
            last_error="campaign cancelled",
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def finish(session: Session, campaign_id: int) -> None:
    """running → finished (the ledger decides when: see ``ledger.finalize``)."""
    _transition(session, campaign_id, FINISH, finished_at=utcnow())


def resend_unknown(session: Session, campaign_id: int) -> int:
    """Staff decided the ``unknown`` rows should be sent again: back to ``pending``.

    One guarded transition first: finished → running (the one transition out of
    finished, made only by this explicit staff action); running and paused stay as they
    are (a paused campaign sends them on resume). Any other state — cancelled above all,
    where nothing would ever send them — raises ``TransitionError`` and changes nothing.
    Returns the rows re-queued.
    """
    allowed = status_values(RESEND_UNKNOWN.accepted)
    finished = Campaign.status.in_(status_values(RESEND_UNKNOWN.sources))
    reason = reason_values(RESEND_REASON)
    result = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status.in_(allowed))
        .values(
            status=case((finished, str(RESEND_UNKNOWN.target)), else_=Campaign.status),
            finished_at=case((finished, None), else_=Campaign.finished_at),
            status_reason=case((finished, reason["status_reason"]), else_=Campaign.status_reason),
            status_code=case((finished, reason["status_code"]), else_=Campaign.status_code),
            # The resend note has no parameters: NULL, which needs no JSON literal here.
            status_params=case((finished, None), else_=Campaign.status_params),
            updated_at=utcnow(),
        )
        .returning(Campaign.id)
        .execution_options(synchronize_session=False)
    )
    if result.first() is None:
        current = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
        if current is None:
            raise no_campaign(campaign_id)
        raise TransitionError(
            "campaign.cannot_resend",
            "campaign %(campaign_id)s is %(status)s, cannot resend unknown rows",
            campaign_id=campaign_id,
            status=current,
        )
    session.expire_all()
    moved = session.execute(
        deliveries.moved(
            deliveries.RESEND,
            Delivery.campaign_id == campaign_id,
            claimed_at=None,
            queued_at=None,
            # Counted apart in the report: each may reach its recipient twice (with the
            # same Message-ID, which the message builder derives from the row).
            resends=Delivery.resends + 1,
            resent_at=utcnow(),
        )
    )
    return int(moved.rowcount or 0)  # type: ignore[attr-defined]
