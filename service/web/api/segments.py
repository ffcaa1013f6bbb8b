"""``/segments``: saved filters on the audience, each with how many subscribers match now."""

from __future__ import annotations

from typing import Annotated, Any

from flask import Blueprint, request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from service.model import Segment
from service.subscribers import segments as domain
from service.web.api.auth import api_user_id
from service.web.api.common import Page, PageQuery, Strict, fetch
from service.web.api.errors import ApiError
from service.web.api.pagination import page_by_id
from service.web.api.registry import operation
from service.web.context import db_session

TAG = "segments"
CONDITIONS_FIELD = Field(
    max_length=domain.MAX_CONDITIONS,
    description="All must hold. Each is an object with a kind: org_level_in / "
    "org_level_not_in {levels: [...]}, org_name_contains {text}, attribute_equals / "
    "org_attribute_equals {key, value}, has_organisation, no_organisation, opened_none / "
    "opened_any / clicked_none {last: N} (the last N campaign messages that reached them; "
    "human-likely opens and clicks).",
)


class SegmentCreate(Strict):
    """A new segment: a unique name and its conditions."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "理事单位，近两期未打开",
                    "conditions": [
                        {"kind": "org_level_in", "levels": ["理事单位"]},
                        {"kind": "opened_none", "last": 2},
                    ],
                }
            ]
        },
    )

    name: Annotated[str, Field(min_length=1, max_length=domain.NAME_MAX)]
    conditions: Annotated[list[Any], CONDITIONS_FIELD] = []


class SegmentOut(BaseModel):
    """A segment; ``count``: enabled subscribers active on a list that is not archived who
    match it now (before suppression)."""

    id: int
    name: str
    conditions: list[dict[str, Any]]
    count: int


def segment_out(row: Segment) -> SegmentOut:
    """The API view of a segment, counted now."""
    conditions = list(row.conditions or [])
    return SegmentOut(
        id=row.id,
        name=row.name,
        conditions=conditions,
        count=domain.count(db_session(), conditions),
    )


def register(bp: Blueprint) -> None:
    """Add the segment operations to ``bp``."""

    @operation(
        bp,
        "GET",
        "/segments",
        summary="List segments",
        tag=TAG,
        role="editor",  # who matches a segment says who works where: as for organisations
        query=PageQuery,
        response=Page[SegmentOut],
    )
    def segments_index(query: PageQuery) -> Any:
        """Every segment, newest first, with how many match now."""
        rows, cursor = page_by_id(
            db_session(), select(Segment), Segment.id, "segments", query.cursor, query.limit
        )
        return Page[SegmentOut](items=[segment_out(r) for r in rows], next_cursor=cursor)

    @operation(
        bp,
        "POST",
        "/segments",
        summary="Create a segment",
        tag=TAG,
        role="editor",
        body=SegmentCreate,
        response=SegmentOut,
        status=201,
    )
    def segments_create(body: SegmentCreate) -> Any:
        """Save a segment (422 naming the condition that is wrong; 409 for a name in use)."""
        session = db_session()
        try:
            row = domain.create_segment(
                session, body.name, body.conditions, api_user_id(), request.remote_addr
            )
        except domain.SegmentError as exc:
            session.rollback()
            status, code = (
                (409, "segment_conflict")
                if exc.code == "segment.name_taken"
                else (422, "invalid_segment")
            )
            raise ApiError(status, code, str(exc)) from exc
        session.commit()
        return segment_out(row)

    @operation(
        bp,
        "GET",
        "/segments/<segment_id>",
        summary="Get a segment",
        tag=TAG,
        role="editor",
        response=SegmentOut,
    )
    def segments_show(segment_id: int) -> Any:
        """One segment with how many match now."""
        return segment_out(fetch(Segment, segment_id, "segment"))
