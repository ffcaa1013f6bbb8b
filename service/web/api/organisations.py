"""``/organisations``: member companies with their contacts and how many are mailable."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import BaseModel
from sqlalchemy import select

from service.model import Organisation
from service.subscribers import organisations as domain
from service.web.api.common import Page, PageQuery
from service.web.api.pagination import page_by_id
from service.web.api.registry import operation
from service.web.context import db_session

TAG = "organisations"


class OrganisationOut(BaseModel):
    """An organisation: ``contacts`` people are linked to it, ``deliverable`` of them
    could be mailed now (active on at least one list and not suppressed)."""

    id: int
    name: str
    level: str
    contacts: int
    deliverable: int


def register(bp: Blueprint) -> None:
    """Add the organisation operations to ``bp``."""

    @operation(
        bp,
        "GET",
        "/organisations",
        summary="List organisations",
        tag=TAG,
        role="editor",  # who works for which member company: staff who manage subscribers
        query=PageQuery,
        response=Page[OrganisationOut],
    )
    def organisations_index(query: PageQuery) -> Any:
        """Every organisation, newest first, with its contact counts."""
        session = db_session()
        rows, cursor = page_by_id(
            session,
            select(Organisation),
            Organisation.id,
            "organisations",
            query.cursor,
            query.limit,
        )
        items = [OrganisationOut(**s.as_dict()) for s in domain.summaries(session, rows)]
        return Page[OrganisationOut](items=items, next_cursor=cursor)
