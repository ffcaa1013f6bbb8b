"""Organisations (member companies): found or made by their folded name, linked to their
people, and counted: how many contacts each has and how many could be mailed now.

``resolve`` is what the import calls once per chunk, on whichever connection writes it:
on PostgreSQL two writers may meet the same new company at once, so a name is inserted
with ``ON CONFLICT DO NOTHING`` (in key order, so two writers never wait on each other in
a circle) and then read back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.audit import audit
from service.db import insert_ignoring_duplicates
from service.errors import DomainError
from service.model import (
    MailingList,
    Membership,
    MembershipStatus,
    Organisation,
    Subscriber,
    SuppressionReason,
)
from service.subscribers.lists import mailable
from service.subscribers.organisation_names import display_name, name_key
from service.subscribers.suppression import suppressed_reasons

LEVELS = ("会长单位", "副会长单位", "理事单位", "会员单位")  # the association's ranks
LOOKUP_CHUNK = 500  # ids or folded names per IN (…)
BOUNCES = {SuppressionReason.HARD_BOUNCE.value, SuppressionReason.SOFT_BOUNCE.value}
MEMBERSHIP_STATES = {
    MembershipStatus.ACTIVE.value: "subscribed",
    MembershipStatus.UNCONFIRMED.value: "unconfirmed",
    MembershipStatus.UNSUBSCRIBED.value: "unsubscribed",
}


def resolve(session: Session, names: Iterable[str]) -> dict[str, int]:
    """The organisation id of each folded name among ``names``, making the missing ones
    (each named by its first spelling here). Blank names are left out."""
    wanted: dict[str, str] = {}
    for raw in names:
        key = name_key(raw)
        if key:
            wanted.setdefault(key, display_name(raw))
    if not wanted:
        return {}
    keys = sorted(wanted)
    found = _ids_by_key(session, keys)
    missing = [k for k in keys if k not in found]
    if missing:
        session.execute(
            insert_ignoring_duplicates(session, Organisation, ["name_key"]).values(
                [{"name": wanted[k], "name_key": k, "attributes": {}} for k in missing]
            )
        )
        found.update(_ids_by_key(session, missing))
    return found


def _ids_by_key(session: Session, keys: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        part = keys[start : start + LOOKUP_CHUNK]
        rows = session.execute(
            select(Organisation.name_key, Organisation.id).where(Organisation.name_key.in_(part))
        )
        found.update({key: ident for key, ident in rows})
    return found


def link(session: Session, subscriber: Subscriber, *, create: bool = True) -> None:
    """Point ``subscriber.organisation_id`` at the organisation its free-text
    organisation names (none for a blank one). ``create=False`` links only to an
    organisation that exists: what a stranger types into the public form must not fill the
    list of member companies before the address is confirmed."""
    key = name_key(subscriber.organisation or "")
    if create:
        subscriber.organisation_id = resolve(session, [subscriber.organisation or ""]).get(key)
    else:
        subscriber.organisation_id = _ids_by_key(session, [key]).get(key) if key else None


def link_confirmed(session: Session, subscriber: Subscriber) -> None:
    """Once the address is confirmed, make the organisation it typed if none matched."""
    if subscriber.organisation_id is None and name_key(subscriber.organisation or ""):
        link(session, subscriber)


@dataclass
class Summary:
    """An organisation with its counts: people linked, and those who could be mailed now
    (enabled, active on at least one list that is not archived, not suppressed)."""

    organisation: Organisation
    contacts: int = 0
    deliverable: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The contract of ``tidings org list --json`` and the API's items."""
        org = self.organisation
        return {
            "id": org.id,
            "name": org.name,
            "level": org.level or "",
            "contacts": self.contacts,
            "deliverable": self.deliverable,
        }


def summaries(session: Session, organisations: list[Organisation]) -> list[Summary]:
    """Each of ``organisations`` with its counts (a few queries per 500 of them)."""
    result = [Summary(org) for org in organisations]
    for start in range(0, len(result), LOOKUP_CHUNK):
        part = result[start : start + LOOKUP_CHUNK]
        ids = [s.organisation.id for s in part]
        contacts = dict(
            session.execute(
                select(Subscriber.organisation_id, func.count())
                .where(Subscriber.organisation_id.in_(ids))
                .group_by(Subscriber.organisation_id)
            ).all()
        )
        deliverable = _deliverable(session, ids)
        for summary in part:
            summary.contacts = contacts.get(summary.organisation.id, 0)
            summary.deliverable = deliverable.get(summary.organisation.id, 0)
    return result


