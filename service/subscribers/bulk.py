"""Bulk actions on a selection or a whole filter result, done in chunks and audited."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from service.accounts.audit import audit
from service.errors import DomainError
from service.mail.addresses import email_hash
from service.model import (
    Consent,
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from service.subscribers.consent import CONSENT_TEXT_VERSION
from service.subscribers.query import SubscriberFilter, iter_ids

CHUNK = 1000
# A selection made by ticking rows is at most a page or two; larger ones use the filter.
MAX_SELECTION = 1000


class BulkAction(enum.StrEnum):
    """What a bulk action does to each chosen subscriber."""

    ADD_TO_LIST = "add_to_list"
    REMOVE_FROM_LIST = "remove_from_list"
    UNSUBSCRIBE = "unsubscribe"
    DELETE = "delete"


NEEDS_LIST = {BulkAction.ADD_TO_LIST, BulkAction.REMOVE_FROM_LIST}


class BulkError(DomainError, ValueError):
    """A bulk action cannot run as asked."""


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def check(action: str, list_id: int | None) -> BulkAction:
    """The action, if it can run with these arguments; ``BulkError`` says why not."""
    try:
        kind = BulkAction(action)
    except ValueError as exc:
        raise BulkError("bulk.unknown_action", "unknown action %(action)r", action=action) from exc
    if kind in NEEDS_LIST and not list_id:
        raise BulkError("bulk.no_list", "choose a list for this action")
    return kind


def apply_bulk(
    session: Session,
    action: str,
    *,
    ids: Iterable[int] | None = None,
    flt: SubscriberFilter | None = None,
    list_id: int | None = None,
    user_id: int | None = None,
    ip: str | None = None,
    on_chunk: Callable[[], None] | None = None,
) -> int:
    """Apply ``action`` to the ``ids`` given or to everyone matching ``flt``; return how
    many subscribers it changed. One audit entry records the whole action."""
    kind = check(action, list_id)
    if ids is not None:
        chosen = sorted(set(ids))
        if len(chosen) > MAX_SELECTION:
            raise BulkError(
                "bulk.too_many",
                "select at most %(max)s rows, or act on the whole filter",
                max=MAX_SELECTION,
            )
        batches: Iterable[list[int]] = _chunks(chosen)
    elif flt is not None:
        # Deleting shifts nothing in an id-keyset walk, so the walk stays correct.
        batches = iter_ids(session, flt, CHUNK)
    else:
        raise BulkError("bulk.nothing_selected", "nothing selected")
    handler = HANDLERS[kind]
    changed = 0
    for batch in batches:
        changed += handler(session, batch, list_id)
        if on_chunk is not None:
            on_chunk()
    audit(
        session,
        user_id,
        f"subscribers.bulk.{kind.value}",
        "list" if list_id else "subscribers",
        list_id,
        ip,
        changed=changed,
        selection=len(chosen) if ids is not None else None,
        filter=flt.as_args() if flt is not None and ids is None else None,
    )
    return changed


def _add_to_list(session: Session, ids: list[int], list_id: int | None) -> int:
    # Staff may add people to a list, but never someone who unsubscribed, was erased or
    # is suppressed, and never back onto a list they left.
    rows = session.execute(
        select(Subscriber.id, Subscriber.email).where(
            Subscriber.id.in_(ids), Subscriber.status == SubscriberStatus.ENABLED
        )
    ).all()
    hashes = {email_hash(email): sid for sid, email in rows}
    blocked = set(
        session.scalars(select(Suppression.email_hash).where(Suppression.email_hash.in_(hashes)))
    )
    members = set(
        session.scalars(
            select(Membership.subscriber_id).where(
                Membership.list_id == list_id, Membership.subscriber_id.in_(ids)
            )
        )
    )
    joining = [sid for h, sid in hashes.items() if h not in blocked and sid not in members]
    if not joining:
        return 0
    now = utcnow()
    session.execute(
        insert(cast(Table, Membership.__table__)),
        [
            {
                "subscriber_id": sid,
                "list_id": list_id,
                "status": MembershipStatus.ACTIVE.value,
                "created_at": now,
                "confirmed_at": now,
            }
            for sid in joining
        ],
    )
    _consents(session, joining, list_id, "subscribe", now)
    return len(joining)


def _remove_from_list(session: Session, ids: list[int], list_id: int | None) -> int:
    result = session.execute(
        delete(Membership).where(Membership.list_id == list_id, Membership.subscriber_id.in_(ids))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _unsubscribe(session: Session, ids: list[int], _list_id: int | None) -> int:
    rows = session.execute(
        select(Subscriber.id, Subscriber.email).where(
            Subscriber.id.in_(ids), Subscriber.status == SubscriberStatus.ENABLED
        )
    ).all()
    if not rows:
        return 0
    now = utcnow()
    chosen = [sid for sid, _ in rows]
    session.execute(
        update(Subscriber)
        .where(Subscriber.id.in_(chosen))
        .values(status=SubscriberStatus.UNSUBSCRIBED.value, updated_at=now)
    )
    session.execute(
        update(Membership)
        .where(
            Membership.subscriber_id.in_(chosen),
            Membership.status != MembershipStatus.UNSUBSCRIBED,
        )
        .values(status=MembershipStatus.UNSUBSCRIBED.value, unsubscribed_at=now)
    )
    _suppress_many(session, [email for _, email in rows], now)
    _consents(session, chosen, None, "unsubscribe_all", now)
    return len(chosen)


def _suppress_many(session: Session, emails: list[str], now: Any) -> None:
    """The bulk form of ``suppression.suppress`` (reason unsubscribed, source admin)."""
    by_hash = {email_hash(e): e for e in emails}
    present = set(
        session.scalars(select(Suppression.email_hash).where(Suppression.email_hash.in_(by_hash)))
    )
    fresh = [
        {
            "email_hash": h,
            "email": e.strip().casefold(),
            "reason": SuppressionReason.UNSUBSCRIBED.value,
            "source": "admin",
            "note": "bulk unsubscribe",
            "created_at": now,
        }
        for h, e in by_hash.items()
        if h not in present
    ]
    if fresh:
        session.execute(insert(cast(Table, Suppression.__table__)), fresh)


def _delete(session: Session, ids: list[int], _list_id: int | None) -> int:
    # Memberships and tokens go with the row (ON DELETE CASCADE); consent rows and
    # deliveries stay, detached, as the evidence they are (deliveries by SET NULL; the
    # consent log has no foreign key, so it is detached here).
    session.execute(delete(Membership).where(Membership.subscriber_id.in_(ids)))
    session.execute(
        update(Consent).where(Consent.subscriber_id.in_(ids)).values(subscriber_id=None)
    )
    result = session.execute(delete(Subscriber).where(Subscriber.id.in_(ids)))
    return int(getattr(result, "rowcount", 0) or 0)


def _consents(session: Session, ids: list[int], list_id: int | None, action: str, now: Any) -> None:
    # The rows record_consent() appends, in one statement per chunk.
    session.execute(
        insert(cast(Table, Consent.__table__)),
        [
            {
                "subscriber_id": sid,
                "list_id": list_id,
                "action": action,
                "source": "admin",
                "at": now,
                "consent_text_version": CONSENT_TEXT_VERSION,
                "detail": {"bulk": True},
            }
            for sid in ids
        ],
    )


HANDLERS: dict[BulkAction, Callable[[Session, list[int], int | None], int]] = {
    BulkAction.ADD_TO_LIST: _add_to_list,
    BulkAction.REMOVE_FROM_LIST: _remove_from_list,
    BulkAction.UNSUBSCRIBE: _unsubscribe,
    BulkAction.DELETE: _delete,
}
