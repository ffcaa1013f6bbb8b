"""Segments: saved, named filters on the audience (issue 17), stored as JSON, never SQL.

A segment is a list of conditions that must all hold. Each is one of a closed set of
kinds (``KINDS``), checked by ``check_conditions`` and turned into a SQLAlchemy condition
on ``Subscriber`` by ``matches`` (portable SQL: SQLite and PostgreSQL alike). A campaign
with a segment reaches ``audience`` = its lists' mailable members who match; the ledger
judges that when it makes the delivery rows, so someone who changes between creation and
start is judged as they are at start.

Engagement looks at the last N campaign messages that reached the subscriber (rows
``sent`` or ``complained``: accepted by their mailbox, in the order they were sent) and
their human-likely opens and clicks (``Engagement`` rows with ``machine`` false). Someone
sent nothing yet has opened none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, false, func, select, true, update
from sqlalchemy.orm import Session

from service.accounts.audit import audit
from service.errors import DomainError
from service.model import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Engagement,
    MailingList,
    Organisation,
    Segment,
    Subscriber,
)
from service.subscribers.lists import mailable
from service.subscribers.organisation_names import name_key
from service.subscribers.organisations import LEVELS
from service.subscribers.query import json_text_is

NAME_MAX = 200
MAX_CONDITIONS = 20
TEXT_MAX = 200  # a name fragment, an attribute key or value
MAX_LAST = 50  # "the last N campaigns": N at most
NOT_IN_KEYS = ('"', "\\")
# Delivery states of a message its mailbox accepted (a bounce did not reach anyone).
REACHED = (DeliveryStatus.SENT, DeliveryStatus.COMPLAINED)
# A segment used by one of these campaigns still decides who gets mail: not deleted.
IN_USE = (
    CampaignStatus.DRAFT,
    CampaignStatus.SCHEDULED,
    CampaignStatus.RUNNING,
    CampaignStatus.PAUSED,
)


class SegmentError(DomainError, ValueError):
    """A segment or its conditions are not as they must be; the message says why."""


# ------------------------------------------------------------------ the kinds


def _org_level_in(c: Mapping[str, Any]) -> ColumnElement[bool]:
    return exists().where(
        Organisation.id == Subscriber.organisation_id, Organisation.level.in_(c["levels"])
    )


def _org_level_not_in(c: Mapping[str, Any]) -> ColumnElement[bool]:
    # Someone without an organisation has no level: "not 理事单位" holds for them.
    return ~_org_level_in(c)


def _org_name_contains(c: Mapping[str, Any]) -> ColumnElement[bool]:
    # Matched on the folded name: 「ＡＢＣ」 finds 「abc科技」 as the organisations do.
    return exists().where(
        Organisation.id == Subscriber.organisation_id,
        Organisation.name_key.contains(name_key(c["text"]), autoescape=True),
    )


def _attribute_equals(c: Mapping[str, Any]) -> ColumnElement[bool]:
    return json_text_is(Subscriber.attributes, c["key"], c["value"])


def _org_attribute_equals(c: Mapping[str, Any]) -> ColumnElement[bool]:
    return exists().where(
        Organisation.id == Subscriber.organisation_id,
        json_text_is(Organisation.attributes, c["key"], c["value"]),
    )


def _has_organisation(c: Mapping[str, Any]) -> ColumnElement[bool]:
    return Subscriber.organisation_id.is_not(None)


def _no_organisation(c: Mapping[str, Any]) -> ColumnElement[bool]:
    return Subscriber.organisation_id.is_(None)


def _engaged(kind: str, last: int) -> ColumnElement[bool]:
    """A human-likely ``kind`` (open or click) of one of the subscriber's last ``last``
    messages that reached them."""
    recent = (
        select(Delivery.id)
        .where(Delivery.subscriber_id == Subscriber.id, Delivery.status.in_(REACHED))
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
        .limit(last)
        .correlate(Subscriber)
    )
    return (
        exists()
        .where(
            Engagement.delivery_id.in_(recent),
            Engagement.type == kind,
            Engagement.machine == false(),
        )
        .correlate(Subscriber)
    )


def _opened_none(c: Mapping[str, Any]) -> ColumnElement[bool]:
    return ~_engaged("open", c["last"])


def _opened_any(c: Mapping[str, Any]) -> ColumnElement[bool]:
    return _engaged("open", c["last"])


def _clicked_none(c: Mapping[str, Any]) -> ColumnElement[bool]:
    return ~_engaged("click", c["last"])


@dataclass(frozen=True)
class Kind:
    """One kind of condition: the fields it takes and its SQL."""

    fields: tuple[str, ...]
    where: Callable[[Mapping[str, Any]], ColumnElement[bool]]


# The closed set; each field's meaning is its name: ``levels`` (membership levels),
# ``text`` (a fragment of a name), ``key``/``value`` (an attribute), ``last`` (N).
KINDS: dict[str, Kind] = {
    "org_level_in": Kind(("levels",), _org_level_in),
    "org_level_not_in": Kind(("levels",), _org_level_not_in),
    "org_name_contains": Kind(("text",), _org_name_contains),
    "attribute_equals": Kind(("key", "value"), _attribute_equals),
    "org_attribute_equals": Kind(("key", "value"), _org_attribute_equals),
    "has_organisation": Kind((), _has_organisation),
    "no_organisation": Kind((), _no_organisation),
    "opened_none": Kind(("last",), _opened_none),
    "opened_any": Kind(("last",), _opened_any),
    "clicked_none": Kind(("last",), _clicked_none),
}


# ------------------------------------------------------------------ checking


def check_conditions(raw: Any) -> list[dict[str, Any]]:
    """The conditions ``raw`` (parsed JSON) as stored: a list of objects, each with a
    known ``kind`` and exactly its fields, values cleaned. Raises ``SegmentError`` naming
    the condition (from 1) and what is wrong."""
    if not isinstance(raw, list):
        raise SegmentError("segment.not_a_list", "the conditions must be a JSON list")
    if len(raw) > MAX_CONDITIONS:
        raise SegmentError(
            "segment.too_many", "a segment has at most %(max)s conditions", max=MAX_CONDITIONS
        )
    return [_checked(n, item) for n, item in enumerate(raw, start=1)]


def _checked(n: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise SegmentError(
            "segment.not_an_object", "condition %(n)s must be a JSON object with a kind", n=n
        )
    kind = KINDS.get(str(item.get("kind", "")))
    if kind is None:
        raise SegmentError(
            "segment.unknown_kind",
            "condition %(n)s: unknown kind %(kind)r (one of %(kinds)s)",
            n=n,
            kind=str(item.get("kind", "")),
            kinds=", ".join(KINDS),
        )
    extra = sorted(set(item) - {"kind", *kind.fields})
    if extra:
        raise SegmentError(
            "segment.unknown_field",
            "condition %(n)s: unknown field %(field)s",
            n=n,
            field=", ".join(extra),
        )
    out: dict[str, Any] = {"kind": item["kind"]}
    for name in kind.fields:
        if item.get(name) in (None, "", []):
            raise SegmentError(
                "segment.missing_value", "condition %(n)s: %(field)s is missing", n=n, field=name
            )
        out[name] = CHECKS[name](n, item[name])
    return out


def _levels(n: int, value: Any) -> list[str]:
    levels = [value] if isinstance(value, str) else value
    if not isinstance(levels, list) or not all(isinstance(v, str) for v in levels):
        raise SegmentError(
            "segment.bad_levels", "condition %(n)s: levels must be a list of levels", n=n
        )
    cleaned = list(dict.fromkeys(v.strip() for v in levels if v.strip()))
    unknown = [v for v in cleaned if v not in LEVELS]
    if unknown or not cleaned:
        raise SegmentError(
            "segment.unknown_level",
            "condition %(n)s: the levels must be among %(levels)s",
            n=n,
            levels="、".join(LEVELS),
        )
    return cleaned


def _text(n: int, value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise SegmentError("segment.not_text", "condition %(n)s: give text, not a list", n=n)
    text = " ".join(str(value).split())
    if not text or len(text) > TEXT_MAX:
        raise SegmentError(
            "segment.bad_text",
            "condition %(n)s: give between 1 and %(max)s characters",
            n=n,
            max=TEXT_MAX,
        )
    return text


def _key(n: int, value: Any) -> str:
    key = _text(n, value)
    if any(c in key for c in NOT_IN_KEYS):
        # They would end the key inside the JSON path the database is asked.
        raise SegmentError(
            "segment.bad_key", 'condition %(n)s: an attribute key cannot contain " or \\', n=n
        )
    return key


def _last(n: int, value: Any) -> int:
    try:
        last = int(value)
    except (TypeError, ValueError):
        last = 0
    if isinstance(value, bool | float) or not 1 <= last <= MAX_LAST:
        raise SegmentError(
            "segment.bad_last",
            "condition %(n)s: the number of campaigns must be a whole number from 1 to %(max)s",
            n=n,
            max=MAX_LAST,
        )
    return last


CHECKS: dict[str, Callable[[int, Any], Any]] = {
    "levels": _levels,
    "text": _text,
    "key": _key,
    "value": _text,
    "last": _last,
}


# ------------------------------------------------------------------ applying


def matches(conditions: Sequence[Mapping[str, Any]]) -> ColumnElement[bool]:
    """The SQL condition on ``Subscriber`` that every one of (checked) ``conditions``
    holds; no conditions: everyone."""
    if not conditions:
        return true()
    return and_(*(KINDS[c["kind"]].where(c) for c in conditions))


def audience(list_ids: Any, conditions: Sequence[Mapping[str, Any]] = ()) -> ColumnElement[bool]:
    """Who a campaign on ``list_ids`` (ids or a select of them) with ``conditions``
    reaches, before suppression: the lists' mailable members who match."""
    return and_(mailable(list_ids), matches(conditions))


