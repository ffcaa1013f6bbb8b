"""``/campaigns/<id>/…`` actions: test send, schedule, start, pause, resume, cancel. Thin:
each operation is one call into ``service.campaigns``; a state change answers with the
campaign's progress."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from service.campaigns import service as domain
from service.campaigns.content import ContentError
from service.mail.from_address import UnsendableFrom
from service.web.api.campaigns import TAG, Address, ProgressOut, get_campaign, progress_out
from service.web.api.common import Strict, record
from service.web.api.errors import ApiError
from service.web.api.registry import operation
from service.web.context import db_session, settings

MAX_TEST_ADDRESSES = 5


class ScheduleBody(Strict):
    """An ISO time; without an offset it is in the configured zone. ``null`` unschedules."""

    at: Annotated[str, Field(min_length=1, max_length=64, examples=["2026-12-01T09:00"])] | None


class StartQuery(BaseModel):
    """``?force=1`` starts even when a preflight check of level error fails."""

    model_config = ConfigDict(extra="ignore")

    force: bool = Field(
        default=False,
        description="Start even when the preflight (tidings campaign check) fails a check "
        "of level error (otherwise 422 preflight_failed, naming the check). Warnings never "
        "refuse an API start, as on the command line.",
    )


class TestSendBody(Strict):
    """Up to five addresses for a test (subject prefixed, not counted in reports)."""

    to: Annotated[list[Address], Field(min_length=1, max_length=MAX_TEST_ADDRESSES)]
    # Render every test as this subscriber (their name and links); still sent to ``to`` only.
    as_subscriber: Address | None = None


class TestSendOut(BaseModel):
    """What happened per address."""

    results: list[str]


def _transition(campaign_id: int, action: str, fn: Callable[[Session, int], object]) -> Any:
    """Run one state change; 409 when the campaign is not in a state that allows it."""
    session = db_session()
    get_campaign(campaign_id)
    try:
        result = fn(session, campaign_id)
    except domain.TransitionError as exc:
        session.rollback()
        raise ApiError(409, "invalid_transition", str(exc)) from exc
    record(f"campaign.{action}", "campaign", campaign_id, result=result)
    session.commit()
    return progress_out(campaign_id)


def _queue_materialize(campaign_id: int) -> None:
    from worker.tasks_send import materialize

    materialize.apply_async(args=[campaign_id], retry=False)


def register(bp: Blueprint) -> None:
    """Add the campaign actions to ``bp``."""

    @operation(
        bp,
        "POST",
        "/campaigns/<campaign_id>/test",
        summary="Send a test",
        tag=TAG,
        role="editor",
        body=TestSendBody,
        response=TestSendOut,
    )
    def campaigns_test(campaign_id: int, body: TestSendBody) -> Any:
        """Send the campaign to a few addresses now; one result line per address."""
        from service.campaigns.previews import send_test

        session = db_session()
        get_campaign(campaign_id)
        try:
            results = send_test(
                session, settings(), campaign_id, body.to, as_subscriber=body.as_subscriber
            )
        except (LookupError, ContentError) as exc:
            session.rollback()
            raise ApiError(422, "cannot_render", str(exc)) from exc
        except UnsendableFrom as exc:
            session.rollback()
            raise ApiError(422, "unsendable_from", str(exc)) from exc
        session.rollback()  # the preview render must leave nothing behind
        record("campaign.test", "campaign", campaign_id, to=body.to, shown_as=body.as_subscriber)
        session.commit()
        return TestSendOut(results=[r.line for r in results])

    @operation(
        bp,
        "POST",
        "/campaigns/<campaign_id>/schedule",
        summary="Schedule or unschedule",
        tag=TAG,
        role="editor",
        body=ScheduleBody,
        response=ProgressOut,
    )
    def campaigns_schedule(campaign_id: int, body: ScheduleBody) -> Any:
        """Send at a future time (``at``), or back to draft (``at: null``)."""
        if body.at is None:
            return _transition(campaign_id, "unschedule", domain.unschedule)
        try:
            at = domain.parse_local_time(body.at, settings().zone)
            if at.tzinfo is None or at.utcoffset() is None:
                raise domain.time_without_zone()

            def scheduled(session: Session, cid: int) -> object:
                domain.schedule(session, cid, at)
                return at.isoformat()

            return _transition(campaign_id, "schedule", scheduled)
        except (domain.CampaignError, OverflowError) as exc:
            raise ApiError(422, "invalid_time", str(exc)) from exc

    @operation(
        bp,
        "POST",
        "/campaigns/<campaign_id>/start",
        summary="Start sending now",
        tag=TAG,
        role="editor",
        query=StartQuery,
        response=ProgressOut,
    )
    def campaigns_start(campaign_id: int, query: StartQuery) -> Any:
        """Run the preflight, then compile the content and start; the audience is
        prepared by the worker. A failed error check refuses unless ``force``."""
        from service.campaigns.campaign_states import START
        from service.campaigns.engine import start_and_prepare
        from service.campaigns.preflight_result import refusal
        from service.web.campaign_sending import preflight

        session = db_session()
        # One that cannot start is refused by start_and_prepare (409), unchecked.
        if START.allows(get_campaign(campaign_id).status) and not query.force:
            checked = preflight(session, campaign_id)
            refused = refusal(checked, acknowledged=True)
            if refused is not None:
                failed = [c.name for c in checked.errors]
                raise ApiError(422, "preflight_failed", str(refused), {"checks": failed})
        try:
            start_and_prepare(session, settings(), campaign_id, _queue_materialize)
        except domain.TransitionError as exc:
            session.rollback()
            raise ApiError(409, "invalid_transition", str(exc)) from exc
        except ContentError as exc:
            session.rollback()
            raise ApiError(422, "cannot_render", str(exc)) from exc
        except UnsendableFrom as exc:
            session.rollback()
            raise ApiError(422, "unsendable_from", str(exc)) from exc
        record("campaign.start", "campaign", campaign_id)
        session.commit()
        return progress_out(campaign_id)

    @operation(
        bp,
        "POST",
        "/campaigns/<campaign_id>/pause",
        summary="Pause",
        tag=TAG,
        role="editor",
        response=ProgressOut,
    )
    def campaigns_pause(campaign_id: int) -> Any:
        """Workers stop within one batch."""
        return _transition(
            campaign_id, "pause", lambda s, i: domain.pause(s, i, domain.PAUSED_THROUGH_API)
        )

    @operation(
        bp,
        "POST",
        "/campaigns/<campaign_id>/resume",
        summary="Resume",
        tag=TAG,
        role="editor",
        response=ProgressOut,
    )
    def campaigns_resume(campaign_id: int) -> Any:
        """Carry on sending a paused campaign."""
        return _transition(campaign_id, "resume", domain.resume)

    @operation(
        bp,
        "POST",
        "/campaigns/<campaign_id>/cancel",
        summary="Cancel",
        tag=TAG,
        role="editor",
        response=ProgressOut,
    )
    def campaigns_cancel(campaign_id: int) -> Any:
        """For good: rows not yet sent become ``skipped``."""
        return _transition(campaign_id, "cancel", domain.cancel)
