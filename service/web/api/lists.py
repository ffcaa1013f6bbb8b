"""``/lists``: mailing lists (create, read, rename, archive) with member counts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from flask import Blueprint, request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from service.model import MailingList
from service.subscribers import lists as domain
from service.web.api.auth import api_user_id, api_user_role
from service.web.api.common import Done, Page, PageQuery, Strict, fetch, record
from service.web.api.errors import ApiError
from service.web.api.pagination import page_by_id
from service.web.api.registry import operation
from service.web.context import db_session

TAG = "lists"
Name = Annotated[str, Field(min_length=1, max_length=domain.NAME_MAX)]
Description = Annotated[str, Field(max_length=5000)]
Reason = Annotated[
    str,
    Field(
        max_length=domain.REASON_MAX,
        description="Why a public list is single opt-in (admins only; kept in the audit "
        "log). Needed when a change makes a public list single opt-in.",
    ),
]
PUBLIC_FIELD = Field(
    description="Offered on /subscribe and in the embed snippet. Lists are private unless "
    "made public; a public list is double opt-in unless an admin gives a reason."
)


class ListCreate(Strict):
    """A new list; the slug appears in URLs and on the command line."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"slug": "partners", "name": "合作伙伴通讯"}]},
    )

    slug: Annotated[str, Field(min_length=1, max_length=64, examples=["members"])]
    name: Name
    description: Description = ""
    double_opt_in: bool = True
    public: Annotated[bool, PUBLIC_FIELD] = False
    single_opt_in_reason: Reason = ""


class ListUpdate(Strict):
    """Fields to change (absent ones stay as they are)."""

    name: Name | None = None
    description: Description | None = None
    double_opt_in: bool | None = None
    public: Annotated[bool | None, PUBLIC_FIELD] = None
    single_opt_in_reason: Reason = ""
    archived: bool | None = None


class ListOut(BaseModel):
    """A list and its members by status."""

    id: int
    slug: str
    name: str
    description: str
    double_opt_in: bool
    public: bool
    archived: bool
    created_at: datetime
    members: dict[str, int]


def list_out(row: MailingList, counts: dict[int, dict[str, int]]) -> ListOut:
    """The API view of a list row."""
    return ListOut(
        id=row.id,
        slug=row.slug,
        name=row.name,
        description=row.description or "",
        double_opt_in=row.double_opt_in,
        public=row.public,
        archived=row.archived_at is not None,
        created_at=row.created_at,
        members=counts.get(row.id, {}),
    )


def _override(public: bool | None, reason: str) -> dict[str, Any]:
    """The public choice and what the domain needs to allow and audit an override."""
    return {
        "public": public,
        "reason": reason,
        "may_override": api_user_role() == "admin",
        "user_id": api_user_id(),
        "ip": request.remote_addr,
    }


def _list_error(exc: domain.ListError) -> ApiError:
    if exc.code == "list.slug_taken":
        return ApiError(409, "list_conflict", str(exc))
    if exc.code == "list.override_needs_admin":
        return ApiError(403, "forbidden_role", str(exc))
    return ApiError(422, "invalid_list", str(exc))


def _get(list_id: int) -> MailingList:
    return fetch(MailingList, list_id, "list")


def register(bp: Blueprint) -> None:
    """Add the list operations to ``bp``."""

    @operation(
        bp,
        "GET",
        "/lists",
        summary="List mailing lists",
        tag=TAG,
        query=PageQuery,
        response=Page[ListOut],
    )
    def lists_index(query: PageQuery) -> Any:
        """Every list, newest first, with member counts by status."""
        session = db_session()
        rows, cursor = page_by_id(
            session, select(MailingList), MailingList.id, "lists", query.cursor, query.limit
        )
        counts = domain.member_counts(session) if rows else {}
        return Page[ListOut](items=[list_out(r, counts) for r in rows], next_cursor=cursor)

    @operation(
        bp,
        "POST",
        "/lists",
        summary="Create a list",
        tag=TAG,
        role="editor",
        body=ListCreate,
        response=ListOut,
        status=201,
    )
    def lists_create(body: ListCreate) -> Any:
        """Add a list (409 if the slug is taken, 422 for a bad slug or name, 403 when a
        non-admin asks for a public single opt-in list)."""
        session = db_session()
        try:
            row = domain.create_list(
                session,
                body.slug,
                body.name,
                body.description,
                body.double_opt_in,
                **_override(body.public, body.single_opt_in_reason),
            )
        except domain.ListError as exc:
            raise _list_error(exc) from exc
        record(
            "list.create",
            "list",
            row.id,
            slug=row.slug,
            public=row.public,
            double_opt_in=row.double_opt_in,
        )
        session.commit()
        return list_out(row, {})

    @operation(bp, "GET", "/lists/<list_id>", summary="Get a list", tag=TAG, response=ListOut)
    def lists_show(list_id: int) -> Any:
        """One list with its member counts."""
        row = _get(list_id)
        return list_out(row, domain.member_counts(db_session(), list_id))

    @operation(
        bp,
        "PATCH",
        "/lists/<list_id>",
        summary="Change a list",
        tag=TAG,
        role="editor",
        body=ListUpdate,
        response=ListOut,
    )
    def lists_update(list_id: int, body: ListUpdate) -> Any:
        """Rename, describe, make public or private, switch double opt-in, archive or
        unarchive (403 when a non-admin makes a public list single opt-in)."""
        session = db_session()
        row = _get(list_id)
        try:
            domain.update_list(
                session,
                list_id,
                body.name if body.name is not None else row.name,
                body.description if body.description is not None else row.description,
                body.double_opt_in if body.double_opt_in is not None else row.double_opt_in,
                **_override(body.public, body.single_opt_in_reason),
            )
            if body.archived is not None:
                domain.set_archived(session, list_id, body.archived)
        except domain.ListError as exc:
            session.rollback()
            raise _list_error(exc) from exc
        record("list.edit", "list", list_id, **body.model_dump(exclude_none=True))
        session.commit()
        return list_out(row, domain.member_counts(session, list_id))

    @operation(
        bp,
        "DELETE",
        "/lists/<list_id>",
        summary="Archive a list",
        tag=TAG,
        role="editor",
        response=Done,
    )
    def lists_delete(list_id: int) -> Any:
        """Lists are archived, never deleted: members, consent and reports stay."""
        session = db_session()
        _get(list_id)
        domain.set_archived(session, list_id, True)
        record("list.archive", "list", list_id)
        session.commit()
        return Done(detail={"archived": True})
