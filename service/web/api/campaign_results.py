"""``/campaigns/<id>/report`` and ``/campaigns/<id>/deliveries``: what a campaign did, as
the report counts it and row by row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from service.model import Delivery, DeliveryStatus
from service.reports.queries import campaign_report
from service.web.api.campaigns import TAG, get_campaign
from service.web.api.common import Cursor, Limit, Page
from service.web.api.errors import not_found
from service.web.api.pagination import page_by_id
from service.web.api.registry import operation
from service.web.context import db_session


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


def register(bp: Blueprint) -> None:
    """Add the campaign's report and deliveries to ``bp``."""

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
        get_campaign(campaign_id)
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
