"""Finding subscribers: search, filters, sorting and keyset pagination that stay fast at
hundreds of thousands of rows (never OFFSET, never a full-table load, capped counts)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, text, tuple_
from sqlalchemy.orm import Session

from service.db import is_postgresql
from service.model import Membership, Subscriber

PAGE_SIZE = 50
# Counting a filter result stops here: "10,000+" is as useful as an exact figure and
# costs a bounded scan instead of a full one.
COUNT_CAP = 10_000
ID_CHUNK = 1000
# Appended to a search text to bound its prefix range (the highest code point).
PREFIX_END = "\U0010ffff"
# Columns a staff member may sort by; each has an index (with id as the tie-breaker).
SORTS = {
    "id": Subscriber.id,
    "email": Subscriber.email,
    "name": Subscriber.name,
    "organisation": Subscriber.organisation,
}


@dataclass(frozen=True)
class SubscriberFilter:
    """What the subscribers table shows. Empty fields filter nothing.

    ``member_status`` applies with ``list_id`` (the status on that list); ``status`` is
    the person's overall status (enabled, unsubscribed, erased).
    """

    q: str = ""
    list_id: int | None = None
    member_status: str = ""
    status: str = ""
    attr_key: str = ""
    attr_value: str = ""
    sort: str = "id"
    desc: bool = True
    anywhere: bool = False  # search inside the text (a scan) instead of at its start

    @classmethod
    def from_args(cls, args: Any) -> SubscriberFilter:
        """Build a filter from request arguments (anything unknown is ignored)."""
        list_id = args.get("list_id", "")
        sort = args.get("sort", "id")
        return cls(
            q=args.get("q", "").strip()[:200],
            list_id=int(list_id) if str(list_id).isdigit() else None,
            member_status=args.get("member_status", "").strip(),
            status=args.get("status", "").strip(),
            attr_key=args.get("attr_key", "").strip()[:100],
            attr_value=args.get("attr_value", "").strip()[:200],
            sort=sort if sort in SORTS else "id",
            desc=args.get("dir", "desc" if sort == "id" else "asc") == "desc",
            anywhere=str(args.get("anywhere", "")) in ("1", "True", "true", "on"),
        )

    def as_args(self) -> dict[str, Any]:
        """The filter as URL arguments (for links that keep it), empty ones left out."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "desc":
                out["dir"] = "desc" if value else "asc"
            elif f.name == "anywhere":
                if value:
                    out["anywhere"] = 1
            elif value not in ("", None):
                out[f.name] = value
        return out

    @property
    def is_empty(self) -> bool:
        """True when nothing narrows the result (the whole table)."""
        return not (self.q or self.list_id or self.status or self.member_status or self.attr_key)


def json_text_is(column: Any, key: str, value: str | None = None) -> ColumnElement[bool]:
    """The JSON object ``column`` holds the text ``value`` under ``key`` (any text when
    ``value`` is None).

    SQLite (3.40) finds a key in a JSON path only as it is spelt in the stored text, and
    the JSON type stores a non-ASCII key escaped (城市 as \\u57ce\\u5e02): both spellings
    are asked. PostgreSQL reads keys decoded; the escaped spelling is a key nobody has.
    """
    spellings = dict.fromkeys([key, json.dumps(key)[1:-1]])
    texts = [column[k].as_string() for k in spellings]
    return or_(*(t.is_not(None) if value is None else t == value for t in texts))


def _starts_with(column: Any, text: str) -> Any:
    # A range, not LIKE: it uses the column's btree index on SQLite and on PostgreSQL
    # whatever the collation, so a search stays an index range scan at any table size.
    return and_(column >= text, column < text + PREFIX_END)


def _search(flt: SubscriberFilter) -> Any:
    if flt.anywhere:
        return or_(
            Subscriber.email.icontains(flt.q, autoescape=True),
            Subscriber.name.icontains(flt.q, autoescape=True),
            Subscriber.organisation.icontains(flt.q, autoescape=True),
        )
    return or_(
        _starts_with(Subscriber.email, flt.q.casefold()),
        _starts_with(Subscriber.name, flt.q),
        _starts_with(Subscriber.organisation, flt.q),
    )


def _conditions(flt: SubscriberFilter) -> list[Any]:
    conds: list[Any] = []
    if flt.q:
        conds.append(_search(flt))
    if flt.status:
        conds.append(Subscriber.status == flt.status)
    if flt.list_id:
        member = [Membership.subscriber_id == Subscriber.id, Membership.list_id == flt.list_id]
        if flt.member_status:
            member.append(Membership.status == flt.member_status)
        conds.append(exists().where(*member))
    if flt.attr_key:
        conds.append(json_text_is(Subscriber.attributes, flt.attr_key, flt.attr_value or None))
    return conds


