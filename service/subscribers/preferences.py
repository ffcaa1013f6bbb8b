"""A reader's preferences page: the lists it shows, the ones they are on, and the update of
their profile and memberships (a list joined again only with evidence the address is theirs;
a suppressed address is not added back).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.mail.addresses import email_hash
from service.model import (
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from service.subscribers.subscriptions import Evidence, clean_language, clean_text
from service.subscribers.suppression import unsuppress
from service.subscribers.unsubscribing import unsubscribe


@dataclass(frozen=True)
class PreferencesResult:
    """What ``update_preferences`` changed."""

    added: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()
    refused: tuple[int, ...] = ()  # lists not added because the address is suppressed
    profile_changed: bool = False
    unsubscribed_all: bool = False
    changes: dict[str, object] = field(default_factory=dict)


def preference_lists(session: Session, subscriber_id: int) -> list[MailingList]:
    """The lists a reader's preferences page shows: the public ones (to join or leave)
    and the private ones they are on (to leave), none archived."""
    on = current_list_ids(session, subscriber_id)
    return list(
        session.scalars(
            select(MailingList)
            .where(
                MailingList.archived_at.is_(None),
                MailingList.public.is_(True) | MailingList.id.in_(on),
            )
            .order_by(MailingList.id)
        )
    )


def current_list_ids(session: Session, subscriber_id: int) -> set[int]:
    """Lists the subscriber is on (active or waiting for confirmation)."""
    return set(
        session.scalars(
            select(Membership.list_id).where(
                Membership.subscriber_id == subscriber_id,
                Membership.status != MembershipStatus.UNSUBSCRIBED,
            )
        )
    )


def address_confirmed(session: Session, subscriber_id: int) -> bool:
    """Whether the address has shown it wants our mail: a membership that is active or
    was confirmed once (the confirm button, an import, staff). Until then, nothing typed
    into a public form (the name, the organisation) may reach that address's mail."""
    return (
        session.scalar(
            select(Membership.list_id)
            .where(
                Membership.subscriber_id == subscriber_id,
                (Membership.status == MembershipStatus.ACTIVE)
                | Membership.confirmed_at.is_not(None),
            )
            .limit(1)
        )
        is not None
    )


def update_preferences(
    session: Session,
    subscriber_id: int,
    list_ids: Iterable[int],
    name: str | None,
    language: str | None,
    ip: str | None = None,
    user_agent: str | None = None,
    source: str = "preferences",
    unsubscribe_all: bool = False,
) -> PreferencesResult:
    """Apply the preferences page: the lists to be on, name and language.

    Lists are joined directly as active: the preferences link reached the reader's own
    mailbox, which is what double opt-in proves. Public lists can be joined or left; a
    private list can only be left (it is shown only while the reader is on it).
    An address suppressed because its owner unsubscribed from everything is released
    when the owner picks lists again here (their own re-consent); any other suppression
    (bounce, complaint, manual, erasure) refuses new lists. Raises
    ``SubscriptionInputError`` for a bad name, ``LookupError`` for an unknown subscriber.
    """
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.status == SubscriberStatus.ERASED:
        raise LookupError(subscriber_id)
    clean_name = clean_text(name, "name")
    lang = clean_language(language)
    evidence = Evidence(ip, user_agent, source)
    if unsubscribe_all:
        unsubscribe(session, subscriber_id, None, source, ip, user_agent, everything=True)
        return PreferencesResult(unsubscribed_all=True)

    profile_changed = (subscriber.name, subscriber.language) != (clean_name, lang)
    subscriber.name, subscriber.language = clean_name, lang
    shown = {m.id for m in preference_lists(session, subscriber_id)}
    wanted = set(list_ids) & shown
    current = current_list_ids(session, subscriber_id) & shown
    # Only public lists can be joined here; a private one shown is one the reader is on.
    to_add, to_remove = wanted - current, current - wanted
    refused: set[int] = set()
    if to_add and not _may_rejoin(session, subscriber, evidence):
        refused, to_add = to_add, set()
    _set_memberships(session, subscriber, to_add, to_remove)
    changes: dict[str, object] = {
        "added": sorted(to_add),
        "removed": sorted(to_remove),
        "refused": sorted(refused),
        "language": lang,
        "profile_changed": profile_changed,
    }
    evidence.record(session, subscriber_id, None, "preferences", changes)
    return PreferencesResult(
        added=tuple(sorted(to_add)),
        removed=tuple(sorted(to_remove)),
        refused=tuple(sorted(refused)),
        profile_changed=profile_changed,
        changes=changes,
    )


def _set_memberships(
    session: Session, subscriber: Subscriber, to_add: set[int], to_remove: set[int]
) -> None:
    """Join ``to_add`` as active (the reader chose them) and leave ``to_remove``."""
    now = utcnow()
    for list_id in sorted(to_add):
        joined = session.get(Membership, (subscriber.id, list_id))
        if joined is None:
            joined = Membership(subscriber_id=subscriber.id, list_id=list_id)
            session.add(joined)
        joined.status = MembershipStatus.ACTIVE
        joined.confirmed_at = now
        joined.unsubscribed_at = None
    for list_id in sorted(to_remove):
        left = session.get(Membership, (subscriber.id, list_id))
        if left is not None:
            left.status = MembershipStatus.UNSUBSCRIBED
            left.unsubscribed_at = now
    if to_add:
        subscriber.status = SubscriberStatus.ENABLED
    session.flush()


def _may_rejoin(session: Session, subscriber: Subscriber, evidence: Evidence) -> bool:
    """Whether the subscriber may be put on lists again; lifts a self-made suppression."""
    row = session.scalar(
        select(Suppression).where(Suppression.email_hash == email_hash(subscriber.email))
    )
    if row is None:
        return True
    if row.reason != SuppressionReason.UNSUBSCRIBED:
        return False
    unsuppress(session, subscriber.email)
    evidence.record(
        session, subscriber.id, None, "resubscribe", {"lifted_suppression": str(row.reason)}
    )
    return True
