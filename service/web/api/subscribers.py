"""``/subscribers``: search (keyset), create, read, update, delete, export, import."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from flask import Blueprint, request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from service.mail.addresses import InvalidAddress, normalise
from service.model import MailingList, MembershipStatus, Subscriber, SubscriberStatus
from service.subscribers import bulk, personal
from service.subscribers import query as subscriber_query
from service.subscribers.suppression import is_suppressed
from service.web.api.auth import api_user_id
from service.web.api.common import Cursor, Done, Id, Limit, Page, Strict, record
from service.web.api.errors import ApiError, not_found
from service.web.api.pagination import MAX_ID, bad_cursor, decode
from service.web.api.registry import operation
from service.web.context import db_session
from service.web.downloads import subscribers_download

TAG = "subscribers"
EXPORT_TYPES = "text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ShortText = Annotated[str, Field(max_length=personal.NAME_MAX)]
Language = Annotated[str, Field(max_length=16)]
Attributes = Annotated[
    dict[
        Annotated[str, Field(min_length=1, max_length=personal.ATTRIBUTE_KEY_MAX)],
        Annotated[str, Field(max_length=personal.ATTRIBUTE_VALUE_MAX)],
    ],
    Field(max_length=100),
]
ListIds = Annotated[list[Id], Field(max_length=50)]


class Sort(StrEnum):
    """Sortable columns (each indexed, id breaks ties)."""

    ID = "id"
    EMAIL = "email"
    NAME = "name"
    ORGANISATION = "organisation"


class Direction(StrEnum):
    """Sort direction."""

    ASC = "asc"
    DESC = "desc"


class SubscriberSearch(BaseModel):
    """Filters of the subscriber search; ``q`` matches the start of email, name or
    organisation (``anywhere=true`` searches inside the text, slower)."""

    q: Annotated[str, Field(max_length=200)] = ""
    list_id: Id | None = None
    member_status: MembershipStatus | None = None
    status: SubscriberStatus | None = None
    attr_key: Annotated[str, Field(max_length=100)] = ""
    attr_value: Annotated[str, Field(max_length=200)] = ""
    anywhere: bool = False
    sort: Sort = Sort.ID
    dir: Direction | None = None
    cursor: Cursor = None
    limit: Limit = 50

    def to_filter(self) -> subscriber_query.SubscriberFilter:
        """The domain filter (``service.subscribers.query``)."""
        direction = self.dir or (Direction.DESC if self.sort == Sort.ID else Direction.ASC)
        return subscriber_query.SubscriberFilter(
            q=self.q.strip(),
            list_id=self.list_id,
            member_status=str(self.member_status or ""),
            status=str(self.status or ""),
            attr_key=self.attr_key.strip(),
            attr_value=self.attr_value.strip(),
            sort=str(self.sort),
            desc=direction == Direction.DESC,
            anywhere=self.anywhere,
        )


class ExportFormat(StrEnum):
    """Export file formats."""

    CSV = "csv"
    XLSX = "xlsx"


class ExportQuery(SubscriberSearch):
    """The search filters plus the file format."""

    format: ExportFormat = ExportFormat.CSV


class SubscriberCreate(Strict):
    """A person added by staff: active on the lists given (prior consent asserted by the
    caller, recorded as such); refused if the address is suppressed."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"email": "new.member@example.org", "name": "王芳", "list_ids": [1]}]
        },
    )

    email: Annotated[str, Field(min_length=3, max_length=320)]
    name: ShortText = ""
    organisation: ShortText = ""
    language: Language = "zh-CN"
    attributes: Attributes = Field(default_factory=dict)
    list_ids: ListIds = Field(default_factory=list)


class SubscriberUpdate(Strict):
    """Profile fields to change, and lists to add the person to or take them off."""

    name: ShortText | None = None
    organisation: ShortText | None = None
    language: Language | None = None
    attributes: Attributes | None = None
    add_list_ids: ListIds = Field(default_factory=list)
    remove_list_ids: ListIds = Field(default_factory=list)