def filtered(flt: SubscriberFilter, *columns: Any) -> Select[Any]:
    """``SELECT columns FROM subscribers WHERE <filter>`` (no order, no limit)."""
    return select(*(columns or (Subscriber,))).where(*_conditions(flt))


def encode_cursor(value: Any, row_id: int) -> str:
    """An opaque, URL-safe cursor for the row (sort value, id)."""
    raw = json.dumps([value, row_id], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[Any, int] | None:
    """The (value, id) of a cursor, or None for a mangled one (treated as the first page)."""
    try:
        value, row_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return value, int(row_id)
    except (ValueError, TypeError):
        return None


@dataclass
class Page:
    """One page of subscribers plus the cursors to its neighbours."""

    rows: list[Subscriber]
    next_cursor: str | None
    prev_cursor: str | None


def page(
    session: Session,
    flt: SubscriberFilter,
    after: str | None = None,
    before: str | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """The page after (or before) a cursor, sorted by ``flt.sort`` then id (keyset)."""
    column = SORTS.get(flt.sort, Subscriber.id)
    key = tuple_(column, Subscriber.id) if column is not Subscriber.id else Subscriber.id
    backwards = before is not None and decode_cursor(before) is not None
    token = (before if backwards else after) or ""
    cursor = decode_cursor(token) if token else None
    query = filtered(flt)
    if cursor is not None:
        bound = tuple_(cursor[0], cursor[1]) if column is not Subscriber.id else cursor[1]
        forward_desc = flt.desc != backwards  # walking backwards flips the direction
        query = query.where(key < bound if forward_desc else key > bound)
    ascending = flt.desc == backwards
    keys: list[Any] = [column, Subscriber.id] if column is not Subscriber.id else [column]
    order = [k.asc() if ascending else k.desc() for k in keys]
    rows = list(session.scalars(query.order_by(*order).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    value = (lambda r: getattr(r, column.key)) if column is not Subscriber.id else (lambda r: None)
    first_page = cursor is None or (backwards and not more)
    next_cursor = (
        encode_cursor(value(rows[-1]), rows[-1].id) if rows and (more or backwards) else None
    )
    prev_cursor = None if first_page or not rows else encode_cursor(value(rows[0]), rows[0].id)
    return Page(rows, next_cursor, prev_cursor)


@dataclass(frozen=True)
class Count:
    """A result size for people: exact, "at least" (capped), "about" (the planner's
    estimate of the whole table) or not counted (a filter no index serves)."""

    n: int
    capped: bool = False
    approximate: bool = False
    counted: bool = True


def _capped_count(session: Session, flt: SubscriberFilter, cap: int) -> Count:
    inner = filtered(flt, Subscriber.id).limit(cap + 1).subquery()
    n = int(session.scalar(select(func.count()).select_from(inner)) or 0)
    return Count(min(n, cap), capped=n > cap)


def _table_estimate(session: Session) -> int | None:
    # PostgreSQL's own row estimate (kept by autovacuum/ANALYZE): an exact count(*) of a
    # large table is a full scan, and its cost grows with every subscriber.
    if not is_postgresql(session):
        return None
    estimate = session.scalar(
        text("SELECT reltuples FROM pg_class WHERE oid = CAST('subscribers' AS regclass)")
    )
    return int(estimate) if estimate and estimate > 0 else None


def count(session: Session, flt: SubscriberFilter, cap: int = COUNT_CAP) -> Count:
    """How many subscribers match, cheaply.

    A filter result is counted up to ``cap`` ("10,000+"). A filter that no index serves
    (an attribute, a search anywhere in the text) is not counted: counting it would scan
    the table, while its page stops after 50 matches. The whole table is counted
    exactly on SQLite (a b-tree count) and below ``cap`` rows; above it PostgreSQL's
    estimate is shown as "about".
    """
    if flt.anywhere or flt.attr_key:
        return Count(0, counted=False)
    first = _capped_count(session, flt, cap)
    if not first.capped or not flt.is_empty:
        return first
    estimate = _table_estimate(session)
    if estimate is not None:
        return Count(estimate, approximate=True)
    return Count(int(session.scalar(select(func.count(Subscriber.id))) or 0))


def iter_ids(session: Session, flt: SubscriberFilter, chunk: int = ID_CHUNK) -> Iterator[list[int]]:
    """Every matching id, ``chunk`` at a time in id order (keyset): for bulk actions and
    exports over a whole filter result."""
    last = 0
    while True:
        ids = list(
            session.scalars(
                filtered(flt, Subscriber.id)
                .where(Subscriber.id > last)
                .order_by(Subscriber.id)
                .limit(chunk)
            )
        )
        if not ids:
            return
        yield ids
        last = ids[-1]