def conditions_of(session: Session, segment_id: int | None) -> list[dict[str, Any]]:
    """The stored conditions of segment ``segment_id`` (none for no segment)."""
    if segment_id is None:
        return []
    return list(get_segment(session, segment_id).conditions or [])


def count(session: Session, conditions: Sequence[Mapping[str, Any]], list_ids: Any = None) -> int:
    """How many enabled subscribers active on ``list_ids`` (default: any list that is
    not archived) match ``conditions``, before suppression."""
    if list_ids is None:
        list_ids = select(MailingList.id).where(MailingList.archived_at.is_(None))
    where = audience(list_ids, conditions)
    return int(session.scalar(select(func.count(Subscriber.id)).where(where)) or 0)


# ------------------------------------------------------------------ the saved segments


def get_segment(session: Session, segment_id: int) -> Segment:
    """The segment ``segment_id``; ``SegmentError`` when there is none."""
    row = session.get(Segment, segment_id)
    if row is None:
        raise SegmentError(
            "segment.missing", "there is no segment %(segment_id)s", segment_id=segment_id
        )
    return row


def all_segments(session: Session) -> list[Segment]:
    """Every segment, by name."""
    return list(session.scalars(select(Segment).order_by(Segment.name, Segment.id)))


def _check_name(session: Session, name: str, segment_id: int | None = None) -> str:
    text = " ".join((name or "").split())
    if not text:
        raise SegmentError("segment.no_name", "a segment needs a name")
    if len(text) > NAME_MAX:
        raise SegmentError(
            "segment.name_too_long", "the name is longer than %(max)s characters", max=NAME_MAX
        )
    taken = select(Segment.id).where(Segment.name == text)
    if segment_id is not None:
        taken = taken.where(Segment.id != segment_id)
    if session.scalar(taken) is not None:
        raise SegmentError(
            "segment.name_taken", "a segment named %(name)r already exists", name=text
        )
    return text


