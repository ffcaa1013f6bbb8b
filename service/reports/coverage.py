"""Which member organisations a campaign reached, and whose contacts to fix (issue 17).

Definitions (the report page says them too):

- an organisation is **reached** when at least one of its contacts has a delivery of the
  campaign in status ``sent`` with no hard bounce recorded for it;
- **total** counts the organisations with at least one contact (a subscriber linked):
  one whose contacts are none of them on the lists sent to counts, as unreached with the
  reason ``not_on_lists``; one with no contact at all is left out (nobody to mail);
- every unreached organisation gets a **reason** (``REASONS``) from the states of its
  contacts (``CONTACT_STATES``): the reason of their category when all agree, else
  ``mixed``.

Two statements make it, whatever the number of organisations: the organisations with
their reached flag, and the contacts of the unreached ones with what happened to each
(deliveries ⋈ subscribers ⋈ memberships); then one lookup of those contacts'
suppressions by address hash (SQL cannot hash on SQLite).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.expression import Exists

from service.model import (
    Delivery,
    DeliveryStatus,
    Event,
    Membership,
    MembershipStatus,
    Organisation,
    Subscriber,
    SubscriberStatus,
    SuppressionReason,
    campaign_lists,
)
from service.subscribers.suppression import suppressed_reasons

# Why an organisation was not reached: stable codes (the JSON contract, the XLSX).
REASONS = (
    "all_bounced",
    "all_unsubscribed",
    "all_suppressed",
    "not_on_lists",
    "not_sent",
    "mixed",
)
# A contact's state in this campaign → the reason it stands for.
CONTACT_STATES = {
    "bounced_hard": "all_bounced",
    "bounced_soft": "all_bounced",
    "unsubscribed": "all_unsubscribed",
    "suppressed": "all_suppressed",
    "complained": "all_suppressed",
    "not_on_lists": "not_on_lists",
    # On the lists but not sent to: failed or unknown at sending, still waiting, skipped
    # (cancelled), unconfirmed, or subscribed after the campaign's audience was made.
    "failed": "not_sent",
    "unknown": "not_sent",
    "pending": "not_sent",
    "skipped": "not_sent",
    "unconfirmed": "not_sent",
    "not_sent": "not_sent",
}
DELIVERY_STATES = {
    DeliveryStatus.BOUNCED_HARD.value: "bounced_hard",
    DeliveryStatus.BOUNCED_SOFT.value: "bounced_soft",
    DeliveryStatus.COMPLAINED.value: "complained",
    DeliveryStatus.FAILED.value: "failed",
    DeliveryStatus.UNKNOWN.value: "unknown",
    DeliveryStatus.RESERVED.value: "pending",
    DeliveryStatus.PENDING.value: "pending",
    DeliveryStatus.QUEUED.value: "pending",
    DeliveryStatus.SENDING.value: "pending",
    DeliveryStatus.RETRY_DUE.value: "pending",
}
SUPPRESSION_STATES = {
    SuppressionReason.HARD_BOUNCE.value: "bounced_hard",
    SuppressionReason.SOFT_BOUNCE.value: "bounced_soft",
    SuppressionReason.UNSUBSCRIBED.value: "unsubscribed",
}
BOUNCE_TYPES = ("bounce_hard", "bounce_soft")
EXPORT_COLUMNS = ("organisation", "reached", "reason", "email", "state", "detail")


@dataclass(frozen=True)
class ContactToFix:
    """One address of an unreached organisation, with its state and the bounce text
    (or the sending error) when there is one."""

    organisation: str
    email: str
    state: str
    detail: str


@dataclass
class Unreached:
    """An organisation none of whose contacts this campaign reached."""

    id: int
    name: str
    contacts: list[ContactToFix] = field(default_factory=list)

    @property
    def reason(self) -> str:
        """All contacts' reason when they agree, else ``mixed``."""
        reasons = {CONTACT_STATES[c.state] for c in self.contacts}
        return reasons.pop() if len(reasons) == 1 else "mixed"


@dataclass
class Coverage:
    """A campaign's organisations: how many, which were reached, which not and why."""

    total: int
    reached: dict[int, str]
    unreached: list[Unreached]

    def as_json(self) -> dict[str, Any]:
        """The ``organisations`` key of the campaign report (a contract: these keys)."""
        return {
            "total": self.total,
            "reached": len(self.reached),
            "unreached": [{"name": u.name, "reason": u.reason} for u in self.unreached],
        }

    def contacts_to_fix(self) -> list[ContactToFix]:
        """The contacts of every unreached organisation, by organisation."""
        return [c for u in self.unreached for c in u.contacts]

    def export_rows(self) -> Iterator[tuple[str, ...]]:
        """The XLSX sheet (``EXPORT_COLUMNS``): a row per reached organisation, then one
        per contact to fix with its organisation's reason."""
        yield EXPORT_COLUMNS
        for name in self.reached.values():
            yield (name, "yes", "", "", "", "")
        for org in self.unreached:
            for c in org.contacts:
                yield (org.name, "no", org.reason, c.email, c.state, c.detail)


def _hard_bounced() -> Exists:
    """Whether the delivery of the enclosing query has a hard bounce recorded (a relay
    may have said "sent" first)."""
    return exists().where(Event.delivery_id == Delivery.id, Event.type == "bounce_hard")


