"""``/campaigns``: create, test send, schedule, start, pause, resume, cancel, status,
report, deliveries. Thin: each operation is one call into ``service.campaigns``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.campaigns import ledger
from service.campaigns import service as domain
from service.campaigns.content import ContentError
from service.mail.from_address import UnsendableFrom
from service.model import Campaign, CampaignStatus, Delivery, DeliveryStatus
from service.reports.queries import campaign_report
from service.web.api.auth import api_user_id
from service.web.api.common import Cursor, Id, Limit, Page, Strict, fetch, record
from service.web.api.errors import ApiError, not_found
from service.web.api.pagination import page_by_id
from service.web.api.registry import operation
from service.web.context import db_session, settings

log = logging.getLogger(__name__)

TAG = "campaigns"
MAX_TEST_ADDRESSES = 5
Line = Annotated[str, Field(max_length=domain.MAX_SUBJECT_CHARS)]
Address = Annotated[str, Field(min_length=3, max_length=320)]
SEGMENT_FIELD = Field(
    description="A saved segment (GET /segments): only the lists' members who match it are "
    "sent to, judged when sending starts."
)


class CampaignQuery(BaseModel):
    """Filter by status."""

    status: CampaignStatus | None = None
    cursor: Cursor = None
    limit: Limit = 50


class CampaignCreate(Strict):
    """A draft campaign of an issue (or of a plain HTML body) for one or more lists."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"lists": ["members"], "issue_id": 1},
                {"lists": ["members"], "body_html": "<p>Hello</p>", "subject": "News"},
            ]
        },
    )

    lists: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)] | Id],
        Field(min_length=1, max_length=50, description="list slugs or ids"),
    ]
    issue_id: Id | None = None
    body_html: Annotated[str, Field(min_length=1, max_length=2_000_000)] | None = None
    subject: Line | None = None
    preheader: Line = ""
    from_name: Annotated[str, Field(max_length=200)] | None = None
    from_addr: Address | None = None
    reply_to: Address | None = None
    tracking: bool = True
    content_mode: Annotated[str, Field(pattern="^(auto|full|excerpt)$")] = "auto"
    segment_id: Annotated[Id | None, SEGMENT_FIELD] = None


class CampaignUpdate(Strict):
    """What to change in a campaign that has not started (absent fields stay as they
    are; ``segment_id: null`` drops the segment)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"segment_id": 1}, {"segment_id": None}]}
    )

    subject: Annotated[str, Field(min_length=1, max_length=domain.MAX_SUBJECT_CHARS)] | None = None
    preheader: Line | None = None
    lists: (
        Annotated[
            list[Annotated[str, Field(min_length=1, max_length=64)] | Id],
            Field(min_length=1, max_length=50, description="list slugs or ids"),
        ]
        | None
    ) = None
    segment_id: Annotated[Id | None, SEGMENT_FIELD] = None


class CampaignOut(BaseModel):
    """A campaign's settings and state."""

    id: int
    subject: str
    status: str
    status_reason: str
    issue_id: int | None
    list_ids: list[int]
    segment_id: int | None
    preheader: str
    from_name: str
    from_addr: str
    reply_to: str | None
    tracking: bool
    content_mode: str
    recipients_total: int
    created_at: datetime
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class NeedsAttention(BaseModel):
    """Rows whose outcome is unknown and what a person can do about them."""

    unknown: int
    what_to_do: str


class ProgressOut(BaseModel):
    """Status with progress: rows per delivery status, percent done, rate and ETA; what
    needs a person (``null`` when nothing does) and the rows resent by "resend unknown"."""

    id: int
    status: str
    status_reason: str
    subject: str
    total: int
    counts: dict[str, int]
    delivered: int
    done: int
    percent: float
    rate_per_minute: float
    eta_seconds: int | None
    materialized: bool
    started_at: str | None
    finished_at: str | None
    scheduled_at: str | None
    resent: int = 0
    needs_attention: NeedsAttention | None = None


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


class LinkStats(BaseModel):
    """Clicks of one link."""

    model_config = ConfigDict(extra="allow")

    url: str
    clicks_unique: int
    clicks_total: int


