"""``/campaigns/{id}/events``: what came back (bounces, complaints, opens, clicks, ...)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from flask import Blueprint
from pydantic import BaseModel, Field
from sqlalchemy import select

from service.model import Campaign, Event
from service.web.api.common import Cursor, Limit, Page, fetch
from service.web.api.pagination import page_by_id
from service.web.api.registry import operation
from service.web.context import db_session

TAG = "events"


class EventQuery(BaseModel):
    """Filter by event type (``open``, ``click``, ``bounce_hard``, ``complaint``, ...)."""

    type: Annotated[str, Field(max_length=32)] | None = None
    cursor: Cursor = None
    limit: Limit = 50


class EventOut(BaseModel):
    """One event of a delivery."""

    id: int
    type: str
    at: datetime
    delivery_id: int | None
    subscriber_id: int | None
    link_id: int | None
    machine: bool
    provider: str | None
    detail: dict[str, Any]


def register(bp: Blueprint) -> None:
    """Add the event operations to ``bp``."""

    @operation(
        bp,
        "GET",
        "/campaigns/<campaign_id>/events",
        summary="A campaign's events",
        role="editor",  # personal data: staff who manage subscribers, not viewers
        tag=TAG,
        query=EventQuery,
        response=Page[EventOut],
    )
    def events_index(campaign_id: int, query: EventQuery) -> Any:
        """Newest first (keyset on id), optionally one type only."""
        session = db_session()
        fetch(Campaign, campaign_id, "campaign")
        stmt = select(Event).where(Event.campaign_id == campaign_id)
        if query.type:
            stmt = stmt.where(Event.type == query.type)
        rows, cursor = page_by_id(
            session, stmt, Event.id, f"events:{campaign_id}", query.cursor, query.limit
        )
        items = [
            EventOut(
                id=r.id,
                type=r.type,
                at=r.at,
                delivery_id=r.delivery_id,
                subscriber_id=r.subscriber_id,
                link_id=r.link_id,
                machine=bool(r.machine),
                provider=r.provider,
                detail=dict(r.detail or {}),
            )
            for r in rows
        ]
        return Page[EventOut](items=items, next_cursor=cursor)
