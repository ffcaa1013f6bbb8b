"""Who a campaign is sent to, as delivery rows (DESIGN §5): the audience the ledger works
from.

* ``materialize`` snapshots the audience: one ``deliveries`` row per recipient, inserted in
  keyset chunks (never the whole audience in memory), idempotent through
  UNIQUE(campaign, subscriber).
* ``reserve`` makes one subscriber's row before that, for ``campaign render``;
  ``audience_count`` and ``audience_summary`` count the audience without writing rows.

Every status a row takes is a named move of ``service.model.delivery_states`` (one guarded
UPDATE each); nothing here writes ``Delivery.status`` by hand.

Functions here that say "commits" end their own transactions; give them a plain session,
not one inside ``session.begin()``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, func, select, text, update
from sqlalchemy.orm import Session

from service.campaigns.campaign_states import LIVE
from service.campaigns.drafts import campaign_conditions, campaign_list_ids
from service.db import insert_ignoring_duplicates, is_postgresql, refresh_statistics
from service.model import Campaign, Delivery, DeliveryStatus, Subscriber, utcnow
from service.model.delivery_states import (
    CONFIRM_RESERVED,
    DROP_RESERVED,
    MATERIALIZE,
    RESERVE,
    moved,
    removed,
)
from service.subscribers.segments import audience
from service.subscribers.suppression import suppressed_reasons

# Subscribers read and rows inserted per materialize step (memory stays flat).
MATERIALIZE_CHUNK = 5000
# ``materialize``'s insert on PostgreSQL: a chunk's rows as two parallel arrays.
PG_MATERIALIZE = text(
    """
    INSERT INTO deliveries (campaign_id, subscriber_id, email, status, attempts)
    SELECT :campaign_id, v.subscriber_id, v.email, :status, 0
    FROM unnest(CAST(:subscriber_ids AS INTEGER[]), CAST(:emails AS VARCHAR[]))
        AS v(subscriber_id, email)
    ON CONFLICT (campaign_id, subscriber_id) DO NOTHING
    """
)
# The first step is smaller and is dispatched at once (``materialize``'s ``started``):
# the first batches go out while the rest of the audience is still being made, instead
# of after it (at 10,000 members that wait was a tenth of the campaign; at a million,
# minutes). Enough for the batches a campaign keeps in flight by default.
FIRST_CHUNK = 1000
# Rows listed per dispatch query; batches are cut from these.


Conditions = Sequence[Mapping[str, Any]]


def _audience(list_ids: Sequence[int], conditions: Conditions = ()) -> Select[int, str]:
    """Enabled subscribers with an active membership in any of the lists who match the
    segment's ``conditions`` (before suppression), as ``(id, email)``."""
    return select(Subscriber.id, Subscriber.email).where(audience(list_ids, conditions))


def _audience_chunk(
    session: Session, list_ids: Sequence[int], conditions: Conditions, after: int, limit: int
) -> list[tuple[int, str]]:
    rows = session.execute(
        _audience(list_ids, conditions)
        .where(Subscriber.id > after)
        .order_by(Subscriber.id)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows]


class NotARecipient(LookupError):
    """The subscriber is not (or no longer) in the campaign's audience: it would be sent
    nothing, so there is nothing to render."""


def reserve(session: Session, campaign_id: int, subscriber_id: int) -> int:
    """The id of the subscriber's delivery row: the existing one, or one made now as
    ``reserved`` (for a campaign not yet materialized) when the subscriber is in its
    audience. Its message's Message-ID and tokens derive from this id, so what
    ``campaign render`` writes is what is later sent. Raises ``NotARecipient``."""
    existing = session.scalar(
        select(Delivery.id).where(
            Delivery.campaign_id == campaign_id, Delivery.subscriber_id == subscriber_id
        )
    )
    if existing is not None:
        return int(existing)
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.materialized_at is not None:
        raise NotARecipient(f"subscriber {subscriber_id} is not a recipient of this campaign")
    row = session.execute(
        _audience(
            campaign_list_ids(session, campaign_id), campaign_conditions(session, campaign_id)
        ).where(Subscriber.id == subscriber_id)
    ).first()
    if row is None or suppressed_among(session, [row[1]]):
        raise NotARecipient(
            f"subscriber {subscriber_id} is not in the audience of campaign {campaign_id} "
            "(no active membership of its lists, outside its segment, disabled, or suppressed)"
        )
    delivery = Delivery(
        campaign_id=campaign_id,
        subscriber_id=subscriber_id,
        email=row[1],
        status=RESERVE.target,
        attempts=0,
    )
    session.add(delivery)
    session.flush()
    return delivery.id


def suppressed_among(session: Session, emails: Sequence[str]) -> set[str]:
    """Which of ``emails`` are on the suppression list (one query per chunk)."""
    return set(suppressed_reasons(session, emails))