def create_segment(
    session: Session,
    name: str,
    conditions: Any,
    user_id: int | None = None,
    ip: str | None = None,
) -> Segment:
    """Save a new segment (``conditions``: parsed JSON, checked); audited."""
    row = Segment(name=_check_name(session, name), conditions=check_conditions(conditions))
    session.add(row)
    session.flush()
    audit(session, user_id, "segment.create", "segment", row.id, ip, name=row.name)
    return row


def update_segment(
    session: Session,
    segment_id: int,
    name: str,
    conditions: Any,
    user_id: int | None = None,
    ip: str | None = None,
) -> Segment:
    """Rename a segment or change its conditions; campaigns that use it and have not
    made their rows yet use the new ones. Audited."""
    row = get_segment(session, segment_id)
    row.name = _check_name(session, name, segment_id)
    row.conditions = check_conditions(conditions)
    session.flush()
    audit(session, user_id, "segment.update", "segment", row.id, ip, name=row.name)
    return row


def campaigns_using(session: Session, segment_id: int) -> list[Campaign]:
    """The campaigns not yet finished or cancelled that use the segment, by id."""
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.segment_id == segment_id, Campaign.status.in_(IN_USE))
            .order_by(Campaign.id)
        )
    )


def delete_segment(
    session: Session, segment_id: int, user_id: int | None = None, ip: str | None = None
) -> None:
    """Delete a segment no unfinished campaign uses (else ``SegmentError`` naming them);
    finished and cancelled campaigns that used it forget it (their rows say who got mail)."""
    row = get_segment(session, segment_id)
    using = campaigns_using(session, segment_id)
    if using:
        raise SegmentError(
            "segment.in_use",
            "the segment is used by campaigns that have not finished: %(campaigns)s",
            campaigns=", ".join(f"#{c.id}" for c in using),
        )
    session.execute(
        update(Campaign)
        .where(Campaign.segment_id == segment_id)
        .values(segment_id=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(Segment).where(Segment.id == segment_id))
    audit(session, user_id, "segment.delete", "segment", segment_id, ip, name=row.name)
    session.expire_all()
