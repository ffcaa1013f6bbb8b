"""``/suppressions``: addresses that must never be mailed (list, add, remove with reason)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from flask import Blueprint, request
from pydantic import BaseModel, ConfigDict, Field

from service.mail.addresses import InvalidAddress
from service.subscribers import suppression_list as domain
from service.web.api.auth import api_user_id
from service.web.api.common import Cursor, Done, Limit, Page, Strict
from service.web.api.errors import ApiError
from service.web.api.pagination import decode_id, encode
from service.web.api.registry import operation
from service.web.context import db_session

TAG = "suppressions"
CURSOR_KIND = "suppressions"


class SuppressionQuery(BaseModel):
    """``q``: part of an address (or an exact address whose row keeps only its hash)."""

    q: Annotated[str, Field(max_length=200)] = ""
    cursor: Cursor = None
    limit: Limit = 50


class SuppressionCreate(Strict):
    """An address to suppress by hand (reason ``manual``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"email": "no.mail@example.org", "note": "asked"}]},
    )

    email: Annotated[str, Field(min_length=3, max_length=320)]
    note: Annotated[str, Field(max_length=domain.NOTE_MAX)] = ""


class SuppressionRemove(Strict):
    """Why this address may be mailed again (kept in the audit log)."""

    reason: Annotated[str, Field(min_length=domain.REASON_MIN, max_length=1000)]


class SuppressionOut(BaseModel):
    """A suppressed address (``email`` is null for an erased person: only a hash is kept)."""

    id: int
    email: str | None
    reason: str
    source: str
    note: str
    created_at: datetime


def _out(row: Any) -> SuppressionOut:
    return SuppressionOut(
        id=row.id,
        email=row.email,
        reason=row.reason,
        source=row.source or "",
        note=row.note or "",
        created_at=row.created_at,
    )


def register(bp: Blueprint) -> None:
    """Add the suppression operations to ``bp``."""

    @operation(
        bp,
        "GET",
        "/suppressions",
        summary="List suppressions",
        role="editor",  # personal data: staff who manage subscribers, not viewers
        tag=TAG,
        query=SuppressionQuery,
        response=Page[SuppressionOut],
    )
    def suppressions_index(query: SuppressionQuery) -> Any:
        """Newest first, keyset-paged on id."""
        before = decode_id(query.cursor, CURSOR_KIND)
        result = domain.search(db_session(), query.q, before, query.limit)
        cursor = encode([CURSOR_KIND, result.next_before]) if result.next_before else None
        return Page[SuppressionOut](items=[_out(r) for r in result.rows], next_cursor=cursor)

    @operation(
        bp,
        "POST",
        "/suppressions",
        summary="Suppress an address",
        tag=TAG,
        role="editor",
        body=SuppressionCreate,
        response=SuppressionOut,
        status=201,
    )
    def suppressions_create(body: SuppressionCreate) -> Any:
        """Idempotent: an address already suppressed returns its existing row."""
        session = db_session()
        try:
            row = domain.add_manual(
                session, body.email, body.note, api_user_id(), request.remote_addr
            )
        except InvalidAddress as exc:
            raise ApiError(422, "invalid_email", str(exc)) from exc
        session.commit()
        return _out(row)

    @operation(
        bp,
        "POST",
        "/suppressions/<suppression_id>/remove",
        summary="Unsuppress",
        tag=TAG,
        role="admin",
        body=SuppressionRemove,
        response=Done,
    )
    def suppressions_remove(suppression_id: int, body: SuppressionRemove) -> Any:
        """Take an address off the list (admin); the reason is required and audited."""
        session = db_session()
        try:
            domain.remove(session, suppression_id, body.reason, api_user_id(), request.remote_addr)
        except domain.SuppressionError as exc:
            gone = exc.code == "suppression.gone"
            status, code = (404, "not_found") if gone else (422, "invalid")
            raise ApiError(status, code, str(exc)) from exc
        session.commit()
        return Done(detail={"removed": suppression_id})
