"""One person's data: the subscriber page's profile edits, the data export (JSON) and
erasure (personal fields blanked, a hash kept in suppressions so the address is never
imported or mailed again)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.accounts.audit import audit
from service.errors import DomainError
from service.model import (
    Consent,
    Delivery,
    Event,
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberStatus,
    SubscriberToken,
    SuppressionReason,
    utcnow,
)
from service.subscribers import organisations
from service.subscribers.suppression import suppress

NAME_MAX = 200
ATTRIBUTE_KEY_MAX = 100
ATTRIBUTE_VALUE_MAX = 1000
# Shown on the subscriber page; the full history is in the JSON export.
HISTORY_ROWS = 200
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")
# Keys of a consent row's detail that may hold the address or the name.
PERSONAL_DETAIL_KEYS = ("email", "email_original", "name", "organisation", "ip", "user_agent")
ERASED_DOMAIN = "invalid"  # RFC 2606: never resolves, so a placeholder is never mailed


class ProfileError(DomainError, ValueError):
    """A profile edit cannot be saved as given."""


def get_subscriber(session: Session, subscriber_id: int) -> Subscriber | None:
    """The subscriber, or None."""
    return session.get(Subscriber, subscriber_id)


def _one_line(value: str, limit: int) -> str:
    # Values may reach mail headers (the name does): no line breaks, ever.
    return CONTROL_CHARS.sub(" ", value or "").strip()[:limit]


def update_profile(
    session: Session,
    subscriber: Subscriber,
    *,
    name: str,
    organisation: str,
    language: str,
    attributes: list[tuple[str, str]],
    user_id: int | None = None,
    ip: str | None = None,
) -> Subscriber:
    """Save the profile and the custom attributes (key/value pairs; an empty key drops
    the pair). Audited, with the keys that changed."""
    if subscriber.status == SubscriberStatus.ERASED:
        raise ProfileError("profile.erased", "this subscriber was erased; there is nothing to edit")
    clean: dict[str, str] = {}
    for key, value in attributes:
        k = _one_line(key, ATTRIBUTE_KEY_MAX)
        if k:
            clean[k] = _one_line(value, ATTRIBUTE_VALUE_MAX)
    before = {
        "name": subscriber.name,
        "organisation": subscriber.organisation,
        "language": subscriber.language,
        "attributes": subscriber.attributes or {},
    }
    subscriber.name = _one_line(name, NAME_MAX)
    subscriber.organisation = _one_line(organisation, NAME_MAX)
    organisations.link(session, subscriber)
    subscriber.language = _one_line(language, 16) or "zh-CN"
    subscriber.attributes = clean
    after = {
        "name": subscriber.name,
        "organisation": subscriber.organisation,
        "language": subscriber.language,
        "attributes": clean,
    }
    changed = sorted(k for k in after if after[k] != before[k])
    audit(session, user_id, "subscriber.edit", "subscriber", subscriber.id, ip, changed=changed)
    session.flush()
    return subscriber


def memberships(session: Session, subscriber_id: int) -> list[tuple[Membership, MailingList]]:
    """The person's memberships with their lists."""
    return list(
        session.execute(
            select(Membership, MailingList)
            .join(MailingList, MailingList.id == Membership.list_id)
            .where(Membership.subscriber_id == subscriber_id)
            .order_by(MailingList.name)
        ).all()
    )


def consents(session: Session, subscriber_id: int, limit: int | None = HISTORY_ROWS) -> list[Any]:
    """Consent events, newest first."""
    query = (
        select(Consent, MailingList.name)
        .outerjoin(MailingList, MailingList.id == Consent.list_id)
        .where(Consent.subscriber_id == subscriber_id)
        .order_by(Consent.at.desc(), Consent.id.desc())
    )
    return list(session.execute(query.limit(limit) if limit else query).all())


def deliveries(session: Session, subscriber_id: int, limit: int | None = HISTORY_ROWS) -> list[Any]:
    """Deliveries to this person (filled by the sending engine), newest first."""
    query = (
        select(Delivery).where(Delivery.subscriber_id == subscriber_id).order_by(Delivery.id.desc())
    )
    return list(session.scalars(query.limit(limit) if limit else query))