def _deliverable(session: Session, org_ids: list[int]) -> dict[int, int]:
    open_lists = select(MailingList.id).where(MailingList.archived_at.is_(None))
    candidates = session.execute(
        select(Subscriber.organisation_id, Subscriber.email).where(
            Subscriber.organisation_id.in_(org_ids), mailable(open_lists)
        )
    ).all()
    suppressed = suppressed_reasons(session, [email for _org, email in candidates])
    counts: dict[int, int] = defaultdict(int)
    for org_id, email in candidates:
        if org_id is not None and email not in suppressed:
            counts[org_id] += 1
    return counts


@dataclass
class Contact:
    """One person of an organisation and their state on each list they are on:
    subscribed, unconfirmed, unsubscribed, or (whatever the list) bounced or suppressed
    when their address is on the suppression list."""

    subscriber: Subscriber
    states: list[tuple[MailingList, str]] = field(default_factory=list)


def contacts(session: Session, org_id: int) -> list[Contact]:
    """The people of organisation ``org_id`` (by name, then address) with their states."""
    people = list(
        session.scalars(
            select(Subscriber)
            .where(Subscriber.organisation_id == org_id)
            .order_by(Subscriber.name, Subscriber.email)
        )
    )
    if not people:
        return []
    suppressed = suppressed_reasons(session, [p.email for p in people])
    by_person: dict[int, list[tuple[MailingList, str]]] = defaultdict(list)
    rows = session.execute(
        select(Membership.subscriber_id, Membership.status, MailingList)
        .join(MailingList, MailingList.id == Membership.list_id)
        .where(Membership.subscriber_id.in_([p.id for p in people]))
        .order_by(MailingList.name)
    )
    for person_id, status, mailing_list in rows:
        by_person[person_id].append((mailing_list, status))
    result = []
    for person in people:
        reason = suppressed.get(person.email)
        states = [(lst, _state(status, reason)) for lst, status in by_person.get(person.id, [])]
        result.append(Contact(person, states))
    return result


def _state(membership_status: str, suppression_reason: str | None) -> str:
    if suppression_reason is not None:
        return "bounced" if suppression_reason in BOUNCES else "suppressed"
    return MEMBERSHIP_STATES.get(membership_status, membership_status)


def every_summary(session: Session) -> list[Summary]:
    """Every organisation, by name, with its counts."""
    rows = list(session.scalars(select(Organisation).order_by(Organisation.name_key)))
    return summaries(session, rows)


PAGE_SIZE = 50


@dataclass
class OrganisationPage:
    """One page of the organisations, by folded name; ``next_after`` is the key to
    pass for the page after it (None on the last)."""

    rows: list[Summary]
    total: int
    next_after: str | None


def page(session: Session, after: str | None = None, size: int = PAGE_SIZE) -> OrganisationPage:
    """The organisations whose folded name comes after ``after``, with their counts."""
    query = select(Organisation).order_by(Organisation.name_key)
    if after:
        query = query.where(Organisation.name_key > after)
    rows = list(session.scalars(query.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    total = session.scalar(select(func.count()).select_from(Organisation)) or 0
    next_after = rows[-1].name_key if more and rows else None
    return OrganisationPage(summaries(session, rows), total, next_after)


class LevelError(DomainError):
    """A membership level the association does not have."""


def set_level(
    session: Session,
    organisation: Organisation,
    level: str,
    user_id: int | None = None,
    ip: str | None = None,
) -> None:
    """Give ``organisation`` one of ``LEVELS`` (or none: empty); audited."""
    level = level.strip()
    if level and level not in LEVELS:
        raise LevelError(
            "organisation.bad_level",
            "the level must be one of %(levels)s",
            levels="、".join(LEVELS),
        )
    before = organisation.level or ""
    organisation.level = level
    audit(
        session,
        user_id,
        "organisation.level",
        "organisation",
        organisation.id,
        ip,
        before=before,
        after=level,
    )
    session.flush()