def materialize(
    session: Session,
    campaign_id: int,
    chunk: int = MATERIALIZE_CHUNK,
    started: Callable[[], object] | None = None,
) -> int:
    """Insert one ``pending`` row per recipient; commits after every chunk.

    ``started()`` is called once, after the first (smaller) chunk is committed, so the
    caller can dispatch those rows while the rest are made; finishing still waits for the
    whole audience (``finalize`` needs ``materialized_at``).

    Recipients: enabled subscribers with an active membership in any of the campaign's
    lists who match its segment (judged now, chunk by chunk), minus suppressed addresses.
    Safe to run again (or concurrently): existing rows
    are left alone. Sets ``materialized_at`` and ``recipients_total`` at the end and
    returns the total. Each chunk re-checks the campaign: once it is no longer running or
    paused (cancelled meanwhile), the chunk is dropped and 0 is returned.
    """
    list_ids = campaign_list_ids(session, campaign_id)
    conditions = campaign_conditions(session, campaign_id)
    reserved = _has_reserved(session, campaign_id)
    # Right after an import the statistics still say "empty table"; the planner then
    # joins members by a nested loop without the index (measured: 2.2 s per 5,000-row
    # chunk at 10,000 members, quadratic beyond).
    refresh_statistics(session, ["subscribers", "memberships"])
    after = 0
    step = min(chunk, FIRST_CHUNK) if started is not None else chunk
    while True:
        people = _audience_chunk(session, list_ids, conditions, after, step)
        if not people:
            break
        after = people[-1][0]
        blocked = suppressed_among(session, [email for _, email in people])
        rows = [
            {
                "campaign_id": campaign_id,
                "subscriber_id": sid,
                "email": email,
                "status": MATERIALIZE.target,
                "attempts": 0,
            }
            for sid, email in people
            if email not in blocked
        ]
        if rows:
            if is_postgresql(session):
                # One statement per chunk, from two arrays: a list of rows is sent as one
                # INSERT per row, which took 2 of the 5.3 s that 100,000 rows cost (and a
                # multi-row VALUES takes SQLAlchemy longer to compile than that).
                session.execute(
                    PG_MATERIALIZE,
                    {
                        "campaign_id": campaign_id,
                        "status": str(MATERIALIZE.target),
                        "subscriber_ids": [r["subscriber_id"] for r in rows],
                        "emails": [r["email"] for r in rows],
                    },
                )
            else:
                stmt = insert_ignoring_duplicates(
                    session, Delivery, ["campaign_id", "subscriber_id"]
                )
                session.execute(stmt, rows)  # in-process: executemany costs nothing here
            if reserved:
                _confirm_reserved(
                    session, campaign_id, [sid for sid, email in people if email not in blocked]
                )
        if not _still_sendable(session, campaign_id):
            # Cancelled (or gone) meanwhile: cancel skipped the rows it could see; rows of
            # this chunk would stay `pending` forever, so they are not kept, and we stop.
            session.rollback()
            return 0
        session.commit()
        if started is not None:
            started()  # once: the first rows go out while the rest are made
            started, step = None, chunk
    if reserved:
        # Rendered for someone who has left the audience since: they get nothing.
        session.execute(removed(DROP_RESERVED, Delivery.campaign_id == campaign_id))
    total = session.scalar(
        select(func.count(Delivery.id)).where(Delivery.campaign_id == campaign_id)
    )
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(materialized_at=utcnow(), recipients_total=total or 0)
    )
    session.commit()
    # Without fresh statistics the planner picks sequential scans for every claim and
    # dispatch of this campaign.
    refresh_statistics(session, ["deliveries"])
    return int(total or 0)


def _has_reserved(session: Session, campaign_id: int) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    Delivery.campaign_id == campaign_id,
                    Delivery.status == DeliveryStatus.RESERVED,
                )
            )
        )
    )


def _confirm_reserved(session: Session, campaign_id: int, subscriber_ids: list[int]) -> None:
    """Rows reserved by ``campaign render`` for subscribers still in the audience become
    ``pending`` (the insert above left them alone: they existed)."""
    session.execute(
        moved(
            CONFIRM_RESERVED,
            Delivery.campaign_id == campaign_id,
            Delivery.subscriber_id.in_(subscriber_ids),
        )
    )


def _still_sendable(session: Session, campaign_id: int) -> bool:
    """Whether the campaign is still running or paused, read AFTER this chunk's insert.

    ``FOR UPDATE`` (PostgreSQL) holds the campaign row until our commit, so a cancel
    either came first (we see it and roll back) or waits and then skips our rows too.
    SQLite has one writer at a time: our insert already excludes a concurrent cancel.
    """
    status = session.scalar(
        select(Campaign.status).where(Campaign.id == campaign_id).with_for_update()
    )
    return status in LIVE


def audience_count(session: Session, list_ids: Sequence[int], conditions: Conditions = ()) -> int:
    """How many distinct enabled, active subscribers the lists reach who match the
    segment's ``conditions`` (before suppression)."""
    if not list_ids:
        return 0
    where = audience(list_ids, conditions)
    return int(session.scalar(select(func.count(Subscriber.id)).where(where)) or 0)


@dataclass(frozen=True)
class AudienceSummary:
    """Who a campaign's lists reach: recipients (suppressed addresses left out), the
    suppressed addresses left out, and the first recipient's address (None: nobody)."""

    recipients: int
    suppressed: int
    first: str | None


def audience_summary(
    session: Session,
    list_ids: Sequence[int],
    conditions: Conditions = (),
    chunk: int = MATERIALIZE_CHUNK,
) -> AudienceSummary:
    """What ``materialize`` would make of the lists (and segment ``conditions``) now,
    counted without writing rows."""
    recipients = suppressed = after = 0
    first: str | None = None
    while list_ids and (people := _audience_chunk(session, list_ids, conditions, after, chunk)):
        after = people[-1][0]
        blocked = suppressed_among(session, [email for _, email in people])
        suppressed += len(blocked)
        recipients += len(people) - len(blocked)
        if first is None:
            first = next((email for _, email in people if email not in blocked), None)
    return AudienceSummary(recipients, suppressed, first)