class DomainStats(BaseModel):
    """Delivery to one recipient domain (``service.reports.domains`` defines each count)."""

    model_config = ConfigDict(extra="allow")

    domain: str
    provider: str = Field(
        description="A provider code (tencent, netease, tencent_exmail, …), the domain "
        "itself for a company on its own mail server, or unknown when no DNS answered."
    )
    recipients: int
    sent: int
    deferred: int = Field(description="Refused for now (4xx) by the relay at least once.")
    bounced_hard: int
    bounced_soft: int
    complaints: int
    opens: int = Field(description="Recipients with a likely-human open.")


class ReportOut(BaseModel):
    """The campaign report (DESIGN §7 keys, plus ``rates`` and whatever the report adds)."""

    model_config = ConfigDict(extra="allow")

    campaign_id: int
    subject: str
    recipients: int
    sent: int
    failed: int
    unknown: int
    bounced_hard: int
    bounced_soft: int
    complaints: int
    opens_unique: int
    opens_total: int
    opens_machine: int
    machine_opens_by_reason: dict[str, int] = Field(
        default_factory=dict,
        description="Machine opens by reason code (apple-mpp, prefetch:gmail, "
        "image-proxy:gmail, image-proxy:yahoo, scanner, seconds-after-sending, …), most "
        "first; they add up to opens_machine. docs/machine-opens.md lists the patterns.",
    )
    clicks_unique: int
    clicks_total: int
    unsubscribes: int
    links: list[LinkStats]
    domains: list[DomainStats] = Field(
        default_factory=list, description="By recipient domain, most recipients first."
    )


class DeliveryQuery(BaseModel):
    """Filter by delivery status."""

    status: DeliveryStatus | None = None
    cursor: Cursor = None
    limit: Limit = 50


class DeliveryOut(BaseModel):
    """One recipient's row of the ledger."""

    id: int
    subscriber_id: int | None
    email: str
    status: str
    attempts: int
    sent_at: datetime | None
    message_id: str | None
    last_error: str | None


def _get(campaign_id: int) -> Campaign:
    return fetch(Campaign, campaign_id, "campaign")


