"""``/campaigns``: create, list, get, change, status. Thin: each operation is one call
into ``service.campaigns``. The actions (test send, schedule, start, pause, resume,
cancel) are in ``campaign_actions``, the report and the deliveries in ``campaign_results``,
over the campaign lookup and the progress view made here."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from service.campaigns import drafts
from service.campaigns import service as domain
from service.campaigns.progress import ALL_COUNTERS, progress
from service.model import Campaign, CampaignStatus
from service.web.api.auth import api_user_id
from service.web.api.common import Cursor, Id, Limit, Page, Strict, fetch, record
from service.web.api.errors import ApiError
from service.web.api.pagination import page_by_id
from service.web.api.registry import operation
from service.web.context import db_session, settings

log = logging.getLogger(__name__)

TAG = "campaigns"
Line = Annotated[str, Field(max_length=drafts.MAX_SUBJECT_CHARS)]
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

    subject: Annotated[str, Field(min_length=1, max_length=drafts.MAX_SUBJECT_CHARS)] | None = None
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


def get_campaign(campaign_id: int) -> Campaign:
    """The campaign with this id, or the API's 404."""
    return fetch(Campaign, campaign_id, "campaign")


def campaign_out(row: Campaign) -> CampaignOut:
    """The API view of a campaign."""
    return CampaignOut(
        id=row.id,
        subject=row.subject,
        status=row.status,
        status_reason=row.status_reason or "",
        issue_id=row.issue_id,
        list_ids=drafts.campaign_list_ids(db_session(), row.id),
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
    """``progress`` with the per-status counters grouped under ``counts``."""
    data = dict(progress(db_session(), campaign_id))
    counts = {name: int(data.pop(name, 0) or 0) for name in ALL_COUNTERS}  # type: ignore[call-overload]
    return ProgressOut.model_validate({**data, "counts": counts})


def register(bp: Blueprint) -> None:
    """Add the campaign operations to ``bp``."""

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
            campaign = drafts.create_campaign(
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
        return campaign_out(get_campaign(campaign_id))

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
        row = get_campaign(campaign_id)
        given = body.model_fields_set
        try:
            drafts.edit_campaign(
                session,
                campaign_id,
                subject=body.subject if body.subject is not None else row.subject,
                preheader=body.preheader if body.preheader is not None else row.preheader,
                lists=body.lists or drafts.campaign_list_ids(session, campaign_id),
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
        return campaign_out(get_campaign(campaign_id))

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
        get_campaign(campaign_id)
        return progress_out(campaign_id)