class MembershipOut(BaseModel):
    """The person's standing on one list."""

    list_id: int
    slug: str
    status: str


class SubscriberOut(BaseModel):
    """A subscriber as the search returns them."""

    id: int
    email: str
    name: str
    organisation: str
    language: str
    attributes: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime


class SubscriberDetail(SubscriberOut):
    """A subscriber with their lists."""

    lists: list[MembershipOut]


def subscriber_out(row: Subscriber) -> SubscriberOut:
    """The API view of a subscriber row."""
    return SubscriberOut(
        id=row.id,
        email=row.email,
        name=row.name or "",
        organisation=row.organisation or "",
        language=row.language or "",
        attributes=dict(row.attributes or {}),
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _detail(row: Subscriber) -> SubscriberDetail:
    lists = [
        MembershipOut(list_id=lst.id, slug=lst.slug, status=m.status)
        for m, lst in personal.memberships(db_session(), row.id)
    ]
    return SubscriberDetail(**subscriber_out(row).model_dump(), lists=lists)


def _get(subscriber_id: int) -> Subscriber:
    row = personal.get_subscriber(db_session(), subscriber_id)
    if row is None:
        raise not_found("subscriber", subscriber_id)
    return row


def _check_cursor(search: SubscriberSearch) -> None:
    """The domain treats a mangled cursor as the first page; the API says it is bad."""
    if not search.cursor:
        return
    value = decode(search.cursor)
    if len(value) != 2:
        raise bad_cursor()
    sort_value, row_id = value
    if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 <= row_id <= MAX_ID:
        raise bad_cursor()
    wanted = type(None) if search.sort == Sort.ID else str
    if not isinstance(sort_value, wanted):
        raise bad_cursor()


def _check_lists(list_ids: list[int]) -> None:
    if not list_ids:
        return
    found = set(db_session().scalars(select(MailingList.id).where(MailingList.id.in_(list_ids))))
    missing = sorted(set(list_ids) - found)
    if missing:
        raise ApiError(422, "unknown_list", f"there is no list {missing[0]}", {"missing": missing})


def _add_to_lists(subscriber_id: int, list_ids: list[int]) -> None:
    for list_id in dict.fromkeys(list_ids):
        bulk.apply_bulk(
            db_session(),
            bulk.BulkAction.ADD_TO_LIST,
            ids=[subscriber_id],
            list_id=list_id,
            user_id=api_user_id(),
            ip=request.remote_addr,
        )


def register(bp: Blueprint) -> None:
    """Add the subscriber operations to ``bp``."""

    @operation(
        bp,
        "GET",
        "/subscribers",
        summary="Search subscribers",
        role="editor",  # personal data: staff who manage subscribers, not viewers
        tag=TAG,
        query=SubscriberSearch,
        response=Page[SubscriberOut],
    )
    def subscribers_index(query: SubscriberSearch) -> Any:
        """Keyset pages over the search result (sorted by ``sort`` then id)."""
        _check_cursor(query)
        result = subscriber_query.page(
            db_session(), query.to_filter(), after=query.cursor, size=query.limit
        )
        return Page[SubscriberOut](
            items=[subscriber_out(r) for r in result.rows], next_cursor=result.next_cursor
        )

    @operation(
        bp,
        "POST",
        "/subscribers",
        summary="Add a subscriber",
        tag=TAG,
        role="editor",
        body=SubscriberCreate,
        response=SubscriberDetail,
        status=201,
    )
    def subscribers_create(body: SubscriberCreate) -> Any:
        """Add a person (409 if the address exists or is suppressed)."""
        session = db_session()
        try:
            address = normalise(body.email)
        except InvalidAddress as exc:
            raise ApiError(422, "invalid_email", str(exc)) from exc
        if session.scalar(select(Subscriber.id).where(Subscriber.email == address.email)):
            raise ApiError(409, "subscriber_exists", f"{address.email} is already a subscriber")
        if is_suppressed(session, address.email):
            raise ApiError(409, "suppressed", f"{address.email} is on the suppression list")
        _check_lists(body.list_ids)
        row = Subscriber(email=address.email, email_ascii=address.email_ascii, attributes={})
        session.add(row)
        session.flush()
        personal.update_profile(
            session,
            row,
            name=body.name,
            organisation=body.organisation,
            language=body.language,
            attributes=list(body.attributes.items()),
        )
        _add_to_lists(row.id, body.list_ids)
        record("subscriber.create", "subscriber", row.id, lists=body.list_ids)
        session.commit()
        return _detail(row)

    @operation(
        bp,
        "GET",
        "/subscribers/<subscriber_id>",
        summary="Get a subscriber",
        role="editor",  # personal data: staff who manage subscribers, not viewers
        tag=TAG,
        response=SubscriberDetail,
    )
    def subscribers_show(subscriber_id: int) -> Any:
        """One person with their lists."""
        return _detail(_get(subscriber_id))

    @operation(
        bp,
        "PATCH",
        "/subscribers/<subscriber_id>",
        summary="Change a subscriber",
        tag=TAG,
        role="editor",
        body=SubscriberUpdate,
        response=SubscriberDetail,
    )
    def subscribers_update(subscriber_id: int, body: SubscriberUpdate) -> Any:
        """Edit the profile; add to lists (never back onto a list the person left) or
        remove from lists."""
        session = db_session()
        row = _get(subscriber_id)
        if row.status == SubscriberStatus.ERASED:
            raise ApiError(409, "erased", "this subscriber was erased; there is nothing to edit")
        _check_lists(body.add_list_ids + body.remove_list_ids)
        attributes = body.attributes if body.attributes is not None else row.attributes or {}
        personal.update_profile(
            session,
            row,
            name=body.name if body.name is not None else row.name,
            organisation=body.organisation if body.organisation is not None else row.organisation,
            language=body.language if body.language is not None else row.language,
            attributes=list(attributes.items()),
        )
        _add_to_lists(row.id, body.add_list_ids)
        for list_id in dict.fromkeys(body.remove_list_ids):
            bulk.apply_bulk(
                session,
                bulk.BulkAction.REMOVE_FROM_LIST,
                ids=[row.id],
                list_id=list_id,
                user_id=api_user_id(),
                ip=request.remote_addr,
            )
        record("subscriber.edit", "subscriber", row.id)
        session.commit()
        return _detail(row)

    @operation(
        bp,
        "DELETE",
        "/subscribers/<subscriber_id>",
        summary="Delete a subscriber",
        tag=TAG,
        role="admin",
        response=Done,
    )
    def subscribers_delete(subscriber_id: int) -> Any:
        """Delete the person (admin). To keep them from ever being re-added, erase them in
        the admin instead, or add the address to the suppression list."""
        session = db_session()
        _get(subscriber_id)
        bulk.apply_bulk(
            session,
            bulk.BulkAction.DELETE,
            ids=[subscriber_id],
            user_id=api_user_id(),
            ip=request.remote_addr,
        )
        record("subscriber.delete", "subscriber", subscriber_id)
        session.commit()
        return Done(detail={"deleted": subscriber_id})

    @operation(
        bp,
        "GET",
        "/subscribers/export",
        summary="Export subscribers",
        tag=TAG,
        role="editor",
        query=ExportQuery,
        produces=EXPORT_TYPES,
    )
    def subscribers_export(query: ExportQuery) -> Any:
        """The search result as CSV (UTF-8 with BOM, streamed) or XLSX; ``cursor`` and
        ``limit`` are ignored (the whole result is exported)."""
        session = db_session()
        flt = query.to_filter()
        record(
            "subscribers.export",
            "subscribers",
            None,
            format=str(query.format),
            filter=flt.as_args(),
        )
        session.commit()
        return subscribers_download(
            session, flt, "csv" if query.format == ExportFormat.CSV else "xlsx"
        )