def reached_pairs(campaign_ids: list[int]) -> Select[int, int | None]:
    """(campaign id, organisation id) of every organisation each campaign reached."""
    return (
        select(Delivery.campaign_id, Subscriber.organisation_id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(
            Delivery.campaign_id.in_(campaign_ids),
            Delivery.status == DeliveryStatus.SENT.value,
            Subscriber.organisation_id.is_not(None),
            ~_hard_bounced(),
        )
        .distinct()
    )


def with_contacts() -> Select[int, str]:
    """Organisations with at least one contact: id, name, by folded name."""
    has_contact = exists().where(Subscriber.organisation_id == Organisation.id)
    return (
        select(Organisation.id, Organisation.name)
        .where(has_contact)
        .order_by(Organisation.name_key)
    )


def coverage(session: Session, campaign_id: int) -> Coverage:
    """The organisations of ``campaign_id``: total, reached, unreached with contacts."""
    reached_ids = reached_pairs([campaign_id]).with_only_columns(Subscriber.organisation_id)
    reached_flag = Organisation.id.in_(reached_ids).label("reached")
    rows = session.execute(with_contacts().add_columns(reached_flag)).all()
    reached = {org_id: name for org_id, name, flag in rows if flag}
    unreached = {org_id: Unreached(org_id, name) for org_id, name, flag in rows if not flag}
    if unreached:
        _add_contacts(session, campaign_id, reached_ids, unreached)
    return Coverage(len(rows), reached, list(unreached.values()))


def _add_contacts(
    session: Session, campaign_id: int, reached_ids: Select[Any], into: dict[int, Unreached]
) -> None:
    rows = session.execute(_contacts_query(campaign_id, reached_ids)).all()
    suppressed = suppressed_reasons(session, [r.email for r in rows])
    for row in rows:
        org = into.get(row.organisation_id)
        if org is None:  # linked since the first statement read the organisations
            continue
        state = contact_state(row, suppressed.get(row.email))
        org.contacts.append(ContactToFix(org.name, row.email, state, row.detail or ""))


def _contacts_query(campaign_id: int, reached_ids: Select[Any]) -> Select[*tuple[Any, ...]]:
    """Each contact of an unreached organisation with its delivery of the campaign (if
    any), the newest bounce text, and its memberships of the campaign's lists."""
    lists = select(campaign_lists.c.list_id).where(campaign_lists.c.campaign_id == campaign_id)
    memberships = (
        select(
            Membership.subscriber_id,
            func.count().label("on_lists"),
            func.max(case((Membership.status == MembershipStatus.ACTIVE.value, 1), else_=0)).label(
                "active"
            ),
            func.max(
                case((Membership.status == MembershipStatus.UNCONFIRMED.value, 1), else_=0)
            ).label("unconfirmed"),
        )
        .where(Membership.list_id.in_(lists))
        .group_by(Membership.subscriber_id)
        .subquery()
    )
    bounce_text = (
        select(Event.detail["diagnostic"].as_string())
        .where(Event.delivery_id == Delivery.id, Event.type.in_(BOUNCE_TYPES))
        .order_by(Event.at.desc(), Event.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            Subscriber.organisation_id,
            Subscriber.email,
            Subscriber.status.label("subscriber_status"),
            Delivery.status.label("delivery_status"),
            _hard_bounced().label("hard_bounced"),
            func.coalesce(bounce_text, Delivery.last_error).label("detail"),
            func.coalesce(memberships.c.on_lists, 0).label("on_lists"),
            func.coalesce(memberships.c.active, 0).label("active"),
            func.coalesce(memberships.c.unconfirmed, 0).label("unconfirmed"),
        )
        .outerjoin(
            Delivery,
            and_(Delivery.subscriber_id == Subscriber.id, Delivery.campaign_id == campaign_id),
        )
        .outerjoin(memberships, memberships.c.subscriber_id == Subscriber.id)
        .where(
            Subscriber.organisation_id.is_not(None),
            Subscriber.organisation_id.not_in(reached_ids),
        )
        .order_by(Subscriber.organisation_id, Subscriber.email)
    )


def contact_state(row: Any, suppression: str | None) -> str:
    """The ``CONTACT_STATES`` code of one contact row of ``_contacts_query``.

    What happened to the delivery comes first; a contact not sent to is then explained
    by being off the lists, suppressed, unsubscribed, or by its membership."""
    delivered = row.delivery_status
    if row.hard_bounced or delivered == DeliveryStatus.BOUNCED_HARD.value:
        return "bounced_hard"
    if delivered in DELIVERY_STATES:
        return DELIVERY_STATES[delivered]
    if not row.on_lists:
        return "not_on_lists"
    if suppression is not None:
        return SUPPRESSION_STATES.get(suppression, "suppressed")
    if row.subscriber_status == SubscriberStatus.UNSUBSCRIBED.value:
        return "unsubscribed"
    if row.subscriber_status == SubscriberStatus.ERASED.value:
        return "suppressed"
    if row.active:
        return "skipped" if delivered == DeliveryStatus.SKIPPED.value else "not_sent"
    return "unconfirmed" if row.unconfirmed else "unsubscribed"


# --------------------------------------------------------------------------- across campaigns


def across(session: Session, campaign_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per campaign (``campaign_ids`` newest first): organisations total and reached, and
    the names of those the campaign before it reached but this one did not.

    ``total`` is today's count of organisations with contacts (the past one is not kept).
    """
    if not campaign_ids:
        return {}
    names: dict[int, str] = {org_id: name for org_id, name in session.execute(with_contacts())}
    reached: dict[int, set[int]] = defaultdict(set)
    for cid, org_id in session.execute(reached_pairs(campaign_ids)):
        if org_id is not None:  # never: the query keeps linked subscribers only
            reached[cid].add(org_id)
    out: dict[int, dict[str, Any]] = {}
    for newer, older in zip(campaign_ids, [*campaign_ids[1:], None], strict=True):
        lost = reached[older] - reached[newer] if older is not None else set()
        out[newer] = {
            "total": len(names),
            "reached": len(reached[newer]),
            "lost": sorted(names.get(o, str(o)) for o in lost),
        }
    return out