def events(session: Session, subscriber_id: int, limit: int | None = HISTORY_ROWS) -> list[Any]:
    """Events (opens, clicks, bounces, ...) of this person, newest first."""
    query = select(Event).where(Event.subscriber_id == subscriber_id).order_by(Event.id.desc())
    return list(session.scalars(query.limit(limit) if limit else query))


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def personal_data(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    """Everything stored about the person, as one JSON-ready object (a data access
    request under GDPR Art. 15 / PIPL Art. 45)."""
    return {
        "profile": {
            "id": subscriber.id,
            "email": subscriber.email,
            "email_ascii": subscriber.email_ascii,
            "name": subscriber.name,
            "organisation": subscriber.organisation,
            "language": subscriber.language,
            "attributes": subscriber.attributes or {},
            "status": subscriber.status,
            "created_at": _iso(subscriber.created_at),
            "updated_at": _iso(subscriber.updated_at),
        },
        "memberships": [
            {
                "list": lst.slug,
                "list_name": lst.name,
                "status": m.status,
                "created_at": _iso(m.created_at),
                "confirmed_at": _iso(m.confirmed_at),
                "unsubscribed_at": _iso(m.unsubscribed_at),
            }
            for m, lst in memberships(session, subscriber.id)
        ],
        "consents": [
            {
                "at": _iso(c.at),
                "action": c.action,
                "source": c.source,
                "list": list_name,
                "ip": c.ip,
                "user_agent": c.user_agent,
                "consent_text_version": c.consent_text_version,
                "detail": c.detail or {},
            }
            for c, list_name in consents(session, subscriber.id, limit=None)
        ],
        "deliveries": [
            {
                "campaign_id": d.campaign_id,
                "email": d.email,
                "status": d.status,
                "sent_at": _iso(d.sent_at),
                "message_id": d.message_id,
            }
            for d in deliveries(session, subscriber.id, limit=None)
        ],
        "events": [
            {"type": e.type, "at": _iso(e.at), "campaign_id": e.campaign_id, "detail": e.detail}
            for e in events(session, subscriber.id, limit=None)
        ],
    }


def erase(
    session: Session, subscriber: Subscriber, user_id: int | None = None, ip: str | None = None
) -> Subscriber:
    """Erase the person: personal fields blanked, the address replaced by
    ``erased-<id>@invalid``, IP and user agent cleared from the consent log, link tokens
    deleted, and a hash-only suppression kept so the address is never re-imported.

    Consent rows stay (what was agreed and withdrawn, and when), without the person's
    network details; deliveries keep their status but lose the address.
    """
    if subscriber.status == SubscriberStatus.ERASED:
        return subscriber
    original = subscriber.email
    suppress(session, original, SuppressionReason.ERASED, source="erasure", keep_address=False)
    placeholder = f"erased-{subscriber.id}@{ERASED_DOMAIN}"
    now = utcnow()
    subscriber.email = placeholder
    subscriber.email_ascii = placeholder
    subscriber.name = ""
    subscriber.organisation = ""
    subscriber.organisation_id = None
    subscriber.attributes = {}
    subscriber.status = SubscriberStatus.ERASED
    session.execute(
        update(Membership)
        .where(
            Membership.subscriber_id == subscriber.id,
            Membership.status != MembershipStatus.UNSUBSCRIBED,
        )
        .values(status=MembershipStatus.UNSUBSCRIBED.value, unsubscribed_at=now)
    )
    for consent in session.scalars(select(Consent).where(Consent.subscriber_id == subscriber.id)):
        consent.ip = None
        consent.user_agent = None
        detail = consent.detail or {}
        if any(k in detail for k in PERSONAL_DETAIL_KEYS):
            consent.detail = {k: v for k, v in detail.items() if k not in PERSONAL_DETAIL_KEYS}
    session.execute(
        update(Delivery).where(Delivery.subscriber_id == subscriber.id).values(email=placeholder)
    )
    session.query(SubscriberToken).filter(SubscriberToken.subscriber_id == subscriber.id).delete()
    # The audit entry names the id only: writing the address here would undo the erasure.
    audit(session, user_id, "subscriber.erase", "subscriber", subscriber.id, ip)
    session.flush()
    return subscriber
