"""Shared pieces of the API resources: pages, limits, the audit helper."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, Field

from service.accounts.audit import audit
from service.web.api.auth import api_user_id
from service.web.api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from service.web.context import db_session

T = TypeVar("T")

# Database keys are 32-bit on PostgreSQL: a bigger id in a filter cannot match anything.
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Cursor = Annotated[str | None, Field(default=None, max_length=500)]
Limit = Annotated[int, Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)]


class Strict(BaseModel):
    """Request models refuse unknown fields (a typo is an error, not silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(BaseModel):
    """``?cursor=…&limit=…``: the cursor is the ``next_cursor`` of the previous page."""

    model_config = ConfigDict(extra="ignore")

    cursor: Cursor = None
    limit: Limit = DEFAULT_LIMIT


class Page(BaseModel, Generic[T]):
    """One page of results; ``next_cursor`` is null on the last page."""

    items: list[T]
    next_cursor: str | None


class Done(BaseModel):
    """An action that happened."""

    ok: bool = True
    detail: dict[str, Any] = Field(default_factory=dict)


def record(action: str, target_type: str, target_id: int | str | None, **detail: Any) -> None:
    """Audit a staff action made through the API (the token's user, the client's IP)."""
    audit(
        db_session(),
        api_user_id(),
        action,
        target_type,
        target_id,
        request.remote_addr,
        via="api",
        **detail,
    )


M = TypeVar("M")


def fetch(model: type[M], ident: int, what: str) -> M:
    """The row of ``model`` with this id, or the API's 404 naming ``what``."""
    from service.web.api.errors import not_found

    row = db_session().get(model, ident)
    if row is None:
        raise not_found(what, ident)
    return row
