"""Mailing lists: create, rename, describe, archive, and their member counts."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.model import MailingList, Membership, utcnow

SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
NAME_MAX = 200


class ListError(DomainError, ValueError):
    """A list cannot be created or changed as asked; the message says why."""


def _check_name(name: str) -> str:
    text = " ".join((name or "").split())  # no line breaks: a name can reach a mail header
    if not text:
        raise ListError("list.no_name", "a list needs a name")
    if len(text) > NAME_MAX:
        raise ListError(
            "list.name_too_long", "the name is longer than %(max)s characters", max=NAME_MAX
        )
    return text


def create_list(
    session: Session, slug: str, name: str, description: str = "", double_opt_in: bool = True
) -> MailingList:
    """Add a list. ``slug`` is lower-case letters, digits, ``-`` and ``_`` (it appears in
    URLs and on the command line) and must be new."""
    slug = (slug or "").strip().lower()
    if not SLUG_PATTERN.fullmatch(slug):
        raise ListError(
            "list.bad_slug",
            "the slug may contain only a-z, 0-9, '-' and '_' (at most 64, starting with a "
            "letter or digit)",
        )
    if session.scalar(select(MailingList.id).where(MailingList.slug == slug)) is not None:
        raise ListError(
            "list.slug_taken", "a list with the slug %(slug)r already exists", slug=slug
        )
    row = MailingList(
        slug=slug,
        name=_check_name(name),
        description=(description or "").strip(),
        double_opt_in=double_opt_in,
    )
    session.add(row)
    session.flush()
    return row


def update_list(
    session: Session, list_id: int, name: str, description: str, double_opt_in: bool
) -> MailingList:
    """Rename or describe a list, or change its double opt-in setting."""
    row = get_list(session, list_id)
    row.name = _check_name(name)
    row.description = (description or "").strip()
    row.double_opt_in = double_opt_in
    session.flush()
    return row


def set_archived(session: Session, list_id: int, archived: bool) -> MailingList:
    """Archive a list (hidden from the subscribe pages and imports; members kept) or
    bring it back."""
    row = get_list(session, list_id)
    row.archived_at = utcnow() if archived else None
    session.flush()
    return row


def get_list(session: Session, list_id: int) -> MailingList:
    """The list with ``list_id``; ``ListError`` when there is none."""
    row = session.get(MailingList, list_id)
    if row is None:
        raise ListError("list.missing", "there is no list %(list_id)s", list_id=list_id)
    return row


def all_lists(session: Session, include_archived: bool = True) -> list[MailingList]:
    """Lists by name (archived ones last)."""
    query = select(MailingList).order_by(MailingList.archived_at.is_not(None), MailingList.name)
    if not include_archived:
        query = query.where(MailingList.archived_at.is_(None))
    return list(session.scalars(query))


def member_counts(session: Session, list_id: int | None = None) -> dict[int, dict[str, int]]:
    """``{list_id: {status: count}}``, from the (list, status, subscriber) index."""
    query = select(Membership.list_id, Membership.status, func.count()).group_by(
        Membership.list_id, Membership.status
    )
    if list_id is not None:
        query = query.where(Membership.list_id == list_id)
    counts: dict[int, dict[str, int]] = {}
    for lid, status, n in session.execute(query):
        counts.setdefault(lid, {})[status] = n
    return counts
