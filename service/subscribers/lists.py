"""Mailing lists: create, rename, describe, archive, and their member counts.

A list is private unless staff make it public (offered on /subscribe and in the embed
snippet). A public list is double opt-in: anyone can type any address into a public form,
so a single opt-in public list would put third parties on it at once. An admin may still
override that, with a stated reason, which goes into the audit log.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session

from service.accounts.audit import audit
from service.errors import DomainError
from service.model import (
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberStatus,
    utcnow,
)

SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# A generated slug keeps room for a "-2" suffix within the column's 64 characters.
GENERATED_SLUG_MAX = 56
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
FALLBACK_SLUG = "list-{n}"
NAME_MAX = 200
REASON_MAX = 500
OVERRIDE_ACTION = "list.single_opt_in"


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


def slug_for(session: Session, name: str) -> str:
    """A new, unused slug made from ``name``: its Latin letters and digits ("Events 2026"
    → ``events-2026``), or ``list-<n>`` for a name without any (「会员单位」; no pinyin
    package is installed). Staff may change it afterwards."""
    folded = unicodedata.normalize("NFKC", name or "").lower()
    base = _NOT_SLUG.sub("-", folded).strip("-")[:GENERATED_SLUG_MAX].strip("-")
    if not base:
        highest = session.scalar(select(func.max(MailingList.id))) or 0
        base = FALLBACK_SLUG.format(n=highest + 1)
    slug, n = base, 1
    while _slug_taken(session, slug):
        n += 1
        slug = f"{base}-{n}"
    return slug


def _slug_taken(session: Session, slug: str, other_than: int | None = None) -> bool:
    query = select(MailingList.id).where(MailingList.slug == slug)
    if other_than is not None:
        query = query.where(MailingList.id != other_than)
    return session.scalar(query) is not None


def _check_slug(session: Session, slug: str, list_id: int | None = None) -> str:
    """``slug`` cleaned, or ``ListError`` when it is malformed or another list has it."""
    slug = (slug or "").strip().lower()
    if not SLUG_PATTERN.fullmatch(slug):
        raise ListError(
            "list.bad_slug",
            "the slug may contain only a-z, 0-9, '-' and '_' (at most 64, starting with a "
            "letter or digit)",
        )
    if _slug_taken(session, slug, other_than=list_id):
        raise ListError(
            "list.slug_taken", "a list with the slug %(slug)r already exists", slug=slug
        )
    return slug


def create_list(
    session: Session,
    slug: str,
    name: str,
    description: str = "",
    double_opt_in: bool = True,
    *,
    public: bool = False,
    reason: str = "",
    may_override: bool = True,
    user_id: int | None = None,
    ip: str | None = None,
) -> MailingList:
    """Add a list. ``slug`` is lower-case letters, digits, ``-`` and ``_`` (it appears in
    URLs and on the command line) and must be new; an empty one is made from the name
    (``slug_for``).

    A public single opt-in list needs ``reason`` and ``may_override`` (the caller is an
    admin, or the operator at the command line); the override is audited.
    """
    name = _check_name(name)
    slug = _check_slug(session, slug) if (slug or "").strip() else slug_for(session, name)
    override = _override_reason(public, double_opt_in, reason, may_override, already=False)
    row = MailingList(
        slug=slug,
        name=name,
        description=(description or "").strip(),
        double_opt_in=double_opt_in,
        public=public,
    )
    session.add(row)
    session.flush()
    _audit_override(session, row, override, user_id, ip)
    return row


def update_list(
    session: Session,
    list_id: int,
    name: str,
    description: str,
    double_opt_in: bool,
    *,
    public: bool | None = None,
    reason: str = "",
    may_override: bool = True,
    user_id: int | None = None,
    ip: str | None = None,
    slug: str | None = None,
) -> MailingList:
    """Rename or describe a list, change its slug (``None`` keeps it; links and embedded
    forms with the old one stop working) or its double opt-in setting, or make it public
    or private (``public=None`` leaves that as it is).

    Making a public list single opt-in (or a single opt-in list public) is an override:
    it needs ``reason`` and ``may_override``, and is audited. A list that already has its
    override keeps it without a new reason.
    """
    row = get_list(session, list_id)
    public = row.public if public is None else public
    already = row.public and not row.double_opt_in
    override = _override_reason(public, double_opt_in, reason, may_override, already)
    name = _check_name(name)
    row.slug = row.slug if slug is None else _check_slug(session, slug, list_id)
    row.name = name
    row.description = (description or "").strip()
    row.double_opt_in = double_opt_in
    row.public = public
    session.flush()
    _audit_override(session, row, override, user_id, ip)
    return row


def is_override(public: bool, double_opt_in: bool) -> bool:
    """Whether these settings are the audited exception: a public single opt-in list."""
    return public and not double_opt_in


def _override_reason(
    public: bool, double_opt_in: bool, reason: str, may_override: bool, already: bool
) -> str | None:
    """The reason to audit when a change makes a public list single opt-in, else None;
    ``ListError`` when such a change lacks its reason or the caller may not make it."""
    if not is_override(public, double_opt_in) or already:
        return None
    if not may_override:
        raise ListError(
            "list.override_needs_admin",
            "only an admin may make a public list single opt-in",
        )
    text = " ".join((reason or "").split())
    if not text:
        raise ListError(
            "list.override_needs_reason",
            "a public list is double opt-in; give the reason to make it single opt-in",
        )
    if len(text) > REASON_MAX:
        raise ListError(
            "list.reason_too_long", "the reason is longer than %(max)s characters", max=REASON_MAX
        )
    return text


def _audit_override(
    session: Session, row: MailingList, reason: str | None, user_id: int | None, ip: str | None
) -> None:
    if reason is not None:
        audit(session, user_id, OVERRIDE_ACTION, "list", row.id, ip, slug=row.slug, reason=reason)


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


def mailable(list_ids: Any) -> ColumnElement[bool]:
    """The condition on ``Subscriber`` for who the lists ``list_ids`` (ids, or a select
    of them) could mail now, before suppression: enabled, with an active membership of
    any of them. A campaign's audience and an organisation's deliverable count both."""
    member = exists().where(
        Membership.subscriber_id == Subscriber.id,
        Membership.list_id.in_(list_ids),
        Membership.status == MembershipStatus.ACTIVE,
    )
    return and_(Subscriber.status == SubscriberStatus.ENABLED, member)


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