def campaign_out(row: Campaign) -> CampaignOut:
    """The API view of a campaign."""
    return CampaignOut(
        id=row.id,
        subject=row.subject,
        status=row.status,
        status_reason=row.status_reason or "",
        issue_id=row.issue_id,
        list_ids=domain.campaign_list_ids(db_session(), row.id),
        segment_id=row.segment_id,
        preheader=row.preheader or "",
        from_name=row.from_name or "",
        from_addr=row.from_addr,
        reply_to=row.reply_to,
        tracking=row.tracking,
        content_mode=row.content_mode,
        recipients_total=row.recipients_total or 0,
        created_at=row.created_at,
        scheduled_at=row.scheduled_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def progress_out(campaign_id: int) -> ProgressOut:
    """``ledger.progress`` with the per-status counters grouped under ``counts``."""
    data = dict(ledger.progress(db_session(), campaign_id))
    counts = {name: int(data.pop(name, 0) or 0) for name in ledger.ALL_COUNTERS}  # type: ignore[call-overload]
    return ProgressOut.model_validate({**data, "counts": counts})


def _transition(campaign_id: int, action: str, fn: Callable[[Session, int], object]) -> Any:
    """Run one state change; 409 when the campaign is not in a state that allows it."""
    session = db_session()
    _get(campaign_id)
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
    """Add the campaign operations to ``bp``."""
    _register_crud(bp)
    _register_actions(bp)
    _register_results(bp)


def _register_crud(bp: Blueprint) -> None:
    @operation(
        bp,
        "GET",
        "/campaigns",
        summary="List campaigns",
        tag=TAG,
        query=CampaignQuery,
        response=Page[CampaignOut],
    )
    def campaigns_index(query: CampaignQuery) -> Any:
        """Newest first, optionally only one status."""
        stmt = select(Campaign)
        if query.status is not None:
            stmt = stmt.where(Campaign.status == str(query.status))
        rows, cursor = page_by_id(
            db_session(), stmt, Campaign.id, "campaigns", query.cursor, query.limit
        )
        return Page[CampaignOut](items=[campaign_out(r) for r in rows], next_cursor=cursor)

    @operation(
        bp,
        "POST",
        "/campaigns",
        summary="Create a campaign",
        tag=TAG,
        role="editor",
        body=CampaignCreate,
        response=CampaignOut,
        status=201,
    )
    def campaigns_create(body: CampaignCreate) -> Any:
        """A draft: check it, send a test, then schedule or start it."""
        session = db_session()
        try:
            campaign = domain.create_campaign(
                session,
                settings(),
                lists=body.lists,
                issue_id=body.issue_id,
                body_html=body.body_html,
                subject=body.subject,
                preheader=body.preheader,
                from_name=body.from_name,
                from_addr=body.from_addr,
                reply_to=body.reply_to,
                tracking=body.tracking,
                content_mode=body.content_mode,
                created_by=api_user_id(),
                segment_id=body.segment_id,
            )
        except domain.CampaignError as exc:
            session.rollback()
            raise ApiError(422, "invalid_campaign", str(exc)) from exc
        record("campaign.create", "campaign", campaign.id, subject=campaign.subject)
        session.commit()
        return campaign_out(campaign)

    @operation(
        bp,
        "GET",
        "/campaigns/<campaign_id>",
        summary="Get a campaign",
        tag=TAG,
        response=CampaignOut,
    )
    def campaigns_show(campaign_id: int) -> Any:
        """The campaign's settings and state."""
        return campaign_out(_get(campaign_id))

    @operation(
        bp,
        "PATCH",
        "/campaigns/<campaign_id>",
        summary="Change a campaign",
        tag=TAG,
        role="editor",
        body=CampaignUpdate,
        response=CampaignOut,
    )
    def campaigns_update(campaign_id: int, body: CampaignUpdate) -> Any:
        """Subject, preheader, lists or segment of a campaign that has not started (409
        once it has, 422 for bad input)."""
        session = db_session()
        row = _get(campaign_id)
        given = body.model_fields_set
        try:
            domain.edit_campaign(
                session,
                campaign_id,
                subject=body.subject if body.subject is not None else row.subject,
                preheader=body.preheader if body.preheader is not None else row.preheader,
                lists=body.lists or domain.campaign_list_ids(session, campaign_id),
                segment_id=body.segment_id if "segment_id" in given else ...,
            )
        except domain.CampaignError as exc:
            session.rollback()
            raise ApiError(422, "invalid_campaign", str(exc)) from exc
        except domain.TransitionError as exc:
            session.rollback()
            raise ApiError(409, "invalid_transition", str(exc)) from exc
        record("campaign.edit", "campaign", campaign_id, fields=sorted(given))
        session.commit()
        return campaign_out(_get(campaign_id))

    @operation(
        bp,
        "GET",
        "/campaigns/<campaign_id>/status",
        summary="Status with progress",
        tag=TAG,
        response=ProgressOut,
    )
    def campaigns_status(campaign_id: int) -> Any:
        """Poll this while sending: counters, percent, rate per minute, ETA."""
        _get(campaign_id)
        return progress_out(campaign_id)


def _register_actions(bp: Blueprint) -> None:
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
        _get(campaign_id)
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
        from service.web.campaigns import preflight

        session = db_session()
        # One that cannot start is refused by start_and_prepare (409), unchecked.
        if START.allows(_get(campaign_id).status) and not query.force:
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


def _register_results(bp: Blueprint) -> None:
    @operation(
        bp,
        "GET",
        "/campaigns/<campaign_id>/report",
        summary="Campaign report",
        tag=TAG,
        response=ReportOut,
    )
    def campaigns_report(campaign_id: int) -> Any:
        """Sent, bounces, complaints, opens (human and machine), clicks, unsubscribes,
        links; the keys are a contract (DESIGN §7)."""
        report = campaign_report(db_session(), campaign_id)
        if report is None:
            raise not_found("campaign", campaign_id)
        return ReportOut.model_validate(report)

    @operation(
        bp,
        "GET",
        "/campaigns/<campaign_id>/deliveries",
        summary="Deliveries",
        tag=TAG,
        role="editor",
        query=DeliveryQuery,
        response=Page[DeliveryOut],
    )
    def campaigns_deliveries(campaign_id: int, query: DeliveryQuery) -> Any:
        """The recipients' rows, newest first, optionally one status only."""
        _get(campaign_id)
        stmt = select(Delivery).where(Delivery.campaign_id == campaign_id)
        if query.status is not None:
            stmt = stmt.where(Delivery.status == str(query.status))
        rows, cursor = page_by_id(
            db_session(),
            stmt,
            Delivery.id,
            f"deliveries:{campaign_id}",
            query.cursor,
            query.limit,
        )
        return Page[DeliveryOut](
            items=[DeliveryOut.model_validate(r, from_attributes=True) for r in rows],
            next_cursor=cursor,
        )
